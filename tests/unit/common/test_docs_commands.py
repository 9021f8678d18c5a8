"""Every `crucible ...` command the docs show (fenced blocks and inline code) runs as written: its
subcommands exist, `--help` answers, and each option it names is one the command takes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

DOCS = Path(__file__).resolve().parents[3] / "docs"
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`(crucible [^`]+)`")
# `crucible` as the command word: a line's first word, or after `-- ` (kubectl exec), `&&` or `;`.
_COMMAND = re.compile(r"(?:^\s*(?:\$\s+)?|--\s+|&&\s*|;\s*)(crucible\s+[a-z-][^\n#]*)")


def documented_commands() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for doc in sorted(DOCS.glob("*.md")):
        text = doc.read_text()
        for block in _FENCE.findall(text):
            for line in block.splitlines():
                found += [(doc.name, m.strip()) for m in _COMMAND.findall(line)]
        found += [(doc.name, m.strip()) for m in _INLINE.findall(_FENCE.sub("", text))]
    return sorted({(d, c) for d, c in found if not re.match(r"crucible\s+(\.\.\.|<)", c)})


def _tokens(command: str) -> list[str]:
    command = re.sub(r"[\[\]{}]", " ", command.split(" # ", maxsplit=1)[0])
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return [w.split("|")[0] for w in words[1:]]


@pytest.fixture(scope="module")
def cli() -> tuple[typer.Typer, click.Command]:
    from crucible.common.cli import build_app

    app = build_app()
    return app, typer.main.get_command(app)


@pytest.mark.parametrize(("doc", "command"), documented_commands())
def test_documented_command_parses(cli: tuple[typer.Typer, click.Command], doc: str, command: str) -> None:
    app, root = cli
    path: list[str] = []
    node = root
    tokens = _tokens(command)
    # A placeholder (`<name>`, `...`) stands for any subcommand: the path up to it must exist.
    while tokens and hasattr(node, "get_command") and not tokens[0].startswith(("-", "<", "...")):
        name = tokens.pop(0)
        sub = node.get_command(click.Context(node), name)
        assert sub is not None, f"{doc}: `{command}`: no command `{' '.join([*path, name])}`"
        path.append(name)
        node = sub
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, f"{doc}: `{command}`: --help failed: {result.output[-500:]}"
    if tokens and tokens[0].startswith(("<", "...")):
        return  # options of a subcommand the doc leaves open
    known = {opt for p in node.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
    for token in tokens:
        if token.startswith("-") and token not in ("-", "--"):
            option = token.split("=")[0]
            assert option in known, f"{doc}: `{command}`: `crucible {' '.join(path)}` has no option {option}"


def test_the_docs_show_commands() -> None:
    assert len(documented_commands()) > 40
