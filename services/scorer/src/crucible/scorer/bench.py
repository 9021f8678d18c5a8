"""`crucible bench score --json`: records/s of the scorer core on one core, where the time goes, the plain
MiniLM encoder (sentence-transformers, float32) on the same sentences as the same-run baseline, and the
classifier figures recomputed on held-out data with the models that serve (`classifiers.slices`: the
checked-in idiom and self-injury slices, `crucible.scorer.slices`; `classifiers.ensemble`: each member of
the safety ensemble and the ensemble on the same rows and slices, `crucible.scorer.stacking`), and the
same core with the safety head alone (`head_alone`), taking turns with it: what the ensemble costs.

The records are built from the labelled sets: person turns from both sets (one in ten a distress, unsafe
or self-harm message from the safety set), replies recombined from two replies' sentences so they are
not verbatim repeats,
70 % single exchanges and 30 % four-turn conversations, random signals, batches of 64 (the bus's
records_per_message). The core encodes each distinct person sentence of a batch once with MiniLM, in
length-sorted batches, and each reply with the static reply encoder; the token counts per record are
reported.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import time
from typing import Any

from crucible.v1 import records_pb2

BATCH = 64


def bench_records(n: int, seed: int = 3) -> list[records_pb2.Record]:
    from crucible.scorer.encoder import split_sentences
    from crucible.scorer.labelled import category_set, safety_set

    rng = random.Random(seed)
    cat, saf = category_set(), safety_set()
    everyday = [e.user for e in cat] + [e.text for e in saf if e.labels in (("neutral",), ("stress",))]
    heavy = [e.text for e in saf if e.labels not in (("neutral",), ("stress",))]
    reply_sentences = [s for r in dict.fromkeys(e.assistant for e in cat) for s in split_sentences(r)]
    contexts = [
        {"relationship_stage": st, "relationship_type": ty, "age_band": ab, "culture": cu, "language": "en"}
        for st in ("dating", "engaged", "married", "long_term")
        for ty in ("heterosexual", "same_sex", "long_distance")
        for ab in ("18-24", "25-34", "35-49", "50+")
        for cu in ("us", "uk", "in", "br")
    ]

    def reply() -> str:
        return " ".join(rng.sample(reply_sentences, 2))

    out = []
    for i in range(n):
        rec = records_pb2.Record(record_id=f"bench:{i}", subject_token=f"s{i % 97}")
        exchanges = 1 if rng.random() < 0.7 else 2
        for _ in range(exchanges):
            rec.turns.add(role="user", text=rng.choice(heavy if rng.random() < 0.1 else everyday))
            rec.turns.add(role="assistant", text=reply())
        rec.context.update(rng.choice(contexts))
        if rng.random() < 0.8:
            rec.signals.satisfaction = float(rng.randint(1, 10))
        if rng.random() < 0.6:
            rec.signals.action_taken = rng.random() < 0.5
        if rng.random() < 0.5:
            rec.signals.positive_outcome = rng.random() < 0.5
        out.append(rec)
    return out


def _timed(stage: Any, records: list[records_pb2.Record], outcomes: dict[str, int] | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): on a shared machine the CPU time is the steadier
    measure of what one core does (everything runs on one thread)."""
    t, c = time.perf_counter(), time.process_time()
    for start in range(0, len(records), BATCH):
        result = stage.process(records[start : start + BATCH])
        if outcomes is not None:
            outcomes["kept"] += len(result.kept)
            outcomes["rejected"] += len(result.rejected)
            outcomes["held"] += len(result.held)
    return time.perf_counter() - t, time.process_time() - c


