"""Human ratings of a blinded evaluation sample, kept in the registry, so the web console (where people
rate) and the evaluator (which unblinds, aggregates and fits the Bradley-Terry rating) share them without
importing each other.

`crucible eval sample` writes the blinded rows (`<sample_id>.rows.jsonl`, no model names) and the key
(`<sample_id>.json`, which answer is which) under `SAMPLE_PREFIX` in the artifact store. A rater's rating
of one item is one `HumanRating` row; `rated_rows` gives them back in the rating file's format, so
`crucible eval ingest --sample ID` treats them exactly like a rated file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import combinations
from typing import Any

from sqlalchemy import select

from crucible.common.artifacts import ArtifactStore
from crucible.common.registry import HumanRating, Registry, utcnow

SAMPLE_PREFIX = "evaluations/human_eval"
SCALES_1_5 = ("empathy", "helpfulness", "accuracy", "personalization")
PREFERRED = ("1", "2", "tie")


class RatingError(ValueError):
    pass


def rows_key(sample_id: str) -> str:
    return f"{SAMPLE_PREFIX}/{sample_id}.rows.jsonl"


def key_key(sample_id: str) -> str:
    return f"{SAMPLE_PREFIX}/{sample_id}.json"


def list_samples(artifacts: ArtifactStore) -> list[dict[str, Any]]:
    """Samples people can rate in the console: those whose blinded rows are stored (newest last)."""
    out = []
    for path in artifacts.list(SAMPLE_PREFIX):
        name = path.rsplit("/", 1)[-1]
        if not name.endswith(".rows.jsonl"):
            continue
        sample_id = name.removesuffix(".rows.jsonl")
        model = ""
        if artifacts.exists(key_key(sample_id)):
            model = artifacts.read_json(key_key(sample_id)).get("model_name", "")
        out.append({"sample_id": sample_id, "model_name": model})
    return out


def sample_rows(artifacts: ArtifactStore, sample_id: str) -> list[dict[str, Any]]:
    """The blinded rows of one sample; `RatingError` when there is no such sample."""
    if not sample_id.replace("-", "").isalnum() or not artifacts.exists(rows_key(sample_id)):
        raise RatingError(f"no rating sample {sample_id!r}")
    return [json.loads(line) for line in artifacts.read_text(rows_key(sample_id)).splitlines() if line.strip()]


def validate(preferred: str, ratings: dict[str, dict[str, Any]]) -> tuple[str, dict[str, dict[str, Any]]]:
    """A rating as the evaluator's ingest reads it: preferred "1" | "2" | "tie" | "", scales 1-5, safety
    "pass" | "fail"; empty values dropped. Raises `RatingError` naming the bad field."""
    if preferred not in (*PREFERRED, ""):
        raise RatingError(f"preferred must be 1, 2 or tie, got {preferred!r}")
    clean: dict[str, dict[str, Any]] = {}
    for slot, scales in ratings.items():
        if slot not in ("1", "2"):
            raise RatingError(f"answer must be 1 or 2, got {slot!r}")
        for scale, value in scales.items():
            if value in (None, ""):
                continue
            if scale == "safety":
                if value not in ("pass", "fail"):
                    raise RatingError(f"safety must be pass or fail, got {value!r}")
            elif scale in SCALES_1_5:
                if str(value) not in ("1", "2", "3", "4", "5"):
                    raise RatingError(f"{scale} must be 1-5, got {value!r}")
                value = int(value)
            else:
                raise RatingError(f"unknown scale {scale!r}")
            clean.setdefault(slot, {})[scale] = value
    if not preferred and not clean:
        raise RatingError("nothing rated: choose the better answer or score a trait")
    return preferred, clean


def save_rating(
    registry: Registry,
    sample_id: str,
    item_id: str,
    rater: str,
    *,
    preferred: str,
    ratings: dict[str, dict[str, Any]],
    comment: str = "",
) -> None:
    """Record (or replace) one rater's rating of one item."""
    preferred, ratings = validate(preferred, ratings)
    with registry.session() as s:
        s.merge(
            HumanRating(
                sample_id=sample_id,
                item_id=item_id,
                rater=rater,
                preferred=preferred,
                ratings=ratings,
                comment=comment,
                rated_at=utcnow(),
            )
        )


def rated_rows(registry: Registry, sample_id: str) -> list[dict[str, Any]]:
    """Every rating of the sample in the rating file's row format (one row per item and rater)."""
    with registry.session() as s:
        rows = s.scalars(
            select(HumanRating)
            .where(HumanRating.sample_id == sample_id)
            .order_by(HumanRating.item_id, HumanRating.rater)
        ).all()
        return [
            {
                "sample_id": r.sample_id,
                "item_id": r.item_id,
                "rater": r.rater,
                "preferred": r.preferred or None,
                "ratings": {slot: dict(r.ratings.get(slot) or {}) for slot in ("1", "2")},
                "comment": r.comment,
            }
            for r in rows
        ]


def rater_agreement(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per rater: on items another rater also judged, how often their preferred answer matched the other's
    (pairwise agreement, every pair of raters on an item counted once for each)."""
    by_item: dict[str, dict[str, str]] = defaultdict(dict)
    for r in rows:
        if r.get("preferred"):
            by_item[r["item_id"]][r["rater"]] = str(r["preferred"])
    agree: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for votes in by_item.values():
        for a, b in combinations(sorted(votes), 2):
            same = int(votes[a] == votes[b])
            for rater in (a, b):
                agree[rater][0] += same
                agree[rater][1] += 1
    raters = sorted({r["rater"] for r in rows})
    return {
        rater: {
            "rated": sum(1 for r in rows if r["rater"] == rater),
            "compared": agree[rater][1],
            "agreement": (agree[rater][0] / agree[rater][1]) if agree[rater][1] else None,
        }
        for rater in raters
    }
