"""Build one preference dataset version from pairs. Pure, like `builder.build_version`: files go
through `write(name, data)`, and the same pairs + settings + name give byte-identical files.

Splits are leakage-free the same way as the SFT versions': pairs that share a subject (either
side's), a dedup cluster or a prompt group are one group, and a group goes to one split
(`splitting.assign_splits`, stratified by source). Pairs pinned to `test` (derived from held-out
test prompts) take their whole group there.

The manifest names `{split}.pairs.jsonl` (format `preference`: TRL's conversational
prompt/chosen/rejected, plus provenance) and, when given, the evaluation set `test.chat.jsonl`
(format `chat`): the held-out test split of the SFT version the pairs' models were evaluated on,
so a model trained on these pairs is rated on the same prompts as the one it starts from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crucible.dataset.policy import SPLITS
from crucible.dataset.preferences import PreferencePair
from crucible.dataset.selection import Candidate, seeded_hash
from crucible.dataset.splitting import UnionFind, assign_splits

Writer = Callable[[str, bytes], None]
MANIFEST = "manifest.json"
FORMAT = "preference"


@dataclass(frozen=True)
class PreferenceMember:
    record_id: str
    subject_token: str
    split: str


@dataclass(frozen=True)
class BuiltPreferences:
    version: str
    manifest: dict[str, Any]
    manifest_sha256: str
    members: list[PreferenceMember]

    @property
    def split_counts(self) -> dict[str, int]:
        return {s: row["total"] for s, row in self.manifest["counts"]["splits"].items()}


def preference_version_name(seq: int, day: dt.date) -> str:
    return f"v{seq}_{day:%Y%m%d}_pref"


def leakage_roots(pairs: Sequence[PreferencePair]) -> list[str]:
    """A group key per pair: pairs sharing any subject or cluster (prompt group, dedup cluster,
    test example) get the same key."""
    uf = UnionFind()
    for p in pairs:
        keys = ["p:" + p.pair_id, *("s:" + s for s in p.subjects), *("c:" + c for c in p.clusters)]
        for k in keys[1:]:
            uf.union(keys[0], k)
    return [uf.find("p:" + p.pair_id) for p in pairs]


def split_pairs(pairs: Sequence[PreferencePair], shares: Mapping[str, float], seed: int) -> dict[str, list[int]]:
    """Indices of `pairs` per split; no group is ever in two splits."""
    roots = leakage_roots(pairs)
    pinned = {roots[i] for i, p in enumerate(pairs) if p.pinned_split}
    out: dict[str, list[int]] = {s: [] for s in shares}
    free = []
    for i, p in enumerate(pairs):
        if roots[i] in pinned:
            out["test"].append(i)
        else:
            free.append(
                Candidate(
                    index=i,
                    record_id=p.pair_id,
                    subject=roots[i],
                    cluster=roots[i],
                    category=p.source,
                    quality=0.0,
                    synthetic=False,
                    tiebreak=seeded_hash(seed, p.pair_id),
                )
            )
    for split, cands in assign_splits(free, shares, seed).items():
        out[split].extend(c.index for c in cands)
    for indices in out.values():
        indices.sort(key=lambda i: (seeded_hash(seed, "order\x00" + pairs[i].pair_id), pairs[i].pair_id))
    return out


def build_preference_version(
    pairs: Sequence[PreferencePair],
    *,
    version: str,
    created: dt.date,
    shares: Mapping[str, float],
    seed: int,
    settings: Mapping[str, Any],
    write: Writer,
    eval_chat: tuple[bytes, Mapping[str, Any]] | None = None,
) -> BuiltPreferences:
    """Files and manifest of one version. `eval_chat` = (the SFT test split's chat JSONL bytes,
    where it came from), copied in as the version's evaluation set."""
    splits = split_pairs(pairs, shares, seed)
    files: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        data = b"".join(_line(pairs[i].as_json()) for i in splits.get(split, []))
        name = f"{split}.pairs.jsonl"
        write(name, data)
        files[name] = {
            "split": split,
            "format": FORMAT,
            "records": len(splits.get(split, [])),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    if eval_chat is not None:
        data, origin = eval_chat
        write("test.chat.jsonl", data)
        files["test.chat.jsonl"] = {
            "split": "test",
            "format": "chat",
            "records": data.count(b"\n"),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "role": "evaluation set (copied, not pairs)",
            "copied_from": dict(origin),
        }
    manifest: dict[str, Any] = {
        "kind": "preference",
        "version": version,
        "created": created.isoformat(),
        "settings": dict(settings),
        "splits_policy": dict(shares),
        "seed": seed,
        "counts": {
            "total": len(pairs),
            "by_source": dict(sorted(Counter(p.source for p in pairs).items())),
            "splits": {
                s: {
                    "total": len(splits.get(s, [])),
                    "by_source": dict(sorted(Counter(pairs[i].source for i in splits.get(s, [])).items())),
                }
                for s in SPLITS
            },
            "leakage_groups": len(set(leakage_roots(pairs))),
        },
        "files": files,
        "pair_ids": {s: [pairs[i].pair_id for i in splits.get(s, [])] for s in SPLITS},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    write(MANIFEST, manifest_bytes)
    members: dict[str, PreferenceMember] = {}
    for split in SPLITS:
        for i in splits.get(split, []):
            for side in ("chosen", "rejected"):
                record_id = str((pairs[i].provenance.get(side) or {}).get("interaction_id") or "")
                if record_id and record_id not in members:
                    members[record_id] = PreferenceMember(record_id, _subject_of(pairs[i], side), split)
    return BuiltPreferences(
        version=version,
        manifest=manifest,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        members=sorted(members.values(), key=lambda m: m.record_id),
    )


def _subject_of(pair: PreferencePair, side: str) -> str:
    subject = str((pair.provenance.get(side) or {}).get("subject_token") or "")
    return subject or (pair.subjects[0] if len(pair.subjects) == 1 else "")


def _line(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
