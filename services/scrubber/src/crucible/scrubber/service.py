"""Scrubber service shell: wires the pure core into the platform (worker, CLI, bench, summary)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crucible.common.services import ServiceSpec, deferred
from crucible.scrubber import __version__

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime
    from crucible.common.stage import StageBlock


def build_stage(runtime: Runtime) -> StageBlock:
    """The Scrubber (its detector's word lists take about a second: built once per worker)
    and the sink that tallies redactions into the artifact store."""
    from crucible.common.stage import StageBlock
    from crucible.scrubber.core import Scrubber
    from crucible.scrubber.offline import use_bundled_suffix_list
    from crucible.scrubber.tally import TallySink

    use_bundled_suffix_list()
    return StageBlock(Scrubber.create(runtime.policy.section("scrubber")), TallySink(runtime.artifacts))


def run_summary(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """Records scrubbed, redactions by type, residual rejections for this run (from the sink's tallies)."""
    from crucible.scrubber.tally import summarize

    return summarize(runtime.artifacts, run_id)


SPEC = ServiceSpec(
    name="scrubber",
    version=__version__,
    description="Raw records -> PII-free records (Presidio + offline name detection)",
    order=10,
    consumes="records.raw",
    produces="records.scrubbed",
    policy_model="crucible.scrubber.policy:ScrubberPolicy",
    build_stage=build_stage,
    register_cli=deferred("crucible.scrubber.cli:register_cli"),
    benches={
        "scrub": deferred(
            "crucible.scrubber.bench:run_bench",
            doc="Scrubber: span precision/recall on presidio-synth and throughput vs Presidio's AnalyzerEngine.",
        )
    },
    run_summary=run_summary,
    subject_stores=("crucible.scrubber.tally_store:STORE",),
)
