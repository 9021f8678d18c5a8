"""`crucible models init-tiny` and `crucible train --follow` through the real CLI commands,
on a real NATS server."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from crucible.trainer.cli import register
from crucible.trainer.corpus import coaching_dialogues


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def test_init_tiny_then_train_with_follow(tmp_path: Path, nats_url: str, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CRUCIBLE_HOME", str(home))
    monkeypatch.setenv("CRUCIBLE_NATS_URL", nats_url)
    monkeypatch.setenv("CRUCIBLE_LOG_JSON", "false")
    monkeypatch.chdir(tmp_path)  # no stray crucible.yaml
    runner = CliRunner()
    app = _app()
    built = runner.invoke(app, ["models", "init-tiny", str(home / "models" / "tiny-base"), "--steps", "10"])
    assert built.exit_code == 0, built.output
    info, _ = json.JSONDecoder().raw_decode(built.stdout[built.stdout.index("{") :])  # logs go to stderr
    assert info["parameters"] > 100_000 and (home / "models" / "tiny-base" / "tokenizer.json").exists()
    splits = []
    for name, n in (("train", 12), ("val", 4)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in coaching_dialogues(n, seed=n)))
        splits.append(path)
    args = [
        "train",
        "--train-file",
        str(splits[0]),
        "--val-file",
        str(splits[1]),
        "--job-id",
        "cli-job",
        "--set",
        "max_steps=3",
        "--set",
        "progress_every_steps=1",
        "--set",
        "max_seq_length=128",
        "--follow",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "cli-job" in result.output  # the progress bar's label
    start = result.output.index('{\n  "job_id"')
    outcome, _ = json.JSONDecoder().raw_decode(result.output[start:])
    assert outcome["status"] == "succeeded" and outcome["metrics"]["global_step"] == 3
    # Bad input: non-zero exit and the reason.
    bad = runner.invoke(app, ["train", "--dataset-version", "nope_v0"])
    assert bad.exit_code == 1 and "does not exist" in bad.output
