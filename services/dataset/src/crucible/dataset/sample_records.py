"""Generated curated records (as the dedup stage emits them) for the bench and the tests.

Skewed on purpose, like real app data: instruction-following dominates, safety is rare, most
users are heterosexual couples in their 30s writing English, some records are synthetic and
some are near-duplicates in a shared dedup cluster.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from collections.abc import Iterator, Mapping

from crucible.v1 import records_pb2

DEFAULT_CATEGORY_WEIGHTS = {
    "instruction_following": 0.55,
    "contextual_understanding": 0.2,
    "empathetic_dialogue": 0.15,
    "personalization": 0.07,
    "safety_ethics": 0.03,
}
_CONTEXT = {
    "relationship_stage": (["early", "established", "long_term"], [0.25, 0.45, 0.30]),
    "relationship_type": (["heterosexual", "same_sex", "non_binary", "polyamorous"], [0.78, 0.14, 0.05, 0.03]),
    "age_band": (["18-24", "25-34", "35-44", "45-54", "55+"], [0.12, 0.38, 0.28, 0.14, 0.08]),
    "language": (["en", "es", "fr", "de"], [0.82, 0.1, 0.05, 0.03]),
    "culture": (
        ["north_american", "latin_american", "european", "south_asian", "east_asian"],
        [0.5, 0.15, 0.2, 0.1, 0.05],
    ),
    "gender_user": (["female", "male", "non_binary"], [0.55, 0.41, 0.04]),
    "gender_partner": (["male", "female", "non_binary"], [0.5, 0.45, 0.05]),
}
_TOPICS = ["communication", "date night", "finances", "in-laws", "intimacy", "chores", "conflict", "trust"]
_ASKS = [
    "How can we talk about {t} without it turning into a fight?",
    "We keep arguing about {t}. What should I try this week?",
    "My partner seems distant when {t} comes up. How do I approach it?",
    "Any ideas to make {t} feel like a team effort again?",
]
_REPLIES = [
    "It makes sense that {t} feels heavy right now. Try picking a calm moment, start with what you appreciate, "
    "and describe one specific situation rather than a pattern. Then ask what {t} feels like from their side.",
    "Many couples find {t} easier when they set a short, regular check-in. Agree on ten minutes, one topic, and "
    "take turns listening without interrupting. Close by choosing one small step you both commit to.",
    "Thank you for sharing this. Around {t}, it can help to name the feeling underneath the frustration, like "
    "worry or feeling unseen, and invite your partner to do the same before looking for solutions together.",
]


def _token(i: int) -> str:
    return hashlib.sha256(f"user-{i}".encode()).hexdigest()


def generate_curated_records(
    n: int,
    *,
    seed: int = 0,
    subjects: int | None = None,
    synthetic_share: float = 0.1,
    duplicate_share: float = 0.05,
    category_weights: Mapping[str, float] = DEFAULT_CATEGORY_WEIGHTS,
) -> list[records_pb2.Record]:
    return list(
        iter_curated_records(
            n,
            seed=seed,
            subjects=subjects,
            synthetic_share=synthetic_share,
            duplicate_share=duplicate_share,
            category_weights=category_weights,
        )
    )


def iter_curated_records(
    n: int,
    *,
    seed: int = 0,
    subjects: int | None = None,
    synthetic_share: float = 0.1,
    duplicate_share: float = 0.05,
    category_weights: Mapping[str, float] = DEFAULT_CATEGORY_WEIGHTS,
    start: int = 0,
) -> Iterator[records_pb2.Record]:
    """The same records as `generate_curated_records`, one at a time: what a near-duplicate points
    at is kept as two small integers per record, so 10 M records fit the bench's memory.

    `start` > 0 gives an independent part of a larger store (records `start`, `start+1`, ...: their own
    random stream, ids, keys and timestamps; near-duplicates within the part; pass the whole store's
    `subjects`), so parts can be generated in parallel."""
    rng = random.Random(seed if not start else f"{seed}:{start}")
    subjects = subjects or max(n // 20, 1)
    categories = list(category_weights)
    weights = list(category_weights.values())
    tables = ["checkins", "activities", "quizzes", "conversations", "synthetic"]
    table_of = array("B")  # table index of each record (its id is a hash of table, seed, index)
    root_of = array("q")  # the record whose id is each record's cluster id
    for i in range(n):
        synthetic = rng.random() < synthetic_share
        table = "synthetic" if synthetic else rng.choice(["checkins", "activities", "quizzes", "conversations"])
        topic = rng.choice(_TOPICS)
        record = records_pb2.Record(
            record_id=_record_id(table, seed, start + i),
            subject_token=_token(rng.randrange(subjects)) if not synthetic else _token(10**9 + start + i),
            kind=records_pb2.RECORD_KIND_CONVERSATION,
            category=rng.choices(categories, weights)[0],
        )
        record.source.table = table
        record.source.key = str(start + i)
        record.created_at.FromSeconds(1_760_000_000 + (start + i) * 60)
        record.quality.total = round(rng.uniform(7.0, 10.0), 3)
        for key, (values, probs) in _CONTEXT.items():
            if rng.random() < 0.9:
                record.context[key] = rng.choices(values, probs)[0]
        record.context["topic"] = topic
        for _ in range(rng.choice([1, 1, 2])):
            record.turns.add(role="user", text=rng.choice(_ASKS).format(t=topic), speaker="user")
            record.turns.add(role="assistant", text=rng.choice(_REPLIES).format(t=topic), speaker="coach")
        for stage in ("extractor", "scrubber", "scorer", "dedup"):
            record.provenance.add(stage=stage, version="0.1.0")
        record.dedup.cluster_id = record.record_id
        record.dedup.similarity = 1.0
        root = i
        if i and rng.random() < duplicate_share:
            first = rng.randrange(i)
            root = root_of[first]
            record.dedup.cluster_id = _record_id(tables[table_of[root]], seed, start + root)
            record.dedup.duplicate_of = _record_id(tables[table_of[first]], seed, start + first)
            record.dedup.similarity = round(rng.uniform(0.85, 0.99), 3)
        table_of.append(tables.index(table))
        root_of.append(root)
        yield record


def _record_id(table: str, seed: int, i: int) -> str:
    return hashlib.sha256(f"{table}:{seed}:{i}".encode()).hexdigest()[:32]
