"""The pages' pure view models: review filters and pagination, run funnels, dataset mix, rollout."""

import datetime as dt

import pytest

from crucible.console import views

NOW = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)


def test_review_filter_parses_and_names_a_bad_value() -> None:
    f = views.ReviewFilter.parse({"status": "all", "label": "self_harm_high", "older_than_hours": "2", "page": "3"})
    assert (f.status, f.label, f.older_than_hours, f.page) == ("all", "self_harm_high", 2.0, 3)
    assert views.ReviewFilter.parse({}) == views.ReviewFilter()
    with pytest.raises(views.BadFilter, match="status"):
        views.ReviewFilter.parse({"status": "maybe"})
    with pytest.raises(views.BadFilter, match="older_than_hours"):
        views.ReviewFilter.parse({"older_than_hours": "soon"})
    with pytest.raises(views.BadFilter, match="page"):
        views.ReviewFilter.parse({"page": "-1"})


def test_review_list_pages_and_keeps_the_filter_in_its_links() -> None:
    rows = [
        {"record_id": f"r{k}", "status": "pending", "reason": "flagged_for_review", "decided_by": "",
         "created_at": NOW - dt.timedelta(hours=k), "detail": {"total": 6.9, "threshold": 7.0, "review": ["borderline"],
                                                               "safety": {"self_harm_low": 0.4, "self_harm_high": 0.8}}}
        for k in range(3)
    ]  # fmt: skip
    f = views.ReviewFilter(label="self_harm_high", page=2)
    model = views.review_list(rows, 125, f, 50, NOW)
    assert (model["pages"], model["page"]) == (3, 2)
    assert "label=self_harm_high" in model["prev"] and "page=1" in model["prev"] and "page=3" in model["next"]
    assert model["items"][0]["labels"][0] == ("self_harm_high", 0.8)
    assert [i["age"] for i in model["items"]] == ["0s", "1h", "2h"]
    last = views.review_list(rows, 125, views.ReviewFilter(page=3), 50, NOW)
    assert last["next"] is None


def test_run_funnel_and_rejections_by_reason() -> None:
    summary = {
        "extraction": {"report": {"rows": 100, "extracted": 98, "failed": {"bad_row": 2}}},
        "stages": [
            {"stage": "scrubber", "in": 98, "out": 95, "rejected": {"residual_pii": 3}, "held": {}, "dlq": {}},
            {"stage": "scorer", "in": 95, "out": 60, "rejected": {"below_quality": 30}, "held": {"flagged": 5}},
        ],
    }
    view = views.run_view({"run_id": "r1", "summary": summary})
    assert [(f["stage"], f["in"], f["out"]) for f in view["funnel"]] == [
        ("extractor", 100, 98), ("scrubber", 98, 95), ("scorer", 95, 60)]  # fmt: skip
    assert view["funnel"][2]["held"] == 5 and view["funnel"][2]["kept_share"] == pytest.approx(60 / 95)
    assert view["rejections"][0] == ("scorer: below_quality", 30)
    assert views.run_view({"run_id": "r2", "summary": {}})["funnel"] == []


def test_dataset_mix_synthetic_share_and_fairness_gaps() -> None:
    splits = {"train": {"total": 90, "synthetic": 9}, "validation": {"total": 5, "synthetic": 1},
              "test": {"total": 5, "synthetic": 0}}  # fmt: skip
    d = {"version": "v1", "counts": {"total": 100, "splits": splits, "by_category": {"instruction_following": 50,
         "safety_ethics": 0, "empathetic_dialogue": 50}}}  # fmt: skip
    audit = {"dimensions": {"age_band": {"score": 71.5, "gaps": [{"group": "65+", "count": 2, "share": 0.02,
             "parity_share": 0.2, "records_needed": 9}]}, "culture": {"score": 90.0, "gaps": []}},
             "recommendations": ["age_band: add 9 records of 65+."]}  # fmt: skip
    view = views.dataset_view(d, audit)
    mix = {m["category"]: m for m in view["mix"]}
    assert mix["instruction_following"]["share"] == 0.5 and mix["instruction_following"]["gap"] == pytest.approx(0.1)
    assert mix["safety_ethics"]["gap"] == pytest.approx(-0.05)
    assert view["synthetic_share"] == 0.1 and view["splits"] == {"train": 90, "validation": 5, "test": 5}
    assert view["fairness_dimensions"] == {"age_band": 71.5, "culture": 90.0}
    assert view["fairness_gaps"] == [{"dimension": "age_band", "group": "65+", "count": 2, "share": 0.02,
                                      "parity_share": 0.2, "records_needed": 9}]  # fmt: skip
    assert view["recommendations"] == ["age_band: add 9 records of 65+."]
    assert views.dataset_view({"version": "v0", "counts": {}})["synthetic_share"] is None


def test_rollout_view() -> None:
    assert views.rollout_view(None) == {"available": False}
    v = views.rollout_view({"state": "progressing", "stages": [10, 25, 50, 100], "stage_index": 1, "canary_weight": 25})
    assert v["active"] and v["stage_number"] == 2 and v["canary_weight"] == 25.0
