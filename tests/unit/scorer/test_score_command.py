"""`crucible score IN.jsonl --out OUT.jsonl` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crucible.scorer.offline import ScoreReport, score_lines


def test_score_lines_reads_plain_and_scrubber_lines_and_reports_bad_ones(scorer_models) -> None:
    from crucible.scorer.core import ScorerStage
    from crucible.scorer.policy import ScorerPolicy

    lines = [
        json.dumps(
            {
                "text": "What's a fun date idea for a rainy day?",
                "reply": "Try an indoor picnic with a movie.",
                "signals": {"satisfaction": 9, "action_taken": True},
            }
        ),
        json.dumps({"text": "raw [PII]", "scrubbed_text": "He hit me again and I'm scared to go home.", "spans": []}),
        "not json",
        json.dumps({"reply": "no text"}),
        json.dumps({"text": "hello", "signals": {"satisfaction": "very", "positive_outcome": 1}}),
        "",
    ]
    report = ScoreReport()
    out = [json.loads(x) for x in score_lines(ScorerStage(ScorerPolicy(), scorer_models), lines, report)]
    assert report.written == 3 and [n for n, _ in report.bad_lines] == [3, 4]
    first, crisis, bad_signals = out
    assert set(first["quality"]) == {"total", "components", "measures"}
    assert first["quality"]["components"]["outcome.action_taken"] == 1.5
    assert first["category"] and first["safety"]
    assert crisis["outcome"] == "held" and "unsafe_environment" in {s["label"] for s in crisis["safety"]}
    assert crisis["spans"] == [] and crisis["text"] == "raw [PII]"  # input fields kept
    assert any("satisfaction" in i for i in bad_signals["issues"])


def test_the_score_command_end_to_end(tmp_path: Path, scorer_store) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "We argued about chores.", "reply": "That sounds frustrating."}) + "\n")
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, CRUCIBLE_HOME=str(tmp_path / "home"), CRUCIBLE_ARTIFACTS_URL=scorer_store.root_url,
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "score", str(src), "--out", str(out)],
        check=False, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert 0 <= line["quality"]["total"] <= 10 and line["category"] and line["outcome"] in ("kept", "rejected", "held")
    missing = subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "score", str(tmp_path / "nope.jsonl"), "--out", str(out)],
        check=False, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_score_reads_stdin_writes_stdout_and_prints_a_json_summary(tmp_path: Path, scorer_store) -> None:
    line = json.dumps({"text": "We argued about chores.", "reply": "That sounds frustrating."}) + "\n"
    env = dict(os.environ, CRUCIBLE_HOME=str(tmp_path / "home"), CRUCIBLE_ARTIFACTS_URL=scorer_store.root_url,
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")  # fmt: skip
    cli = [sys.executable, "-m", "crucible.common.cli", "score"]
    piped = subprocess.run(cli, input=line, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert piped.returncode == 0, piped.stderr
    (scored,) = [json.loads(x) for x in piped.stdout.splitlines()]  # stdout holds the records only
    assert scored["text"] == "We argued about chores." and "quality" in scored
    out = tmp_path / "o.jsonl"
    summary = subprocess.run(
        [*cli, "-", "--out", str(out), "--json"], input=line, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["written"] == 1 and len(out.read_text().splitlines()) == 1
