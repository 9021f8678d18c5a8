"""The shell: SPEC wiring, thresholds from crucible.yaml, the diversity counts seeded from the curated store."""

from __future__ import annotations

from scorer_helpers import make_record

from crucible.common.config import Settings, load_policy
from crucible.common.registry import CuratedRecord
from crucible.common.runtime import Runtime
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.service import SPEC, build_stage, run_summary


def runtime_with(tmp_path, scorer_store, yaml_text: str) -> Runtime:
    policy_file = tmp_path / "crucible.yaml"
    policy_file.write_text(yaml_text)
    settings = Settings(home=tmp_path / "home", artifacts_url=scorer_store.root_url, policy_file=policy_file)
    return Runtime.create(settings, load_policy(policy_file, {"scorer": ScorerPolicy}))


def test_spec_plugs_into_the_pipeline() -> None:
    assert (SPEC.name, SPEC.consumes, SPEC.produces) == ("scorer", "records.scrubbed", "records.scored")
    assert SPEC.policy_class() is ScorerPolicy and "score" in SPEC.benches
    assert SPEC.build_stage is build_stage


def test_the_threshold_comes_from_the_policy_file(tmp_path, scorer_store) -> None:
    runtime = runtime_with(tmp_path, scorer_store, "scorer:\n  threshold: 1.0\n  review_margin: 0.0\n")
    try:
        stage = build_stage(runtime).stage
        assert stage.policy.threshold == 1.0
        weak = make_record("weak", "date idea?", "Go bowling, it is cheap and fun for both of you on a weekday night.")
        result = stage.process([weak])
        assert [r.record_id for r in result.kept] == ["weak"]  # 1.0 point is enough under this policy
        assert 1.0 <= result.kept[0].quality.total < 7.0
        assert run_summary(runtime, runtime.run_id)["review_queue"] == {}
    finally:
        runtime.registry.dispose()


def test_diversity_counts_start_from_the_curated_store(tmp_path, scorer_store) -> None:
    runtime = runtime_with(tmp_path, scorer_store, "scorer: {}\n")
    try:
        with runtime.registry.session() as s:
            for i in range(5):
                rec = make_record(f"c{i}", "hi", "hello", context={"relationship_type": "same_sex"})
                s.add(CuratedRecord(record_id=f"c{i}", subject_token="t", source_table="checkins", source_key=str(i),
                                    kind="checkin", category="personalization", record=rec.SerializeToString(),
                                    duplicate_of="" if i < 4 else "c0"))  # fmt: skip
        stage = build_stage(runtime).stage
        assert stage.distribution.total == 4  # the duplicate is not counted
        assert stage.distribution.categories["personalization"] == 4
    finally:
        runtime.registry.dispose()
