"""Scrubber service shell: wires the pure core into the platform (worker, CLI, bench, summary)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crucible.common.services import ServiceSpec, deferred
from crucible.scrubber import __version__

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime
    from crucible.common.stage import Sink, Stage

_STAGE = None


def make_stage(runtime: Runtime) -> Stage:
    """One Scrubber per process: the detector's word lists take about a second to build."""
    global _STAGE
    if _STAGE is None:
        from crucible.scrubber.core import Scrubber
        from crucible.scrubber.offline import use_bundled_suffix_list

        use_bundled_suffix_list()
        _STAGE = Scrubber.create()
    return _STAGE


def make_sink(runtime: Runtime) -> Sink:
    from crucible.scrubber.tally import TallySink

    return TallySink(runtime.artifacts)


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
    make_stage=make_stage,
    make_sink=make_sink,
    register_cli=deferred("crucible.scrubber.cli:register_cli"),
    benches={
        "scrub": deferred(
            "crucible.scrubber.bench:run_bench",
            doc="Scrubber: span precision/recall on presidio-synth and throughput vs Presidio's AnalyzerEngine.",
        )
    },
    run_summary=run_summary,
)
