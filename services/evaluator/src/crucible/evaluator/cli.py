"""`crucible eval ...`: run an evaluation, export a blinded human-rating sample, ingest ratings,
and show the safety suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crucible.common.cli_support import runtime_from_env

eval_app = typer.Typer(help="Evaluate model versions: metrics, safety suite, pairwise rating, human evaluation.")


def _fail(err: Exception) -> None:
    # A model that is not in the registry is a missing object (1); the rest is bad input (2).
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(1 if isinstance(err, LookupError) else 2)


@eval_app.command("run")
def run_command(
    model: Annotated[str, typer.Argument(help="Model version name in the registry.")],
    test_file: Annotated[
        Path | None, typer.Option("--test-file", help="Chat JSONL test split (default: the model's dataset version).")
    ] = None,
    publish: Annotated[bool, typer.Option("--publish/--no-publish", help="Publish model.evaluated.")] = True,
) -> None:
    """Evaluate MODEL, write its report, record it in the registry and publish model.evaluated."""
    import asyncio

    from crucible.evaluator.model_source import ModelNotFound
    from crucible.evaluator.registered import evaluate_registered
    from crucible.evaluator.service import evaluate_and_publish, summary_of
    from crucible.evaluator.testset import TestSetError

    runtime = runtime_from_env()

    async def go() -> dict:
        if not publish:
            return summary_of(await asyncio.to_thread(evaluate_registered, runtime, model, test_file=test_file))
        from crucible.common.embedded import connected_bus

        async with connected_bus(runtime) as bus:
            return await evaluate_and_publish(runtime, model, bus, test_file=test_file)

    try:
        summary = asyncio.run(go())
    except (ModelNotFound, TestSetError, ValueError) as err:
        _fail(err)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True))
    if not summary["passed"]:
        raise typer.Exit(1)


@eval_app.command("sample")
def sample_command(
    n: Annotated[int, typer.Option("--n", min=1, help="Items to export.")] = 100,
    model: Annotated[str | None, typer.Option("--model", help="Model version (default: newest evaluated).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Sampling and shuffling seed.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Where to write the rating file.")] = Path("human_eval.jsonl"),
) -> None:
    """Write N prompts with both models' answers, shuffled and blinded, for people to rate."""
    from crucible.evaluator.human_eval import HumanEvalError, export_sample

    try:
        result = export_sample(runtime_from_env(), model, n, seed, out)
    except HumanEvalError as err:
        _fail(err)
    typer.echo(json.dumps(result, indent=2))
    typer.echo(
        "Rate each answer: empathy, helpfulness, accuracy, personalization 1-5; safety pass/fail; "
        "preferred 1, 2 or tie. Then: crucible eval ingest " + str(out),
        err=True,
    )


@eval_app.command("ingest")
def ingest_command(
    file: Annotated[Path | None, typer.Argument(help="The rated file from `crucible eval sample`.")] = None,
    sample: Annotated[
        str | None, typer.Option("--sample", help="Ingest the ratings given in the web console for this sample id.")
    ] = None,
) -> None:
    """Read human ratings (a rated file, or the console's for --sample) into the model's report and registry."""
    from crucible.evaluator.human_eval import HumanEvalError, ingest_ratings, ingest_sample

    if (file is None) == (sample is None):
        _fail(ValueError("give either a rated FILE or --sample ID"))
    try:
        result = ingest_sample(runtime_from_env(), sample) if sample else ingest_ratings(runtime_from_env(), file)
    except HumanEvalError as err:
        _fail(err)
    typer.echo(json.dumps(result, indent=2, sort_keys=True))


@eval_app.command("suite")
def suite_command(
    path: Annotated[Path | None, typer.Option("--path", help="A suite JSONL (default: the shipped one).")] = None,
) -> None:
    """Validate and count the safety suite's cases per category."""
    from collections import Counter

    from crucible.evaluator.safety_suite import SuiteError, load_suite

    try:
        cases, _ = load_suite(path)
    except SuiteError as err:
        _fail(err)
    typer.echo(json.dumps({"cases": len(cases), "by_category": dict(Counter(c.category for c in cases))}, indent=2))


def register_cli(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
