"""`crucible run`'s final view: every figure is a row (nothing cut), and a location is never
put in a table cell where rich would wrap it mid-way."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from crucible.common.run_view import RunView, summary_rows

LONG_URI = "file:///tmp/" + "deep/" * 40 + "report.json"
SUMMARY = {
    "status": "succeeded",
    "seconds": 12.5,
    "summary_path": "/tmp/" + "runs/" * 30 + "summary.json",
    "stages": [{"stage": "scrubber", "in": 3, "out": 3, "rejected": {}, "held": {}, "dlq": {}}],
    "details": {"scrubber": {"records_scrubbed": 3, "redactions": {"Email": 2}}},
    "control_plane": {
        "evaluator": {"passed": True, "report_uri": LONG_URI, "metrics": {"bleu": 0.123456}, "trace": ["x"] * 9},
        "gateway": {"notes": ["n" * 3000], "stages": [10, 25, 50, 100]},
    },
}


def test_every_figure_is_a_row_and_locations_are_kept_apart() -> None:
    rows, locations = summary_rows(SUMMARY)
    assert ("scrubber", "redactions.Email", "2") in rows
    assert ("evaluator", "metrics.bleu", "0.1235") in rows
    assert ("gateway", "stages", "10, 25, 50, 100") in rows
    assert ("gateway", "notes.1", "n" * 3000) in rows  # no 2,000-character cut
    assert not any(key == "trace" or key.startswith("trace.") for _, key, _ in rows)
    assert locations == [("evaluator report_uri", LONG_URI)]


def test_the_final_view_prints_long_uris_whole_on_a_narrow_terminal() -> None:
    console = Console(width=60, file=io.StringIO(), force_terminal=False, color_system=None)
    runtime = SimpleNamespace(settings=SimpleNamespace(resolved_artifacts_url=lambda: LONG_URI))
    RunView(runtime, console).final(SUMMARY)  # type: ignore[arg-type]
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert any(line.endswith(LONG_URI) for line in lines)  # on one line, whole
    assert any(line.endswith(SUMMARY["summary_path"]) for line in lines)
    assert sum(line.count("n") for line in lines) >= 3000
    assert "records per stage" in console.file.getvalue()  # type: ignore[attr-defined]
