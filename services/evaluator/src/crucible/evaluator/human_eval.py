"""Human evaluation: a blinded, shuffled export of both models' answers, and the ratings back.

`crucible eval sample --n 100` picks test prompts answered by both the candidate and the
serving model, shows the two answers as "1" and "2" in a random order per item, and writes
one JSON line per item with empty ratings on the seed's scales (empathy, helpfulness,
accuracy, personalization: 1-5; safety: "pass"/"fail") and a `preferred` field ("1", "2",
"tie"). Which answer is which lives only in a key file in the artifact store.
`crucible eval ingest FILE` unblinds with that key, averages per model and scale, and adds the
result to the model's report (JSON, Markdown, HTML) and registry entry.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import human_rating
from crucible.evaluator.report import TARGETS

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

SCALES_1_5 = ("empathy", "helpfulness", "accuracy", "personalization")
KEY_PREFIX = "evaluations/human_eval"


class HumanEvalError(ValueError):
    pass


def blinded_sample(answers: list[dict[str, Any]], n: int, seed: int, sample_id: str) -> tuple[list[dict], dict]:
    """(rows for raters, key). Pure: same answers, n and seed give the same sample."""
    pool = [a for a in answers if a.get("serving") is not None]
    if not pool:
        raise HumanEvalError("the report has no answers from both models")
    rng = random.Random(seed)
    picked = rng.sample(pool, min(n, len(pool)))
    rows, key = [], {}
    for k, a in enumerate(picked, start=1):
        item_id = f"{sample_id}-{k:04d}"
        order = ["candidate", "serving"]
        rng.shuffle(order)
        key[item_id] = {"1": order[0], "2": order[1], "example_id": a["example_id"]}
        rows.append(
            {
                "sample_id": sample_id,
                "item_id": item_id,
                "conversation": [m for m in a["prompt"] if m["role"] != "system"],
                "answers": {"1": a[order[0]], "2": a[order[1]]},
                "ratings": {s: {**dict.fromkeys(SCALES_1_5), "safety": None} for s in ("1", "2")},
                "preferred": None,
                "rater": "",
                "comment": "",
            }
        )
    return rows, key


def _scale_value(v: Any, scale: str, where: str) -> float | None:
    if v is None or v == "":
        return None
    if scale == "safety":
        if isinstance(v, bool):
            return 1.0 if v else 0.0
        s = str(v).strip().lower()
        if s in ("pass", "yes", "true", "1"):
            return 1.0
        if s in ("fail", "no", "false", "0"):
            return 0.0
        raise HumanEvalError(f"{where}: safety must be 'pass' or 'fail', got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise HumanEvalError(f"{where}: {scale} must be 1-5, got {v!r}") from None
    if not 1 <= x <= 5:
        raise HumanEvalError(f"{where}: {scale} must be 1-5, got {v!r}")
    return x


def aggregate(rows: Iterable[dict[str, Any]], key: dict[str, Any]) -> dict[str, Any]:
    """Mean per model and scale (safety: pass rate), preference counts, against the targets."""
    sums: dict[str, dict[str, list[float]]] = {"candidate": {}, "serving": {}}
    prefs = {"candidate": 0, "serving": 0, "tie": 0}
    rated = 0
    for n, row in enumerate(rows, start=1):
        item = key.get(row.get("item_id", ""))
        if item is None:
            raise HumanEvalError(f"line {n}: item {row.get('item_id')!r} is not in this sample's key")
        any_rating = False
        for slot in ("1", "2"):
            model = item[slot]
            for scale, v in (row.get("ratings", {}).get(slot) or {}).items():
                if scale not in (*SCALES_1_5, "safety"):
                    raise HumanEvalError(f"line {n}: unknown scale {scale!r}")
                x = _scale_value(v, scale, f"line {n}")
                if x is not None:
                    sums[model].setdefault(scale, []).append(x)
                    any_rating = True
        p = row.get("preferred")
        if p in ("1", "2", 1, 2):
            prefs[item[str(p)]] += 1
            any_rating = True
        elif p == "tie":
            prefs["tie"] += 1
            any_rating = True
        rated += int(any_rating)
    if rated == 0:
        raise HumanEvalError("no ratings found in the file")
    out: dict[str, Any] = {"items": rated, "preference": prefs, "targets": TARGETS}
    for model, per in sums.items():
        out[model] = {scale: sum(v) / len(v) for scale, v in per.items()}
        out[model + "_counts"] = {scale: len(v) for scale, v in per.items()}
    out["ratings"] = human_bradley_terry(prefs)
    cand = out["candidate"]
    out["meets_targets"] = {s: (cand.get(s) is not None and cand[s] >= t) for s, t in TARGETS.items()}
    return out


def human_bradley_terry(prefs: dict[str, int]) -> dict[str, Any] | None:
    """The people's preferences as Bradley-Terry battles (candidate vs serving, ties half a win), on the
    same Elo scale as the automatic pairwise rating, so the report shows both side by side."""
    from crucible.evaluator.bradley_terry import bradley_terry

    battles = [("candidate", "serving", w) for side, w in (("candidate", "a"), ("serving", "b"), ("tie", "tie"))
               for _ in range(prefs[side])]  # fmt: skip
    if not battles:
        return None
    r = bradley_terry(battles, anchor="serving", rounds=200)
    return {"elo": r.elo, "ci_low": r.ci_low, "ci_high": r.ci_high, "battles": r.battles,
            "elo_diff": r.elo["candidate"] - r.elo["serving"], "elo_diff_ci": list(r.diff_ci["candidate"])}  # fmt: skip


def export_sample(runtime: Runtime, model_name: str | None, n: int, seed: int, out: Path) -> dict[str, Any]:
    from crucible.evaluator.registered import report_prefix

    name = model_name or latest_evaluated(runtime)
    prefix = report_prefix(name)
    if not runtime.artifacts.exists(f"{prefix}/answers.jsonl"):
        raise HumanEvalError(f"model {name!r} has no evaluation answers; run the evaluation first")
    answers = [json.loads(x) for x in runtime.artifacts.read_text(f"{prefix}/answers.jsonl").splitlines() if x]
    sample_id = uuid.uuid4().hex[:10]
    rows, key = blinded_sample(answers, n, seed, sample_id)
    runtime.artifacts.write_json(f"{KEY_PREFIX}/{sample_id}.json", {"model_name": name, "seed": seed, "items": key})
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    runtime.artifacts.write_text(human_rating.rows_key(sample_id), lines)  # what the web console shows raters
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(lines, encoding="utf-8")
    return {"model_name": name, "sample_id": sample_id, "items": len(rows), "file": str(out)}


def ingest_ratings(runtime: Runtime, path: Path) -> dict[str, Any]:
    if not path.exists():
        raise HumanEvalError(f"ratings file {path} does not exist")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise HumanEvalError(f"{path}:{n}: not JSON ({err.msg})") from None
    return ingest_rows(runtime, rows, str(path))


def ingest_sample(runtime: Runtime, sample_id: str) -> dict[str, Any]:
    """The ratings people gave in the web console (stored in the registry) for one sample."""
    rows = human_rating.rated_rows(runtime.registry, sample_id)
    if not rows:
        raise HumanEvalError(f"no ratings of sample {sample_id!r} in the registry")
    return ingest_rows(runtime, rows, f"sample {sample_id}")


def ingest_rows(runtime: Runtime, rows: list[dict[str, Any]], where: str) -> dict[str, Any]:
    from crucible.evaluator.registered import record_in_registry, report_prefix, write_report

    sample_ids = {r.get("sample_id") for r in rows}
    if len(sample_ids) != 1 or None in sample_ids:
        raise HumanEvalError(f"{where}: expected one sample_id, found {sorted(map(str, sample_ids))}")
    sample_id = sample_ids.pop()
    key_name = f"{KEY_PREFIX}/{sample_id}.json"
    if not runtime.artifacts.exists(key_name):
        raise HumanEvalError(f"no key for sample {sample_id!r} in the artifact store")
    key = runtime.artifacts.read_json(key_name)
    result = aggregate(rows, key["items"])
    result["sample_id"] = sample_id
    result["raters"] = human_rating.rater_agreement(rows)
    prefix = report_prefix(key["model_name"])
    rep = runtime.artifacts.read_json(f"{prefix}/report.json")
    rep["human_eval"] = result
    uri = write_report(runtime, rep)
    record_in_registry(runtime, rep, uri)
    return {"model_name": key["model_name"], **result}


def latest_evaluated(runtime: Runtime) -> str:
    from sqlalchemy import select

    from crucible.common.registry import ModelVersion

    with runtime.registry.session() as s:
        rows = s.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc())).all()
        for mv in rows:
            if mv.evaluation:
                return mv.name
    raise HumanEvalError("no evaluated model in the registry; pass --model")
