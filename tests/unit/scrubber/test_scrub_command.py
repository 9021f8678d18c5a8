"""`crucible scrub IN.jsonl --out OUT.jsonl`: spans into the original text, bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from crucible.scrubber.cli import register_cli


def _app() -> typer.Typer:
    app = typer.Typer()
    register_cli(app)

    @app.command()
    def _other() -> None:  # a second command keeps `scrub` a named subcommand, as in `crucible`
        pass

    return app


def test_scrub_writes_spans_and_reports_bad_lines(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    good = {
        "text": "Tomasz Okonkwo's email is t.ok@example.com",
        "known_entities": {"User": ["Tomasz Okonkwo"]},
        "id": 7,
    }
    src.write_text(
        "\n".join(
            [json.dumps(good), "{not json", json.dumps({"no_text": 1}), json.dumps({"text": "My sister Ana called."})]
        )
        + "\n"
    )
    result = CliRunner().invoke(_app(), ["scrub", str(src), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{src}:2: skipped" in result.output and f"{src}:3: skipped" in result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert first["id"] == 7 and first["known_entities"] == good["known_entities"]
    assert first["scrubbed_text"] == "[User]'s email is [Email]"
    assert [(good["text"][s["start"] : s["end"]], s["entity_type"]) for s in first["spans"]] == [
        ("Tomasz Okonkwo", "USER"),
        ("t.ok@example.com", "EMAIL_ADDRESS"),
    ]
    assert lines[1]["scrubbed_text"] == "My sister [Person] called."


def test_scrub_exits_zero_when_every_line_is_good(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "nothing to hide"}) + "\n")
    result = CliRunner().invoke(_app(), ["scrub", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 0, result.output
