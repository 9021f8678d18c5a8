"""How the scrubber plugs into the platform: discovered by entry point, one stage per process."""

from __future__ import annotations

from crucible.common.services import ServiceSpec
from crucible.common.stage import Stage
from crucible.v1 import records_pb2


def test_spec_wires_the_stage_into_the_worker() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="crucible.services") if e.name == "scrubber"]
    spec = ep.load()
    assert isinstance(spec, ServiceSpec)
    assert (spec.name, spec.consumes, spec.produces) == ("scrubber", "records.raw", "records.scrubbed")
    assert "scrub" in spec.benches and spec.register_cli is not None
    stage = spec.make_stage(None)  # the stage needs nothing from the runtime
    assert isinstance(stage, Stage) and stage.name == "scrubber"
    assert spec.make_stage(None) is stage  # built once per process


def test_stage_processes_a_batch_and_stamps_provenance() -> None:
    from crucible.scrubber.service import make_stage

    rec = records_pb2.Record(record_id="x")
    rec.turns.add(role="user", text="Email me at ana@example.org")
    rec.private_context["known_entities"] = '{"User": ["Ana"]}'
    result = make_stage(None).process([rec])
    (out,) = result.kept
    assert out.turns[0].text == "Email me at [Email]"
    assert dict(out.redactions) == {"Email": 1}
    assert out.provenance[-1].stage == "scrubber" and out.provenance[-1].version
    assert not out.private_context