def bench_score(quick: bool = False) -> dict[str, Any]:
    """Scorer records/s on one core with a time breakdown, against the plain MiniLM encoder."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from crucible.common.cli_support import runtime_from_env
    from crucible.scorer.core import ScorerStage
    from crucible.scorer.diversity import RunningDistribution
    from crucible.scorer.diversity_state import DiversityLedger
    from crucible.scorer.encoder import reference_encode, split_sentences
    from crucible.scorer.evaluation import evaluate_all
    from crucible.scorer.labelled import category_set, safety_set
    from crucible.scorer.models import load_models, models_present
    from crucible.scorer.training import embed_texts

    runtime = runtime_from_env()
    policy = runtime.policy.section("scorer")
    trained_now = not models_present(runtime.artifacts, policy)
    t = time.perf_counter()
    models = load_models(runtime.artifacts, policy)
    load_s = time.perf_counter() - t

    n = 128 if quick else 512
    records = bench_records(n)
    stage = ScorerStage(policy, models)
    stage.process(records[:BATCH])  # warm-up: first-run allocations in ONNX Runtime
    # The same core with the safety head alone (no ensemble): the ensemble's cost, same run.
    head_stage = ScorerStage(policy, dataclasses.replace(models, ensemble=None))
    head_stage.process(records[:BATCH])
    stage.ledger = DiversityLedger.in_memory(RunningDistribution(policy.diversity))
    stage.timings.update({k: 0.0 for k in stage.timings})
    turns = [turn.text for r in records for turn in r.turns]
    reference_encode(turns[:8], max_tokens=policy.encoder.max_tokens)

    # The machine is shared: the core and the baseline take turns on the same slices, so a change of
    # load hits both alike and the ratio stays meaningful.
    outcomes = {"kept": 0, "rejected": 0, "held": 0}
    wall = base_s = cpu = base_cpu = head_wall = head_cpu = 0.0
    rounds = 4
    for i in range(rounds):
        part = records[i::rounds]
        w, c = _timed(stage, part, outcomes)
        wall, cpu = wall + w, cpu + c
        head_stage.ledger = DiversityLedger.in_memory(RunningDistribution(policy.diversity))
        w, c = _timed(head_stage, part, None)
        head_wall, head_cpu = head_wall + w, head_cpu + c
        part_turns = [turn.text for r in part for turn in r.turns]
        t, c = time.perf_counter(), time.process_time()
        reference_encode(part_turns, max_tokens=policy.encoder.max_tokens)
        base_s += time.perf_counter() - t
        base_cpu += time.process_time() - c

    tokens = _token_counts(models, records, policy.encoder.reply_max_tokens)
    base_turns_per_s = len(turns) / base_s
    turns_per_record = len(turns) / n
    person_sentences = [s for r in records for t in r.turns if t.role == "user" for s in split_sentences(t.text)]
    replies = [t.text for r in records for t in r.turns if t.role != "user"]
    sample = person_sentences[:256]
    reference = reference_encode(sample, max_tokens=policy.encoder.max_tokens)
    agreement = (models.encoder.encode(sample) * reference).sum(1)
    reply_reference = reference_encode(replies[:256], max_tokens=policy.encoder.reply_max_tokens)
    reply_agreement = (models.replies.encode(replies[:256]) * reply_reference).sum(1)
    base_n = len(turns)

    # Held-out figures of the models that serve.
    t = time.perf_counter()
    cat, saf = category_set(), safety_set()
    embed, sent, reply_embed = embed_texts(
        models.encoder, models.replies, [e.user for e in cat] + [e.text for e in saf], [e.assistant for e in cat]
    )
    figures = evaluate_all(
        models.heads, embed, sent, reply_embed, cat, saf,
        min_coherence=policy.content.min_coherence, min_empathy=policy.content.min_empathy,
        review_labels=policy.safety.review_labels,
    )  # fmt: skip
    # The checked-in slices for figurative death / killing words and self-injury by method (data/slices/).
    from crucible.scorer.slices import slice_figures

    figures["slices"] = slice_figures(models, policy)
    # Each member of the safety ensemble and the ensemble itself on the same held-out rows and slices.
    if models.ensemble is not None:
        from crucible.scorer.stacking import ensemble_figures

        figures["ensemble"] = ensemble_figures(models, policy, saf, embed, sent)
    eval_s = time.perf_counter() - t
    # The safety decision on the demo app's own messages.
    timings = dict(stage.timings)
    stage.ledger = DiversityLedger.in_memory(RunningDistribution(policy.diversity))
    shift = _demo_shift(stage, users=30 if quick else 100)
    records_per_s = n / wall
    baseline_records_per_s = base_turns_per_s / turns_per_record
    return {
        "records": n,
        "batch": BATCH,
        "threads": 1,
        "records_per_s": round(records_per_s, 1),
        "records_per_cpu_s": round(n / cpu, 1),
        "target_records_per_s": 150,
        "head_alone": {
            "what": "the same core with the safety head alone (no ensemble), same records, taking turns with it",
            "records_per_s": round(n / head_wall, 1),
            "records_per_cpu_s": round(n / head_cpu, 1),
            "ratio_vs_head_alone": round(head_wall / wall, 3),
        },
        "seconds": round(wall, 3),
        "breakdown_s": {k: round(v, 3) for k, v in timings.items()},
        "breakdown_share": {k: round(v / wall, 3) for k, v in timings.items()},
        "outcomes": outcomes,
        "turns_per_record": round(turns_per_record, 2),
        "tokens_per_record": tokens,
        "encoder": {
            "person_sentences": "MiniLM-L6 ONNX "
            + ("int8, per-token activation scales" if policy.encoder.quantized else "float32"),
            "replies": "static encoder distilled from MiniLM-L6 (model2vec), ridge map into its space",
            "max_tokens": policy.encoder.max_tokens,
            "reply_max_tokens": policy.encoder.reply_max_tokens,
            "cosine_to_float32_reference": {
                "person_sentences": {
                    "mean": round(float(agreement.mean()), 4),
                    "min": round(float(agreement.min()), 4),
                },
                "replies": {
                    "mean": round(float(reply_agreement.mean()), 4),
                    "min": round(float(reply_agreement.min()), 4),
                },
            },
        },
        "baseline": {
            "what": "sentence-transformers all-MiniLM-L6-v2 float32, whole turns, batch 32, one thread, encoder only",
            "turns": base_n,
            "turns_per_s": round(base_turns_per_s, 1),
            "records_per_cpu_s_encoder_only": round(n / base_cpu, 1),
            "records_per_s_encoder_only": round(baseline_records_per_s, 1),
        },
        "ratio_vs_baseline": round(records_per_s / baseline_records_per_s, 2),
        "classifiers": figures,
        "models": {"key": models.model_key, "trained_now": trained_now, "load_s": round(load_s, 2)},
        "eval_s": round(eval_s, 2),
        "distribution_shift": shift,
    }


def _token_counts(models: Any, records: list[records_pb2.Record], reply_max_tokens: int) -> dict[str, float]:
    """Word pieces per record: what MiniLM reads (each distinct person sentence of a batch, with [CLS] and
    [SEP]) and what the static encoder reads instead (replies, cut at reply_max_tokens)."""
    from crucible.scorer.encoder import split_sentences

    tokenizer = models.encoder.tokenizer
    person = replies = 0
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        distinct = {s for r in batch for t in r.turns if t.role == "user" for s in split_sentences(t.text)}
        person += sum(len(e.ids) for e in tokenizer.encode_batch(sorted(distinct)))
        reply_texts = [t.text for r in batch for t in r.turns if t.role != "user"]
        replies += sum(min(len(e.ids), reply_max_tokens) for e in tokenizer.encode_batch(reply_texts))
    n = len(records)
    return {"minilm_person": round(person / n, 1), "static_replies": round(replies / n, 1)}


def _demo_shift(stage: Any, users: int) -> dict[str, Any]:
    """The safety decision on the demo app's messages (crucible.scorer.demo_shift); needs `crucible demo-db`."""
    from crucible.scorer.demo_shift import demo_shift

    t = time.perf_counter()
    try:
        figures = demo_shift(stage, users=users)
    except subprocess.CalledProcessError as exc:  # the extractor (which owns demo-db) is not installed
        return {"skipped": f"`crucible demo-db` failed: {exc.stderr[-300:]!r}"}
    figures["seconds"] = round(time.perf_counter() - t, 2)
    return figures
