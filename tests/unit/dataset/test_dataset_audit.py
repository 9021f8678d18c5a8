"""The bias audit: the documented fairness formula, gaps and recommendations."""

from __future__ import annotations

import math

import pytest
from dataset_records import make_record

from crucible.dataset.audit import balance, bias_audit, records_to_parity_floor
from crucible.dataset.policy import AuditPolicy


def test_balance_is_normalised_entropy() -> None:
    assert balance([10, 10, 10]) == pytest.approx(1.0)
    assert balance([10]) == 0.0
    assert balance([5, 0]) == 0.0
    p = [0.9, 0.1]
    assert balance([90, 10]) == pytest.approx(-sum(x * math.log(x) for x in p) / math.log(2))


def _records(values: dict[str, list[str]]) -> list:
    n = len(next(iter(values.values())))
    out = []
    for i in range(n):
        ctx = {k: v[i] for k, v in values.items() if v[i]}
        out.append(make_record(f"r{i}", context=ctx))
    return out


def test_fairness_score_is_the_mean_over_audited_dimensions() -> None:
    records = _records(
        {
            "relationship_stage": ["early", "established"] * 50,  # balance 1.0
            "language": ["en"] * 90 + ["es"] * 10,  # balance 0.469
            "age_band": ["25-34"] * 10 + [""] * 90,  # 10 % known: not audited
        }
    )
    policy = AuditPolicy(dimensions=["relationship_stage", "language", "age_band"])
    audit = bias_audit(records, policy, 85.0)
    assert audit["audited_dimensions"] == ["relationship_stage", "language"]
    expected = (100.0 + 100.0 * balance([90, 10])) / 2
    assert audit["fairness_score"] == pytest.approx(expected, abs=0.01)
    assert audit["below_target"] is True
    text = "\n".join(audit["recommendations"])
    assert "language: 'es' is 10.0% of records" in text
    assert "age_band: known for only 10% of records" in text


def test_expected_groups_that_are_absent_count_as_gaps() -> None:
    records = _records({"relationship_type": ["heterosexual"] * 60 + ["same_sex"] * 40})
    policy = AuditPolicy(
        dimensions=["relationship_type"],
        expected_values={"relationship_type": ["heterosexual", "same_sex", "polyamorous"]},
    )
    audit = bias_audit(records, policy, 85.0)
    dim = audit["dimensions"]["relationship_type"]
    assert dim["groups"]["polyamorous"] == {"count": 0, "share": 0.0}
    assert [g["group"] for g in dim["gaps"]] == ["polyamorous"]
    entropy = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    assert dim["score"] == pytest.approx(100 * entropy / math.log(3), abs=1e-3)  # k = 3: the absent group counts
    assert any("'polyamorous' is 0.0%" in r for r in audit["recommendations"])


def test_single_group_and_missing_dimensions() -> None:
    records = _records({"language": ["en"] * 20})
    audit = bias_audit(records, AuditPolicy(dimensions=["language", "culture"]), 85.0)
    assert audit["dimensions"]["language"]["score"] == 0.0
    assert audit["fairness_score"] == 0.0
    assert any("every record is 'en'" in r for r in audit["recommendations"])
    assert any(r.startswith("culture: no record states it") for r in audit["recommendations"])


def test_balanced_data_meets_the_target() -> None:
    records = _records(
        {"gender_user": ["female", "male"] * 30, "relationship_stage": ["early", "established", "long_term"] * 20}
    )
    audit = bias_audit(records, AuditPolicy(dimensions=["gender_user", "relationship_stage"]), 85.0)
    assert audit["fairness_score"] == 100.0
    assert audit["below_target"] is False


def test_records_needed_reaches_the_floor() -> None:
    needed = records_to_parity_floor(count=10, known=100, floor_share=0.25)
    assert (10 + needed) / (100 + needed) >= 0.25
    assert (10 + needed - 1) / (100 + needed - 1) < 0.25
