"""Scrubber service shell: wires the pure core into the platform (worker, CLI, bench, summary)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crucible.common.services import ServiceSpec
from crucible.scrubber.cli import register_cli

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime
    from crucible.common.stage import Stage

VERSION = "0.1.0"
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


def bench_scrub(quick: bool = False) -> dict[str, Any]:
    """Scrubber: span precision/recall on presidio-synth and throughput vs Presidio's AnalyzerEngine."""
    from crucible.scrubber.bench import run_bench

    return run_bench(quick=quick)


def run_summary(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """Residual-PII rejections recorded for this run (records scrubbed and redaction counts come
    from the worker's metrics and the records' `redactions` downstream)."""
    from sqlalchemy import func, select

    from crucible.common.registry import RejectionRow

    with runtime.registry.session() as s:
        rows = s.execute(
            select(RejectionRow.reason, func.count())
            .where(RejectionRow.stage == "scrubber", RejectionRow.run_id == run_id)
            .group_by(RejectionRow.reason)
        ).all()
    return {"rejections": {reason: count for reason, count in rows}}


SPEC = ServiceSpec(
    name="scrubber",
    version=VERSION,
    description="Raw records -> PII-free records (Presidio + offline name detection)",
    order=10,
    consumes="records.raw",
    produces="records.scrubbed",
    make_stage=make_stage,
    register_cli=register_cli,
    benches={"scrub": bench_scrub},
    run_summary=run_summary,
)
