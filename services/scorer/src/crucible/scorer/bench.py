"""`crucible bench score --json`: records/s of the scorer core on one core, where the time goes, the plain
MiniLM encoder (sentence-transformers, float32) on the same sentences as the same-run baseline, and the
classifier figures recomputed on held-out data with the models that serve.

The records are built from the labelled sets: person turns from both sets (the safety set's crisis
messages included), replies recombined from two replies' sentences so they are not verbatim repeats,
70 % single exchanges and 30 % four-turn conversations, random signals, batches of 64 (the bus's
records_per_message). The share of distinct sentences is reported, since the core encodes a repeated
sentence once per batch.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from crucible.v1 import records_pb2

BATCH = 64


def bench_records(n: int, seed: int = 3) -> list[records_pb2.Record]:
    from crucible.scorer.encoder import split_sentences
    from crucible.scorer.labelled import category_set, safety_set

    rng = random.Random(seed)
    cat, saf = category_set(), safety_set()
    persons = [e.user for e in cat] + [e.text for e in saf]
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
            rec.turns.add(role="user", text=rng.choice(persons))
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


def bench_score(quick: bool = False) -> dict[str, Any]:
    """Scorer records/s on one core with a time breakdown, against the plain MiniLM encoder."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from crucible.common.runtime import Runtime
    from crucible.scorer.core import ScorerStage
    from crucible.scorer.encoder import reference_encode, split_sentences
    from crucible.scorer.evaluation import evaluate_all
    from crucible.scorer.labelled import category_set, safety_set
    from crucible.scorer.models import load_models, models_present
    from crucible.scorer.training import embed_texts

    runtime = Runtime.create()
    policy = runtime.policy.section("scorer")
    trained_now = not models_present(runtime.artifacts, policy)
    t = time.perf_counter()
    models = load_models(runtime.artifacts, policy)
    load_s = time.perf_counter() - t

    n = 256 if quick else 1024
    records = bench_records(n)
    stage = ScorerStage(policy, models)
    stage.process(records[:BATCH])  # warm-up: first-run allocations in ONNX Runtime
    stage.timings.update({k: 0.0 for k in stage.timings})
    outcomes: dict[str, int] = {}
    t = time.perf_counter()
    for start in range(0, n, BATCH):
        result = stage.process(records[start : start + BATCH])
        outcomes["kept"] = outcomes.get("kept", 0) + len(result.kept)
        outcomes["rejected"] = outcomes.get("rejected", 0) + len(result.rejected)
        outcomes["held"] = outcomes.get("held", 0) + len(result.held)
    wall = time.perf_counter() - t
    sentences = [s for r in records for turn in r.turns for s in split_sentences(turn.text)]
    per_batch_distinct = sum(
        len({s for r in records[i : i + BATCH] for turn in r.turns for s in split_sentences(turn.text)})
        for i in range(0, n, BATCH)
    )

    # Baseline: the plain encoder on the same turns (whole turns, as one would encode them without the core).
    turns = [turn.text for r in records for turn in r.turns]
    base_n = min(len(turns), 256 if quick else 768)
    t = time.perf_counter()
    ref = reference_encode(turns[:base_n], max_tokens=policy.encoder.max_tokens)
    base_s = time.perf_counter() - t
    base_turns_per_s = base_n / base_s
    turns_per_record = len(turns) / n
    ours = models.encoder.encode(turns[:base_n])
    agreement = (ours * ref).sum(axis=1)

    # Held-out figures of the models that serve.
    t = time.perf_counter()
    cat, saf = category_set(), safety_set()
    embed, sent = embed_texts(
        models.encoder, [e.user for e in cat] + [e.assistant for e in cat] + [e.text for e in saf]
    )
    figures = evaluate_all(
        models.heads, embed, sent, cat, saf,
        min_coherence=policy.content.min_coherence, min_empathy=policy.content.min_empathy,
        review_labels=policy.safety.review_labels,
    )  # fmt: skip
    eval_s = time.perf_counter() - t
    records_per_s = n / wall
    baseline_records_per_s = base_turns_per_s / turns_per_record
    return {
        "records": n,
        "batch": BATCH,
        "threads": 1,
        "records_per_s": round(records_per_s, 1),
        "target_records_per_s": 150,
        "seconds": round(wall, 3),
        "breakdown_s": {k: round(v, 3) for k, v in stage.timings.items()},
        "breakdown_share": {k: round(v / wall, 3) for k, v in stage.timings.items()},
        "outcomes": outcomes,
        "turns_per_record": round(turns_per_record, 2),
        "sentences_per_record": round(len(sentences) / n, 2),
        "distinct_sentence_share_per_batch": round(per_batch_distinct / len(sentences), 3),
        "encoder": {
            "graph": "MiniLM-L6 ONNX int8" if policy.encoder.quantized else "MiniLM-L6 ONNX float32",
            "max_tokens": policy.encoder.max_tokens,
            "cosine_to_float32_reference": {
                "mean": round(float(agreement.mean()), 4),
                "min": round(float(agreement.min()), 4),
            },
        },
        "baseline": {
            "what": "sentence-transformers all-MiniLM-L6-v2 float32, whole turns, batch 32, one thread, encoder only",
            "turns": base_n,
            "turns_per_s": round(base_turns_per_s, 1),
            "records_per_s_encoder_only": round(baseline_records_per_s, 1),
        },
        "ratio_vs_baseline": round(records_per_s / baseline_records_per_s, 2),
        "classifiers": figures,
        "models": {"key": models.model_key, "trained_now": trained_now, "load_s": round(load_s, 2)},
        "eval_s": round(eval_s, 2),
    }
