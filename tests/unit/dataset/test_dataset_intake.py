"""The stage core: what a curated record needs to become a training example."""

from __future__ import annotations

from dataset_records import make_record

from crucible.dataset.intake import DatasetIntake
from crucible.dataset.policy import DatasetPolicy

STAGE = DatasetIntake(DatasetPolicy().category_mix)


def reasons(record) -> list[str]:
    return [r.reason for r in STAGE.process([record]).rejected]


def test_valid_record_is_kept_and_normalised() -> None:
    record = make_record("r1", category="Empathetic Dialogue", cluster="", context={"language": "ES"})
    record.dedup.cluster_id = ""
    record.turns[0].text = "  padded  "
    result = STAGE.process([record])
    assert not result.rejected
    (kept,) = result.kept
    assert kept.category == "empathetic_dialogue"
    assert kept.dedup.cluster_id == "r1"  # a record dedup saw alone is its own cluster
    assert kept.language == "es"
    assert kept.turns[0].text == "padded"
    assert record.category == "Empathetic Dialogue"  # the input is not mutated


def test_rejections_name_the_problem() -> None:
    assert reasons(make_record("")) == ["missing_record_id"]
    assert reasons(make_record("r", subject="")) == ["missing_subject_token"]
    assert reasons(make_record("r", category="gossip")) == ["unknown_category"]
    assert reasons(make_record("r", quality=11.0)) == ["invalid_quality"]
    assert reasons(make_record("r", turns=[("user", "hello?")])) == ["no_assistant_reply"]
    assert reasons(make_record("r", turns=[("assistant", "hi"), ("user", "thanks")])) == ["no_assistant_reply"]
    leaked = make_record("r")
    leaked.private_context["known_entities"] = '{"User": ["Ana"]}'
    result = STAGE.process([leaked])
    assert [(r.reason, r.dlq) for r in result.rejected] == [("private_context_present", True)]


def test_process_is_deterministic() -> None:
    batch = [make_record(f"r{i}", category="personalization") for i in range(5)] + [make_record("bad", subject="")]
    a, b = STAGE.process(batch), STAGE.process(batch)
    assert [r.SerializeToString() for r in a.kept] == [r.SerializeToString() for r in b.kept]
    assert [r.reason for r in a.rejected] == [r.reason for r in b.rejected]
