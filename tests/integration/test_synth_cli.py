"""`crucible synth plan|run|review|admit` through the real commands, on a real NATS server and a
local OpenAI-compatible endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crucible.common.config import Settings
from crucible.common.runtime import Runtime
from crucible.synthesizer.cli import register
from crucible.synthesizer.loopback import loopback_provider
from tests.integration.test_synth_bus import seed_store


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def _json(text: str) -> dict:
    return json.JSONDecoder().raw_decode(text[text.index("{") :])[0]


@pytest.fixture
def cli_env(tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CRUCIBLE_HOME", str(home))
    monkeypatch.setenv("CRUCIBLE_NATS_URL", nats_url)
    monkeypatch.setenv("CRUCIBLE_LOG_JSON", "false")
    monkeypatch.setenv("CRUCIBLE_SUBJECT_SECRET", "cli-test")
    with loopback_provider() as (url, state):
        policy = tmp_path / "crucible.yaml"
        policy.write_text(
            "synthesizer:\n"
            f"  endpoints: [{{name: local, url: '{url}', model: loopback}}]\n"
            "  review: {sample_size: 2}\n"
        )
        monkeypatch.chdir(tmp_path)
        yield home, state


def test_plan_run_review_admit(cli_env, tmp_path: Path) -> None:
    home, _state = cli_env
    runner, app = CliRunner(), _app()
    empty = runner.invoke(app, ["synth", "plan", "--json"])
    assert empty.exit_code == 1 and "no dataset version yet" in empty.output

    rt = Runtime.create(Settings(home=home))
    seed_store(rt, deficits={"empathetic_dialogue": 4, "safety_ethics": 2})
    rt.registry.dispose()
    planned = runner.invoke(app, ["synth", "plan", "--json"])
    assert planned.exit_code == 0, planned.output
    plan = _json(planned.stdout)
    assert plan["items"] == 6 and plan["by_category"] == {"empathetic_dialogue": 4, "safety_ethics": 2}

    out = tmp_path / "generated.jsonl"
    ran = runner.invoke(app, ["synth", "run", "--out", str(out), "--json"])
    assert ran.exit_code == 0, ran.output
    report = _json(ran.stdout)
    assert report["generated"] == 6 and report["admission"]["status"] == "awaiting_review"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 6 and {r["source"]["table"] for r in lines} == {"synthetic"}

    again = runner.invoke(app, ["synth", "run", "--json"])  # the same plan: nothing new
    assert _json(again.stdout)["already_done"] == 6 and _json(again.stdout)["requests"] == 0

    listed = _json('{"items": ' + runner.invoke(app, ["synth", "review", "list", "--json"]).stdout + "}")["items"]
    assert len(listed) == 2
    no_by = runner.invoke(app, ["synth", "review", "approve", listed[0]["record_id"]])
    assert no_by.exit_code != 0 and "--by" in no_by.output
    for item in listed:
        done = runner.invoke(app, ["synth", "review", "approve", item["record_id"], "--by", "ana"])
        assert done.exit_code == 0, done.output
    admitted = runner.invoke(app, ["synth", "admit", plan["plan_id"], "--json"])
    assert admitted.exit_code == 0, admitted.output
    assert _json(admitted.stdout)["status"] == "admitted" and _json(admitted.stdout)["published"] == 6


def test_bad_arguments_are_one_line_errors(cli_env) -> None:
    runner, app = CliRunner(), _app()
    bad = runner.invoke(app, ["synth", "run", "--category", "gossip", "--n", "3", "--no-publish"])
    assert bad.exit_code == 2 and "unknown category 'gossip'" in bad.output
    half = runner.invoke(app, ["synth", "run", "--n", "3", "--no-publish"])
    assert half.exit_code == 2 and "--category and --n together" in half.output
    unknown = runner.invoke(app, ["synth", "admit", "plan-nope"])
    assert unknown.exit_code == 1 and "has not been generated" in unknown.output


def test_run_by_category_without_a_dataset(cli_env) -> None:
    _home, state = cli_env
    runner, app = CliRunner(), _app()
    ran = runner.invoke(app, ["synth", "run", "--category", "personalization", "--n", "3", "--no-publish", "--json"])
    assert ran.exit_code == 0, ran.output
    report = _json(ran.stdout)
    assert report["generated"] == 3 and "admission" not in report
    assert report["usage"]["local"]["successes"] == 6 and len(state.log) == 6
