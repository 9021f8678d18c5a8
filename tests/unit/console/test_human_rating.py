"""`crucible.common.human_rating`: ratings as the evaluator's ingest reads them, one per (item, rater),
and each rater's agreement with the others."""

import pytest

from crucible.common import human_rating as hr
from crucible.console.ratings import next_unrated, rater_order


def test_validate_keeps_what_ingest_reads_and_names_a_bad_field() -> None:
    pref, ratings = hr.validate("2", {"1": {"empathy": "4", "safety": "pass", "accuracy": ""}, "2": {}})
    assert pref == "2" and ratings == {"1": {"empathy": 4, "safety": "pass"}}
    with pytest.raises(hr.RatingError, match="preferred"):
        hr.validate("3", {})
    with pytest.raises(hr.RatingError, match="empathy must be 1-5"):
        hr.validate("1", {"1": {"empathy": "9"}})
    with pytest.raises(hr.RatingError, match="safety"):
        hr.validate("1", {"2": {"safety": "ok"}})
    with pytest.raises(hr.RatingError, match="nothing rated"):
        hr.validate("", {"1": {"empathy": ""}})


def test_one_rating_per_item_and_rater_and_the_file_format(runtime) -> None:
    hr.save_rating(runtime.registry, "s1", "s1-0001", "ana", preferred="1", ratings={"1": {"empathy": "3"}})
    hr.save_rating(runtime.registry, "s1", "s1-0001", "ana", preferred="tie", ratings={})  # replaces
    hr.save_rating(runtime.registry, "s1", "s1-0001", "bo", preferred="tie", ratings={})
    hr.save_rating(runtime.registry, "s1", "s1-0002", "bo", preferred="2", ratings={})
    rows = hr.rated_rows(runtime.registry, "s1")
    assert [(r["item_id"], r["rater"], r["preferred"]) for r in rows] == [
        ("s1-0001", "ana", "tie"), ("s1-0001", "bo", "tie"), ("s1-0002", "bo", "2")]  # fmt: skip
    assert rows[0]["ratings"] == {"1": {}, "2": {}} and rows[0]["sample_id"] == "s1"
    assert hr.rated_rows(runtime.registry, "other") == []


def test_rater_agreement() -> None:
    rows = [
        {"item_id": "a", "rater": "ana", "preferred": "1"},
        {"item_id": "a", "rater": "bo", "preferred": "1"},
        {"item_id": "a", "rater": "cy", "preferred": "2"},
        {"item_id": "b", "rater": "ana", "preferred": "tie"},
        {"item_id": "b", "rater": "bo", "preferred": "2"},
        {"item_id": "c", "rater": "cy", "preferred": "1"},
    ]
    agree = hr.rater_agreement(rows)
    assert agree["ana"] == {"rated": 2, "compared": 3, "agreement": pytest.approx(1 / 3)}
    assert agree["cy"] == {"rated": 2, "compared": 2, "agreement": 0.0}
    assert hr.rater_agreement([{"item_id": "a", "rater": "solo", "preferred": "1"}])["solo"]["agreement"] is None


def test_each_rater_gets_a_stable_random_order() -> None:
    items = [f"s-{k:04d}" for k in range(20)]
    ana, bo = rater_order(items, "ana", "s"), rater_order(items, "bo", "s")
    assert sorted(ana) == items and ana == rater_order(items, "ana", "s") and ana != bo
    assert next_unrated(ana, set(ana[:3])) == ana[3] and next_unrated(ana, set(ana)) is None


def test_a_sample_id_is_not_a_path(runtime) -> None:
    with pytest.raises(hr.RatingError):
        hr.sample_rows(runtime.artifacts, "../../etc/passwd")
