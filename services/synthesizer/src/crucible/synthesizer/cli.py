"""`crucible synth plan|run|review|admit|status`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from crucible.common.cli_support import runtime_from_env

PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Policy YAML (default: ./crucible.yaml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def _echo(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else text)


async def _with_bus(runtime: Any, fn: Any) -> Any:
    from crucible.common.embedded import connected_bus

    async with connected_bus(runtime):
        return await fn()


def register(app: typer.Typer) -> None:
    synth = typer.Typer(
        help="Synthetic conversations for what the data lacks: plan from the latest dataset version, "
        "generate through the endpoint chain, review, admit.",
        no_args_is_help=True,
    )
    app.add_typer(synth, name="synth")

    @synth.command("plan")
    def plan_cmd(policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
        """Show the generation plan for the latest dataset version's deficits (nothing is generated)."""
        from crucible.synthesizer.ledger import Ledger
        from crucible.synthesizer.plan import plan_summary
        from crucible.synthesizer.synthesis import plan_latest

        runtime = runtime_from_env(policy)
        try:
            plan = plan_latest(runtime)
            if plan is None:
                typer.echo("no dataset version yet: build one with `crucible dataset build`", err=True)
                raise typer.Exit(1)
            summary = plan_summary(plan, sorted(Ledger(runtime.artifacts, plan.plan_id).done_items()))
        finally:
            runtime.registry.dispose()
        needs = summary["needs"]
        lines = [
            f"plan {summary['plan_id']} for dataset {summary['dataset_version']}: {summary['items']} conversations "
            f"({summary['done']} done)",
            f"  why: {summary['reason']}",
            f"  fairness {needs.get('fairness_score', 0):.1f} (target {needs.get('fairness_target', 0):g}); "
            f"synthetic room {summary['synthetic_room']}",
        ]
        lines += [f"  {c:<26} {n:>5}" for c, n in summary["by_category"].items()]
        for dim, groups in summary["scenarios"].items():
            lines.append(f"  scenarios {dim}: " + ", ".join(f"{g} {n}" for g, n in sorted(groups.items())))
        _echo(summary, as_json, "\n".join(lines))

    @synth.command("run")
    def run_cmd(
        category: Annotated[
            str | None, typer.Option("--category", help="Generate this category only (default: the latest plan).")
        ] = None,
        n: Annotated[
            int | None, typer.Option("--n", min=1, help="Conversations to generate (with --category).")
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Also write the generated Records here as JSONL (protobuf JSON)."),
        ] = None,
        publish: Annotated[
            bool,
            typer.Option(
                "--publish/--no-publish",
                help="Validate, then publish (auto-admit) or queue the review sample. --no-publish only generates.",
            ),
        ] = True,
        policy: PolicyOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Generate conversations through the endpoint chain. The same arguments give the same plan: a rerun
        generates only what is missing, never a second copy."""
        from google.protobuf.json_format import MessageToDict

        from crucible.synthesizer.ledger import Ledger
        from crucible.synthesizer.plan import manual_plan
        from crucible.synthesizer.synthesis import generate, plan_latest, settle, synth_policy

        if (category is None) != (n is None):
            raise typer.BadParameter("give --category and --n together (or neither, for the latest plan)")
        runtime = runtime_from_env(policy)
        try:
            pol = synth_policy(runtime)
            if category is not None and n is not None:
                try:
                    plan = manual_plan(category, n, seed=pol.seed)
                except ValueError as err:
                    raise typer.BadParameter(str(err), param_hint="--category") from None
            else:
                latest = plan_latest(runtime)
                if latest is None:
                    typer.echo("no dataset version yet: give --category and --n, or build a dataset", err=True)
                    raise typer.Exit(1)
                plan = latest
            if not plan.items:
                _echo({"plan_id": plan.plan_id, "items": 0}, as_json, f"nothing to generate: {plan.reason}")
                return

            def progress(done: int, total: int) -> None:
                if not as_json and (done == total or done % 10 == 0):
                    typer.echo(f"  {done}/{total} conversations", err=True)

            async def job() -> dict[str, Any]:
                report = (await generate(runtime, plan, progress=progress)).to_dict()
                # A plan is validated and admitted whole: with items still missing, the next run
                # generates them and settles it then.
                if publish and not report["failed"]:
                    report["admission"] = await settle(runtime, plan.plan_id)
                return report

            report = asyncio.run(_with_bus(runtime, job) if publish else job())
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                rows = [o for o in Ledger(runtime.artifacts, plan.plan_id).outcomes() if o.status == "generated"]
                from crucible.v1 import records_pb2

                with out.open("w", encoding="utf-8") as fh:
                    for o in rows:
                        fh.write(json.dumps(MessageToDict(records_pb2.Record.FromString(o.record))) + "\n")
                report["out"] = str(out)
        finally:
            runtime.registry.dispose()
        text = [
            f"plan {report['plan_id']}: {report['generated']} generated, rejected {report['rejected']}, "
            f"{report['failed']} without an endpoint (retried next run), {report['already_done']} already done",
        ]
        for name, usage in report["usage"].items():
            text.append(
                f"  {name}: {usage['successes']}/{usage['requests']} ok, failures {usage['failures']}, "
                f"tokens {usage['prompt_tokens']}+{usage['completion_tokens']}, cost {usage['cost']}, "
                f"circuit {usage['circuit']}"
            )
        if "admission" in report:
            adm = report["admission"]
            text.append(f"  admission: {adm['status']}, published {adm.get('published', 0)}")
            for cat, verdict in adm.get("validation", {}).items():
                text.append(f"    {cat}: {'ok' if verdict['passed'] else 'DRIFT'} {verdict['figures']}")
        _echo(report, as_json, "\n".join(text))
        if report["failed"]:
            sys.exit(2)

    @synth.command("review")
    def review_cmd(
        action: Annotated[str, typer.Argument(help="list | approve | reject")] = "list",
        record_id: Annotated[str | None, typer.Argument(help="The sampled record (approve/reject).")] = None,
        by: Annotated[str, typer.Option("--by", help="Who decides.")] = "",
        note: Annotated[str, typer.Option("--note")] = "",
        status: Annotated[Literal["pending", "approved", "rejected", "all"], typer.Option("--status")] = "pending",
        policy: PolicyOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The review sample of generated conversations: list them, approve or reject one."""
        from crucible.synthesizer.admission import decide, review_items

        runtime = runtime_from_env(policy)
        try:
            if action == "list":
                items = review_items(runtime.registry, status)
                text = "\n\n".join(
                    f"{i['record_id']} ({i['plan_id']}, {i['category']}, {i['status']})\n"
                    + "\n".join(f"  {t['role']}: {t['text']}" for t in i["turns"])
                    for i in items
                )
                _echo(items, as_json, text or "no items")
                return
            if action not in {"approve", "reject"} or not record_id:
                raise typer.BadParameter("use: list | approve RECORD_ID | reject RECORD_ID", param_hint="ACTION")
            if not by:
                raise typer.BadParameter("say who decides", param_hint="--by")
            try:
                decision = "approved" if action == "approve" else "rejected"
                plan_id = decide(runtime.registry, record_id, decision, by, note)
            except (LookupError, ValueError) as err:
                typer.echo(str(err), err=True)
                raise typer.Exit(1) from None
            _echo({"record_id": record_id, "plan_id": plan_id, "decision": action}, as_json, f"{action}d {record_id}")
        finally:
            runtime.registry.dispose()

    @synth.command("admit")
    def admit_cmd(
        plan_id: Annotated[str, typer.Argument(help="The plan whose review sample was decided.")],
        policy: PolicyOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Publish a plan's validated records once its review sample is approved (refused if any was rejected)."""
        from crucible.synthesizer.synthesis import admit

        runtime = runtime_from_env(policy)
        try:
            state = asyncio.run(_with_bus(runtime, lambda: admit(runtime, plan_id)))
        except LookupError as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(1) from None
        finally:
            runtime.registry.dispose()
        _echo(state, as_json, f"plan {plan_id}: {state['status']}, published {state.get('published', 0)}")
