"""The preference build shell: gather the sources, build a version, write its files, register it.

Sources, read here and turned into pairs by the pure `preferences` module:
- feedback rows handed in by the caller (`FeedbackRow`s: the gateway's interactions with their
  feedback; in the embedded run, the demo rollout's rated synthetic traffic);
- decided review-queue items in the registry;
- the evaluator's reports of registered models (their pairwise verdicts), in the artifact store.

The version is registered like an SFT version (a `dataset_versions` row with its manifest URI and
sha256, `dataset_members` rows for the interaction records, so `crucible forget` marks it), with
`counts.kind = "preference"`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from crucible.common.artifacts import ArtifactStore
from crucible.common.registry import DatasetMember, DatasetVersion, ModelVersion, Registry, ReviewItem, utcnow
from crucible.common.runtime import Runtime
from crucible.dataset.builder import DatasetBuildError
from crucible.dataset.preference_version import (
    MANIFEST,
    BuiltPreferences,
    build_preference_version,
    preference_version_name,
)
from crucible.dataset.preferences import (
    FeedbackRow,
    PreferenceSettings,
    merge_pairs,
    pairs_from_feedback,
    pairs_from_judgements,
    row_from_review,
)
from crucible.dataset.store import copy_rows
from crucible.dataset.versions import artifact_prefix, dataset_policy, next_seq
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)


def review_rows(registry: Registry) -> list[FeedbackRow]:
    """Decided review-queue items as feedback rows (approved = vouched for, rejected = refused)."""
    out = []
    with registry.session() as s:
        items = s.scalars(select(ReviewItem).where(ReviewItem.status.in_(("approved", "rejected")))).all()
        for item in items:
            try:
                out.append(row_from_review(records_pb2.Record.FromString(item.record), item.status, item.decided_by))
            except ValueError:
                continue  # no answered prompt in the held record: nothing to prefer
    return out


def evaluation_reports(registry: Registry, artifacts: ArtifactStore) -> list[dict[str, Any]]:
    """The stored evaluation report of every evaluated model (those the store still has)."""
    root = artifacts.root_url.rstrip("/") + "/"
    with registry.session() as s:
        uris = [
            (mv.evaluation or {}).get("report_uri", "")
            for mv in s.scalars(select(ModelVersion).order_by(ModelVersion.seq)).all()
        ]
    reports = []
    for uri in uris:
        if not (uri and uri.startswith(root) and artifacts.exists(uri[len(root) :])):
            continue
        report = artifacts.read_json(uri[len(root) :])
        answers_uri = str(report.get("answers_uri") or "")
        if "answers" not in report and answers_uri.startswith(root) and artifacts.exists(answers_uri[len(root) :]):
            # The evaluator stores the per-prompt answers (with each verdict) beside the report.
            lines = artifacts.read_text(answers_uri[len(root) :]).splitlines()
            report["answers"] = [json.loads(line) for line in lines if line.strip()]
        reports.append(report)
    return reports


def evaluation_set(registry: Registry, artifacts: ArtifactStore) -> tuple[bytes, dict[str, Any]] | None:
    """The test split (chat format) of the newest SFT version, with where it came from."""
    with registry.session() as s:
        rows = s.scalars(select(DatasetVersion).order_by(DatasetVersion.seq.desc())).all()
        sft = next(((r.version, r.manifest_uri) for r in rows if (r.counts or {}).get("kind") != "preference"), None)
    if sft is None:
        return None
    version, manifest_uri = sft
    key = f"{artifact_prefix(version)}/test.chat.jsonl"
    if not manifest_uri or not artifacts.exists(key):
        return None
    return artifacts.read_bytes(key), {"dataset_version": version, "file": "test.chat.jsonl"}


def build_preference_dataset(
    runtime: Runtime, rows: Sequence[FeedbackRow], *, today: dt.date | None = None
) -> BuiltPreferences:
    """Pairs from every source, one new version; `DatasetBuildError` when too few pairs."""
    policy = dataset_policy(runtime)
    pp = policy.preferences
    settings = PreferenceSettings(
        up_min_rating=pp.up_min_rating,
        down_max_rating=pp.down_max_rating,
        min_rating_gap=pp.min_rating_gap,
        prompt_threshold=pp.prompt_threshold,
        max_pairs_per_prompt=pp.max_pairs_per_prompt,
        pairing=pp.pairing,
        seed=policy.seed,
    )
    reviewed = review_rows(runtime.registry)
    feedback_pairs = pairs_from_feedback([*rows, *reviewed], settings)
    judged = [p for rep in evaluation_reports(runtime.registry, runtime.artifacts) for p in pairs_from_judgements(rep)]
    pairs = merge_pairs(feedback_pairs, judged)
    if len(pairs) < pp.min_pairs:
        raise DatasetBuildError(
            f"only {len(pairs)} preference pairs ({len(rows)} feedback rows, {len(reviewed)} review decisions, "
            f"{len(judged)} judged pairs); dataset.preferences.min_pairs is {pp.min_pairs}"
        )
    started_at = utcnow()
    seq = next_seq(runtime.registry)
    version = preference_version_name(seq, today or dt.datetime.now(dt.UTC).date())
    prefix = artifact_prefix(version)
    written: list[str] = []

    def write(name: str, data: bytes) -> None:
        runtime.artifacts.write_bytes(f"{prefix}/{name}", data)
        written.append(name)

    try:
        built = build_preference_version(
            pairs,
            version=version,
            created=started_at.date(),
            shares=policy.splits.as_dict(),
            seed=policy.seed,
            settings={**settings.__dict__, "rows": {"feedback": len(rows), "review": len(reviewed)}},
            write=write,
            eval_chat=evaluation_set(runtime.registry, runtime.artifacts),
        )
        register_preferences(
            runtime.registry,
            built,
            seq=seq,
            manifest_uri=runtime.artifacts.uri(f"{prefix}/{MANIFEST}"),
            created_at=started_at,
        )
    except BaseException:
        runtime.artifacts.delete(prefix)  # a failed build leaves nothing behind
        raise
    log.info("preference dataset %s: %d pairs %s", version, len(pairs), built.split_counts)
    return built


def register_preferences(
    registry: Registry, built: BuiltPreferences, *, seq: int, manifest_uri: str, created_at: dt.datetime
) -> None:
    counts = built.manifest["counts"]
    with registry.session() as session:
        session.add(
            DatasetVersion(
                version=built.version,
                seq=seq,
                created_at=created_at,
                manifest_uri=manifest_uri,
                manifest_sha256=built.manifest_sha256,
                # No bias audit runs on pairs: the score is not a claim, 0 with below_target False.
                fairness_score=0.0,
                below_fairness_target=False,
                contains_forgotten_subject=False,
                counts={
                    "kind": "preference",
                    "total": counts["total"],
                    "splits": built.split_counts,
                    "by_source": counts["by_source"],
                },
            )
        )
        session.flush()
        rows = ((built.version, m.record_id, m.split, m.subject_token) for m in built.members)
        copy_rows(session, DatasetMember.__table__, ("version", "record_id", "split", "subject_token"), rows)


def preference_summary(built: BuiltPreferences, manifest_uri: str) -> dict[str, Any]:
    counts = built.manifest["counts"]
    return {
        "dataset_version": built.version,
        "kind": "preference",
        "manifest_uri": manifest_uri,
        "pairs": counts["total"],
        "by_source": counts["by_source"],
        "split_counts": built.split_counts,
        "leakage_groups": counts["leakage_groups"],
        "evaluation_set": (built.manifest["files"].get("test.chat.jsonl") or {}).get("copied_from"),
    }
