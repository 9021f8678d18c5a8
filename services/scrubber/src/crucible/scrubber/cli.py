"""The scrubber's commands on the `crucible` CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crucible.common.cli_support import SummaryJsonOpt


def scrub(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="[IN.jsonl]",
            help="JSON lines with `text` (+ `known_entities`); - or none: stdin.",
            show_default=False,
        ),
    ] = Path("-"),
    out: Annotated[
        Path,
        typer.Option("--out", help="Where to write the scrubbed JSON lines; - or none: stdout.", show_default=False),
    ] = Path("-"),
    as_json: SummaryJsonOpt = False,
) -> None:
    """Scrub PII from JSON lines: adds `scrubbed_text` and `spans` to every line."""
    from crucible.common import jsonl_io
    from crucible.scrubber.detect import Detector
    from crucible.scrubber.jsonl import ScrubReport, scrub_lines

    jsonl_io.check_paths(input_path, out, as_json=as_json, in_name="IN.jsonl")
    detector = Detector.create()
    report = ScrubReport()
    with (
        jsonl_io.open_input(input_path) as src,
        jsonl_io.open_output(out) as dst,
        jsonl_io.progress("scrubbing", jsonl_io.input_size(input_path)) as advance,
    ):
        for line in scrub_lines(detector, jsonl_io.tracked(src, advance), report):
            dst.write(line + "\n")
    for number, why in report.bad_lines:
        typer.echo(f"{input_path}:{number}: skipped: {why}", err=True)
    summary = {"written": report.written, "bad_lines": len(report.bad_lines), "out": str(out)}
    jsonl_io.emit_summary(
        summary,
        as_json=as_json,
        text=f"scrubbed {report.written} line(s) -> {out}; skipped {len(report.bad_lines)} bad line(s)",
    )
    if report.bad_lines:
        raise typer.Exit(1)


scrubber_app = typer.Typer(
    help="The scrubber's built parts: train the span tagger, derive the name-first word list, compile the rules.",
    no_args_is_help=True,
)


@scrubber_app.command("train-tagger")
def train_tagger(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the weights (default: the package's data/span_tagger.npz)."),
    ] = None,
    n_train: Annotated[int, typer.Option("--n-train", help="Generated training sentences.")] = 12000,
    n_val: Annotated[int, typer.Option("--n-val", help="Generated validation sentences (another seed).")] = 4000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the text, the split and torch.")] = 28,
    types: Annotated[
        str | None,
        typer.Option(
            "--types", help="Comma-separated types that may be kept (default: every type that passes the keep rule)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the training figures as JSON.")] = False,
) -> None:
    """Train the span tagger's head on generated text (Faker + our own frames; never a benchmark)."""
    import json

    from crucible.common.errors import UsageError
    from crucible.scrubber.tagger_train import train
    from crucible.scrubber.token_model import LABELS, WEIGHTS

    kept = [t.strip() for t in types.split(",")] if types else None
    if kept is not None and not set(kept) <= set(LABELS[1:]):
        raise UsageError(f"--types: unknown type in {types!r} (known: {', '.join(LABELS[1:])})")
    if n_train < 50 or n_val < 20:
        raise UsageError("--n-train must be >= 50 and --n-val >= 20")
    try:
        import torch  # noqa: F401 - training only; inference is numpy
    except ImportError:
        raise UsageError("train-tagger needs torch (pip install torch==2.13.0)") from None
    figures = train(out or WEIGHTS, n_train=n_train, n_val=n_val, seed=seed, types=kept)
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
    else:
        typer.echo(
            f"wrote {figures['out']}: kept {figures['kept'] or 'no type'}; "
            f"validation accuracy {figures['val_accuracy']}"
        )


@scrubber_app.command("derive-name-words")
def derive_name_words(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the list (default: the package's data/name_first_words.txt)."),
    ] = None,
) -> None:
    """Derive the names English uses above all as names ("john", "sarah") with spaCy's small English
    model, for the rules that read messages typed without capitals (name_first.py)."""
    from crucible.common.errors import UsageError
    from crucible.scrubber.baselines import SPACY_MODEL
    from crucible.scrubber.lexicon import lexicon
    from crucible.scrubber.name_first import NAME_FIRST_FILE, candidates_from, derive, write

    try:
        import spacy  # noqa: F401 - derivation only; the scrubber reads the stored list
    except ImportError:
        raise UsageError(f"derive-name-words needs spaCy and {SPACY_MODEL} (the bench's dependencies)") from None
    lex = lexicon()
    candidates = candidates_from(lex.first_names, lex.last_names, lex.frequency)
    words = derive(candidates, SPACY_MODEL)
    target = out or NAME_FIRST_FILE
    write(words, target)
    typer.echo(f"wrote {target}: {len(words)} of {len(candidates)} frequent listed names are names first")


@scrubber_app.command("compile")
def compile_rules(
    force: Annotated[bool, typer.Option("--force", help="Compile even when the compiled copy is current.")] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Only print the state: current, stale, absent or off.")
    ] = False,
) -> None:
    """Compile the detection rules to C with mypyc (native.py): about 1.4x faster detection, the same
    spans. A no-op when the compiled copy matches the sources; without it the scrubber runs as Python."""
    from crucible.common.errors import CrucibleError, UsageError
    from crucible.scrubber.native import NATIVE_DIR_NAME, PACKAGE_DIR, build, state

    current = state()
    if status:
        typer.echo(current)
        return
    if current == "current" and not force:  # nothing to build: the build tool need not be here
        typer.echo(f"compiled rules current: {PACKAGE_DIR / NATIVE_DIR_NAME}")
        return
    try:
        import mypyc  # noqa: F401 - a build tool (requirements-dev.txt), never needed to run
    except ImportError:
        raise UsageError("compile needs mypy's mypyc (pip install mypy==2.4.1) and a C compiler") from None
    try:
        result = build(force=force)
    except (Exception, SystemExit) as exc:  # setuptools reports a failed compiler run as SystemExit
        raise CrucibleError(
            f"compiling the scrubber's rules failed ({str(exc).strip().splitlines()[-1][:300]}); "
            "the scrubber runs as Python until a build succeeds"
        ) from None
    if result != "current":
        raise CrucibleError(f"the compiled rules are {result} after the build ({PACKAGE_DIR / NATIVE_DIR_NAME})")
    typer.echo(f"compiled rules current: {PACKAGE_DIR / NATIVE_DIR_NAME}")


def register_cli(app: typer.Typer) -> None:
    app.command("scrub")(scrub)
    app.add_typer(scrubber_app, name="scrubber")
