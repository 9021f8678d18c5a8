"""Build one dataset version from a list of curated records and the policy. Pure: every file goes
through the `write(name, data)` callback the caller passes (the artifact store in the shell, a dict
in tests), and the same records + policy + version name give byte-identical files.

Order of decisions: usable records -> one per dedup cluster -> synthetic cap on the pool ->
category mix -> leakage-free stratified splits -> synthetic cap per split -> audit -> files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crucible.dataset.audit import bias_audit
from crucible.dataset.formats import render_jsonl, to_example
from crucible.dataset.intake import has_reply
from crucible.dataset.policy import SPLITS, DatasetPolicy
from crucible.dataset.report import render_report
from crucible.dataset.selection import (
    Candidate,
    apply_category_mix,
    candidates,
    cap_synthetic,
    max_synthetic,
    resolve_clusters,
    seeded_hash,
)
from crucible.dataset.splitting import assign_splits
from crucible.v1 import records_pb2

Writer = Callable[[str, bytes], None]
MANIFEST = "manifest.json"
REPORT = "report.md"


class DatasetBuildError(RuntimeError):
    """A version cannot be built (e.g. too few eligible records)."""


@dataclass(frozen=True)
class Member:
    record_id: str
    subject_token: str
    split: str


@dataclass(frozen=True)
class BuiltVersion:
    version: str
    manifest: dict[str, Any]
    manifest_sha256: str
    members: list[Member]

    @property
    def split_counts(self) -> dict[str, int]:
        return {s: row["total"] for s, row in self.manifest["counts"]["splits"].items()}

    @property
    def fairness_score(self) -> float:
        return float(self.manifest["audit"]["fairness_score"])

    @property
    def below_fairness_target(self) -> bool:
        return bool(self.manifest["audit"]["below_target"])


def version_name(seq: int, day: dt.date) -> str:
    return f"v{seq}_{day:%Y%m%d}"


def file_name(split: str, fmt: str) -> str:
    return f"{split}.{fmt}.jsonl"


def build_version(
    records: Sequence[records_pb2.Record],
    policy: DatasetPolicy,
    *,
    version: str,
    created: dt.date,
    write: Writer,
) -> BuiltVersion:
    usable = [r for r in records if r.category and has_reply(r)]
    if len(usable) < policy.min_records:
        raise DatasetBuildError(
            f"only {len(usable)} eligible curated records (of {len(records)} in the store), dataset.min_records is "
            f"{policy.min_records}: have records reached crucible.records.curated?"
        )
    pool = candidates(usable, policy.seed)
    winners, duplicates_dropped = resolve_clusters(pool)
    capped, synthetic_dropped = cap_synthetic(winners, policy.synthetic_cap)
    mixed, mix_report = apply_category_mix(capped, policy.category_mix)
    split_shares = policy.splits.as_dict()
    splits = assign_splits(mixed, split_shares, policy.seed)
    split_synthetic_dropped = 0
    for name in SPLITS:
        splits[name], dropped = cap_synthetic(splits[name], policy.synthetic_cap)
        split_synthetic_dropped += len(dropped)
    # Files list records in a seeded shuffled order (training reads them in order).
    ordered = {
        name: sorted(splits[name], key=lambda c: (seeded_hash(policy.seed, "order\x00" + c.record_id), c.record_id))
        for name in SPLITS
    }
    chosen = [usable[c.index] for name in SPLITS for c in ordered[name]]
    real = sum(1 for name in SPLITS for c in ordered[name] if not c.synthetic)
    synthetic = sum(1 for name in SPLITS for c in ordered[name] if c.synthetic)
    audit = bias_audit(
        chosen,
        policy.audit,
        policy.fairness_target,
        category_report=mix_report,
        synthetic_room=max(max_synthetic(real, policy.synthetic_cap) - synthetic, 0),
    )
    # Shares in the mix report describe the version as finally written (after the per-split cap).
    final_categories = Counter(c.category for name in SPLITS for c in ordered[name])
    total = sum(final_categories.values())
    for category, row in mix_report.items():
        row["selected"] = final_categories.get(category, 0)
        row["share"] = round(row["selected"] / total, 6) if total else 0.0

    files: dict[str, dict[str, Any]] = {}
    for name in SPLITS:
        examples = [to_example(usable[c.index]) for c in ordered[name]]
        for fmt in policy.formats:
            data = render_jsonl(examples, fmt, policy.system_prompt)
            fname = file_name(name, fmt)
            write(fname, data)
            files[fname] = {
                "split": name,
                "format": fmt,
                "records": len(examples),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }

    manifest: dict[str, Any] = {
        "version": version,
        "created": created.isoformat(),
        "policy": policy.model_dump(mode="json"),
        "counts": _counts(ordered),
        "selection": {
            "records_in_store": len(records),
            "unusable": len(records) - len(usable),
            "eligible_records": len(usable),
            "duplicates_dropped": duplicates_dropped,
            "synthetic_dropped": len(synthetic_dropped) + split_synthetic_dropped,
            "category_mix": mix_report,
            "deficits": {k: v["deficit"] for k, v in mix_report.items() if v["deficit"]},
        },
        "audit": audit,
        "files": files,
        "record_ids": {name: [c.record_id for c in ordered[name]] for name in SPLITS},
    }
    report = render_report(manifest).encode("utf-8")
    write(REPORT, report)
    files[REPORT] = {"bytes": len(report), "sha256": hashlib.sha256(report).hexdigest()}
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    write(MANIFEST, manifest_bytes)
    members = [
        Member(record_id=c.record_id, subject_token=c.subject, split=name) for name in SPLITS for c in ordered[name]
    ]
    return BuiltVersion(
        version=version,
        manifest=manifest,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        members=members,
    )


def _counts(ordered: dict[str, list[Candidate]]) -> dict[str, Any]:
    splits = {}
    for name, cands in ordered.items():
        n = len(cands)
        syn = sum(1 for c in cands if c.synthetic)
        splits[name] = {
            "total": n,
            "synthetic": syn,
            "synthetic_share": round(syn / n, 6) if n else 0.0,
            "by_category": dict(sorted(Counter(c.category for c in cands).items())),
            "synthetic_by_category": dict(sorted(Counter(c.category for c in cands if c.synthetic).items())),
        }
    all_cands = [c for cands in ordered.values() for c in cands]
    return {
        "total": len(all_cands),
        "splits": splits,
        "by_category": dict(sorted(Counter(c.category for c in all_cands).items())),
    }
