"""Preference pairs: from feedback (same or near-identical prompt), review decisions and the
evaluator's verdicts; the versioned build with leakage-free splits."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random

import pytest

from crucible.common.config import load_policy
from crucible.common.registry import DatasetMember, DatasetVersion, ReviewItem
from crucible.common.runtime import Runtime
from crucible.dataset.builder import DatasetBuildError
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.preference_build import build_preference_dataset
from crucible.dataset.preference_version import build_preference_version, split_pairs
from crucible.dataset.preferences import (
    FeedbackRow,
    PreferenceSettings,
    pairs_from_feedback,
    pairs_from_judgements,
    prompt_groups,
)
from crucible.v1 import records_pb2

S = PreferenceSettings()
DAY = dt.date(2026, 12, 4)


def row(prompt: str, answer: str, rating: int | None, subject: str, rid: str, **kw) -> FeedbackRow:
    return FeedbackRow(
        prompt=[{"role": "user", "content": prompt}],
        answer=answer,
        rating=rating,
        advice_accepted=kw.pop("acc", None),
        subject_token=subject,
        response_id=rid,
        interaction_id="int-" + rid,
        **kw,
    )


def test_rated_up_and_down_answers_to_near_identical_prompts_pair_up() -> None:
    rows = [
        row(
            "My partner and I keep arguing about chores. What can we do?",
            "Write the weekly tasks down together.",
            9,
            "s1",
            "r1",
        ),
        # The same question, case and punctuation aside, with one word changed: near-identical.
        row("my partner and I keep arguing about chores - what can we do", "chores chores chores", 2, "s2", "r2"),
        row("How do I plan a date night on a small budget?", "Cook together at home.", 8, "s3", "r3"),
        row("How do I plan a date night on a small budget?", "Try a picnic.", 7, "s4", "r4"),  # both up: no pair
        row("What is a good way to apologise after a fight?", "Name what you did.", 6, "s5", "r5"),  # neutral
        row("What is a good way to apologise after a fight?", "no", 1, "s6", "r6"),
    ]
    pairs = pairs_from_feedback(rows, S)
    assert len(pairs) == 1
    (p,) = pairs
    assert p.chosen == "Write the weekly tasks down together." and p.rejected == "chores chores chores"
    assert p.subjects == ("s1", "s2") and p.source == "feedback"
    assert p.provenance["chosen"]["response_id"] == "r1" and p.provenance["rejected"]["rating"] == 2
    assert any(c.startswith("prompt:") for c in p.clusters)


def test_a_small_rating_gap_or_the_same_answer_is_no_preference() -> None:
    q = "How can we talk about money?"
    close = [row(q, "Set a budget meeting.", 7, "a", "1"), row(q, "Talk.", 4, "b", "2")]
    assert len(pairs_from_feedback(close, S)) == 1  # gap 3: enough by default (2)
    assert pairs_from_feedback(close, PreferenceSettings(min_rating_gap=4)) == []
    assert pairs_from_feedback([close[0], row(q, "Talk.", 6, "b", "2")], S) == []  # gap 1
    same = [row(q, "Set a budget meeting!", 9, "a", "1"), row(q, "set a budget meeting", 1, "b", "2")]
    assert pairs_from_feedback(same, S) == []
    accepted = [
        row(q, "Set a budget meeting.", None, "a", "1", acc=True),
        row(q, "Whatever.", None, "b", "2", acc=False),
    ]
    assert len(pairs_from_feedback(accepted, S)) == 1


def test_prompt_groups_match_the_dedup_threshold() -> None:
    base = (
        "We have been distant since the baby was born and I do not know how to reach my husband again, he works "
        "late and we barely talk. Any ideas?"
    )
    groups = prompt_groups(
        [base, base.upper() + "!!", base.replace("husband", "wife"), "Something else entirely."], 0.85
    )
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_judgement_pairs_take_the_winner_and_stay_in_test() -> None:
    report = {
        "model_name": "crucible-v1",
        "pairwise": {"candidate": "crucible-v1", "serving": "tiny-base", "judge": "offline"},
        "answers": [
            {
                "example_id": "e1",
                "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": "q1"}],
                "candidate": "good answer",
                "serving": "bad",
                "pairwise": "candidate",
                "guard": None,
            },
            {
                "example_id": "e2",
                "prompt": [{"role": "user", "content": "q2"}],
                "candidate": "x",
                "serving": "better",
                "pairwise": "serving",
                "guard": None,
            },
            {
                "example_id": "e3",
                "prompt": [{"role": "user", "content": "q3"}],
                "candidate": "a",
                "serving": "b",
                "pairwise": "tie",
                "guard": None,
            },
        ],
    }
    pairs = pairs_from_judgements(report)
    assert {(p.chosen, p.rejected) for p in pairs} == {("good answer", "bad"), ("better", "x")}
    assert all(p.pinned_split == "test" and p.prompt[0]["role"] == "user" for p in pairs)
    splits = split_pairs(pairs, {"train": 0.9, "val": 0.05, "test": 0.05}, seed=1)
    assert sorted(splits["test"]) == [0, 1] and not splits["train"]


WORDS = "chores money family sleep work stress dates kids friends travel holidays habits phones cooking trust".split()


def _many_rows(n_prompts: int, per_prompt: int, subjects: int, seed: int) -> list[FeedbackRow]:
    rng = random.Random(seed)
    rows = []
    for p in range(n_prompts):
        # Distinct questions (random words), so prompt groups are the prompts themselves.
        prompt = " ".join(rng.choice(WORDS) for _ in range(8)) + "?"
        for k in range(per_prompt):
            up = k % 2 == 0
            rows.append(
                row(
                    prompt,
                    f"answer {p}-{k} " + ("warm specific advice" if up else "meh"),
                    rng.choice([8, 9, 10]) if up else rng.choice([1, 2, 3]),
                    f"subject-{rng.randrange(subjects)}",
                    f"{p}-{k}",
                )
            )
    return rows


def test_no_subject_or_cluster_is_in_two_splits() -> None:
    rows = _many_rows(n_prompts=60, per_prompt=4, subjects=2000, seed=3)
    pairs = pairs_from_feedback(rows, S)
    assert len(pairs) >= 100
    # Some subjects rated answers to several prompts: the constraint has something to hold together.
    from collections import Counter

    assert max(Counter(s for p in pairs for s in p.subjects).values()) >= 2
    splits = split_pairs(pairs, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=5)
    assert all(splits[s] for s in splits)  # every split gets something
    owner: dict[str, str] = {}
    for split, idx in splits.items():
        for i in idx:
            for key in (*pairs[i].subjects, *pairs[i].clusters):
                assert owner.setdefault(key, split) == split, f"{key} in {owner[key]} and {split}"
    assert sorted(i for idx in splits.values() for i in idx) == list(range(len(pairs)))


def test_version_files_are_deterministic_and_named_in_the_manifest() -> None:
    pairs = pairs_from_feedback(_many_rows(20, 4, 60, seed=1), S)
    outs = []
    for _ in range(2):
        files: dict[str, bytes] = {}
        built = build_preference_version(
            pairs,
            version="v3_20261204_pref",
            created=DAY,
            shares={"train": 0.8, "val": 0.1, "test": 0.1},
            seed=1,
            settings={},
            write=files.__setitem__,
            eval_chat=(b'{"messages": []}\n', {"dataset_version": "v2"}),
        )
        outs.append((files, built))
    (files, built), (files2, _) = outs
    assert files == files2
    assert built.manifest_sha256 == hashlib.sha256(files["manifest.json"]).hexdigest()
    manifest = json.loads(files["manifest.json"])
    assert manifest["kind"] == "preference" and manifest["counts"]["total"] == len(pairs)
    for name, meta in manifest["files"].items():
        assert meta["sha256"] == hashlib.sha256(files[name]).hexdigest()
    assert manifest["files"]["test.chat.jsonl"]["format"] == "chat"
    line = json.loads(files["train.pairs.jsonl"].splitlines()[0])
    assert set(line) >= {"prompt", "chosen", "rejected", "provenance", "source"}
    assert line["chosen"][0]["role"] == "assistant"
    member_splits = {m.record_id: m.split for m in built.members}
    for split, ids in manifest["pair_ids"].items():
        for pid in ids:
            p = next(p for p in pairs if p.pair_id == pid)
            assert member_splits[p.provenance["chosen"]["interaction_id"]] == split


@pytest.fixture
def rt(settings) -> Runtime:
    policy = load_policy(
        None, section_models={"dataset": DatasetPolicy}, overrides={"dataset.preferences.min_pairs": 3}
    )
    runtime = Runtime.create(settings, policy=policy)
    yield runtime
    runtime.registry.dispose()


def _review_item(record_id: str, prompt: str, answer: str, status: str) -> ReviewItem:
    rec = records_pb2.Record(record_id=record_id, subject_token="subj-" + record_id)
    rec.turns.add(role="user", text=prompt)
    rec.turns.add(role="assistant", text=answer)
    return ReviewItem(
        record_id=record_id,
        stage="scorer",
        reason="low_quality",
        record=rec.SerializeToString(),
        subject_token=rec.subject_token,
        status=status,
    )


def test_build_registers_a_version_with_members_and_review_pairs(rt) -> None:
    with rt.registry.session() as s:
        s.add(_review_item("rv1", "Is it normal to feel jealous?", "Yes, and talking about it helps.", "approved"))
        s.add(_review_item("rv2", "Is it normal to feel jealous?", "Just get over it.", "rejected"))
        s.add(_review_item("rv3", "Is it normal to feel jealous?", "Pending answer.", "pending"))
    built = build_preference_dataset(rt, _many_rows(6, 2, 30, seed=2), today=DAY)
    assert built.version == "v1_20261204_pref"
    assert built.manifest["counts"]["by_source"] == {"feedback": 6, "review": 1}
    with rt.registry.session() as s:
        dv = s.get(DatasetVersion, built.version)
        assert dv.counts["kind"] == "preference" and dv.manifest_sha256 == built.manifest_sha256
        members = s.query(DatasetMember).filter_by(version=built.version).all()
        assert {m.record_id for m in members} >= {"rv1", "rv2"}
    assert rt.artifacts.exists(f"datasets/{built.version}/train.pairs.jsonl")


def test_too_few_pairs_fail_and_leave_nothing(rt) -> None:
    with pytest.raises(DatasetBuildError, match="only 0 preference pairs"):
        build_preference_dataset(rt, [], today=DAY)
    assert rt.artifacts.list("datasets") == [] or not any("pref" in k for k in rt.artifacts.list("datasets"))


def test_a_preference_version_does_not_reset_the_auto_build_count(rt) -> None:
    from crucible.dataset.sample_records import generate_curated_records
    from crucible.dataset.store import count_new_since_last_version, upsert_records

    upsert_records(rt.registry, generate_curated_records(30, seed=1))
    assert count_new_since_last_version(rt.registry) == 30
    build_preference_dataset(rt, _many_rows(6, 2, 30, seed=2), today=DAY)
    assert count_new_since_last_version(rt.registry) == 30


def test_margin_pairing_pairs_a_clearly_worse_answer_and_polarity_does_not() -> None:
    q = "How do we split chores fairly?"
    rows = [
        row(q, "List the tasks and choose together.", 10, "a", "1"),
        row(q, "Chores are chores.", 7, "b", "2"),
        row(q, "Talk about it over dinner.", 9, "c", "3"),
        row(q, "Do whatever.", 5, "d", "4"),
    ]
    gap3 = PreferenceSettings(min_rating_gap=3)
    margin = pairs_from_feedback(rows, gap3)
    # 10 takes the worst (5); 9 finds nothing left 3 points below it (7 is only 2 below).
    assert [(p.chosen, p.rejected) for p in margin] == [("List the tasks and choose together.", "Do whatever.")]
    rows.append(row(q, "No idea.", 6, "e", "5"))
    got = {
        (p.provenance["chosen"]["rating"], p.provenance["rejected"]["rating"]) for p in pairs_from_feedback(rows, gap3)
    }
    assert got == {(10, 5), (9, 6)}  # each answer used once, on one side only
    assert pairs_from_feedback(rows, PreferenceSettings(pairing="polarity")) == []  # nothing rated <= 4


def test_interaction_records_become_feedback_rows_with_their_merged_signals() -> None:
    from crucible.dataset.preferences import row_from_interaction

    # (kind=RECORD_KIND_INTERACTION arrives with the gateway's interaction publishing, another session)
    def interaction(rid: str, answer: str, rating: float | None, accepted: bool | None) -> records_pb2.Record:
        rec = records_pb2.Record(record_id=f"int-{rid}", subject_token=f"subj-{rid}")
        rec.source.key = rid
        rec.turns.add(role="user", text="How do we share chores?")
        rec.turns.add(role="assistant", text=answer)
        rec.context.update({"variant": "canary", "model": "crucible-v3"})
        rec.dedup.cluster_id = f"c-{rid}"
        if rating is not None:
            rec.signals.satisfaction = rating
        if accepted is not None:
            rec.signals.action_taken = accepted
        return rec

    up = row_from_interaction(interaction("r1", "List the tasks and choose together.", 9.0, True))
    down = row_from_interaction(interaction("r2", "Whatever.", 3.0, False))
    silent = row_from_interaction(interaction("r3", "Hm.", None, None))
    assert (up.rating, up.advice_accepted, up.response_id, up.model, up.cluster_id) == (
        9,
        True,
        "r1",
        "crucible-v3",
        "c-r1",
    )
    assert (silent.rating, silent.advice_accepted) == (None, None)
    assert row_from_interaction(interaction("r4", "x", None, None), {"rating": 2, "advice_accepted": None}).rating == 2
    (pair,) = pairs_from_feedback([up, down, silent], S)
    assert pair.provenance["chosen"]["interaction_id"] == "int-r1" and set(pair.clusters) >= {"c-r1", "c-r2"}
