"""How the scrubber plugs into the platform: discovered by entry point, stage and sink built together."""

from __future__ import annotations

from crucible.common.services import ServiceSpec
from crucible.common.stage import Stage
from crucible.v1 import records_pb2


def test_spec_wires_the_stage_into_the_worker(runtime) -> None:
    from importlib.metadata import entry_points

    from crucible.scrubber.tally import TallySink

    (ep,) = [e for e in entry_points(group="crucible.services") if e.name == "scrubber"]
    spec = ep.load()
    assert isinstance(spec, ServiceSpec)
    assert (spec.name, spec.consumes, spec.produces) == ("scrubber", "records.raw", "records.scrubbed")
    assert "scrub" in spec.benches and spec.register_cli is not None
    block = spec.build_stage(runtime)
    assert isinstance(block.stage, Stage) and block.stage.name == "scrubber"
    assert isinstance(block.sink, TallySink)


def test_stage_processes_a_batch_and_leaves_provenance_to_the_worker(runtime) -> None:
    from crucible.scrubber.service import build_stage

    rec = records_pb2.Record(record_id="x")
    rec.turns.add(role="user", text="Email me at ana@example.org")
    rec.private_context["known_entities"] = '{"User": ["Ana"]}'
    result = build_stage(runtime).stage.process([rec])
    (out,) = result.kept
    assert out.turns[0].text == "Email me at [Email]"
    assert dict(out.redactions) == {"Email": 1}
    assert not out.provenance  # stamped by the worker (test_scrubber_bus), not twice
    assert not out.private_context


def test_tallies_add_up_once_per_record_across_redelivered_batches(tmp_path, runtime) -> None:
    from crucible.common.artifacts import ArtifactStore
    from crucible.scrubber.service import build_stage
    from crucible.scrubber.tally import TallySink, summarize

    store = ArtifactStore(tmp_path.as_uri())
    sink = TallySink(store)
    good = records_pb2.Record(record_id="a", extraction=records_pb2.Extraction(run_id="run1"))
    good.turns.add(role="user", text="Tomasz here, tomasz@example.org")
    good.private_context["known_entities"] = '{"User": ["Tomasz"]}'
    leaky = records_pb2.Record(record_id="b", extraction=records_pb2.Extraction(run_id="run1"))
    leaky.turns.add(role="user", text="we met at blue-heron bistro")
    leaky.private_context["known_identifiers"] = '["Blue Heron Bistro"]'
    stage = build_stage(runtime).stage
    first = stage.process([good, leaky])
    sink.persist(first)
    sink.persist(stage.process([good, leaky]))  # a redelivered batch
    sink.persist(stage.process([good]))  # the same record again, in another batch
    summary = summarize(store, "run1")
    assert summary == {
        "records_scrubbed": 1,
        "redactions": {"Email": 1, "User": 1},
        "residual_rejections": 1,
        "rejections": {"residual_pii": 1},
    }
    stored = "".join(store.read_text(k) for k in store.list("scrubber"))
    assert "tomasz" not in stored.lower() and "heron" not in stored.lower()


def test_quick_bench_reports_quality_throughput_and_known_entities() -> None:
    import pytest

    from crucible.scrubber.bench import default_dataset, run_bench

    if not default_dataset().exists():
        pytest.skip("benchmark data not present")
    result = run_bench(quick=True)
    for part in ("held_out", "dev", "all"):
        assert 0.0 <= result[part]["recall"] <= 1.0 and 0.0 <= result[part]["precision"] <= 1.0
        assert set(result[part]["per_type"]) >= {"PERSON", "STREET_ADDRESS", "CREDIT_CARD", "US_SSN"}
    tp = result["throughput"]
    assert tp["scrubber_records_per_s"] > 0 and tp["baseline_presidio_analyzer_records_per_s"] > 0
    assert result["known_entities"]["surviving"] == 0 and result["known_entities"]["mentions_planted"] > 0
    assert tp["baseline_presidio_spacy_sm_records_per_s"] > 0 and tp["ratio_vs_presidio_spacy_sm"] > 0
    clean = result["clean_control"]
    assert clean["scrubber"]["messages"] >= 200
    assert 0.0 <= clean["scrubber"]["over_redaction"] <= 1.0
    assert clean["presidio_spacy_sm"]["messages"] == clean["scrubber"]["messages"]


def test_over_redaction_counts_messages_and_letters() -> None:
    from crucible.scrubber.control import clean_messages, over_redaction

    messages = ["I went home.", "Call Anna later.", "List:\nmilk"]
    figures = over_redaction(messages, [[], [(5, 9, "PERSON")], []])
    assert figures["messages_with_redaction"] == 1 and figures["over_redaction"] == round(1 / 3, 4)
    assert figures["chars_redacted"] == round(4 / sum(c.isalnum() for m in messages for c in m), 4)
    assert any("\n" in m for m in clean_messages()) and not any(m.startswith("#") for m in clean_messages())
