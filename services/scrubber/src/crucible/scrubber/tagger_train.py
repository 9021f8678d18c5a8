"""Training the learned span tagger (`token_model.py`) on generated text (`tagger_data.py`).

Reproducible: fixed seeds for the text, the split and torch; one CPU thread. The rules run over
every generated sentence first, so the head learns with the rules' own answer as a feature, and
is trained on exactly the candidates the cascade would score (the gate, with the rules' coverage
ignored so that the covered runs teach it too).

Keep/drop, per type (explicit, on a validation set generated with another seed): a type is kept
when, at the lowest threshold in `THRESHOLDS` whose precision on that type's decisions reaches
`MIN_PRECISION`, the cascade adds more correct spans of that type than wrong ones over the rules
*on the candidates the cascade actually scores* (uncovered by the rules). A type with no such
threshold is dropped. `crucible scrubber train-tagger --types` can narrow the kept types further
(the benchmark's dev part decides that, documented in docs/scrubber.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.scrubber.tagger_data import Example, generate
from crucible.scrubber.token_model import LABELS, WEIGHTS, Candidate, candidates, gate, overlap_type

if TYPE_CHECKING:
    import numpy as np

    from crucible.scrubber.detect import Detector

log = logging.getLogger(__name__)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
MIN_PRECISION = 0.9
HIDDEN = 64


@dataclass(frozen=True)
class Rows:
    x: np.ndarray
    y: np.ndarray
    uncovered: np.ndarray  # bool: the cascade would score this candidate (`token_model.gate`)


def label_of(c: Candidate, ex: Example) -> int:
    """The gold type covering at least half of the candidate's letters and digits, else O."""
    chars = [i for i in range(c.start, c.end) if ex.text[i].isalnum()]
    if not chars:
        return 0
    for s, e, t in ex.spans:
        if sum(1 for i in chars if s <= i < e) >= 0.5 * len(chars):
            return LABELS.index(t)
    return 0


def build_rows(examples: Sequence[Example], detector: Detector) -> Rows:
    import numpy as np

    from crucible.scrubber.token_model import WordVectors, features

    vectors = WordVectors()
    xs, ys, unc = [], [], []
    for ex in examples:
        spans = detector.detect(ex.text)
        for c in candidates(ex.text):
            if not gate(c, detector.lex, 0.0):
                continue
            rule_type, covered = overlap_type(c, spans, ex.text)
            # As the cascade: covered runs teach the head too, but only these are "decisions".
            reaches = gate(c, detector.lex, covered, rule_type)
            xs.append(features(vectors, detector.lex, c, rule_type, ex.text))
            ys.append(label_of(c, ex))
            unc.append(reaches)
    return Rows(np.stack(xs), np.asarray(ys, dtype=np.int64), np.asarray(unc, dtype=bool))


def fit(rows: Rows, seed: int, epochs: int = 30) -> dict[str, np.ndarray]:
    """Two-layer head (ReLU, HIDDEN units), Adam, class-balanced cross-entropy, standardised inputs."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    mean = rows.x.mean(axis=0)
    scale = rows.x.std(axis=0) + 1e-3
    x = torch.tensor((rows.x - mean) / scale, dtype=torch.float32)
    y = torch.tensor(rows.y)
    counts = torch.bincount(y, minlength=len(LABELS)).float().clamp(min=1)
    weights = (counts.sum() / counts) / (counts.sum() / counts).mean()
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, len(LABELS))
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 256):
            idx = order[i : i + 256]
            opt.zero_grad()
            loss = loss_fn(model(torch.nn.functional.dropout(x[idx], 0.1)), y[idx])
            loss.backward()
            opt.step()
    lin1, lin2 = model[0], model[2]
    return {
        "w1": lin1.weight.detach().numpy().T.copy(),
        "b1": lin1.bias.detach().numpy().copy(),
        "w2": lin2.weight.detach().numpy().T.copy(),
        "b2": lin2.bias.detach().numpy().copy(),
        "mean": mean.astype(np.float32),
        "scale": scale.astype(np.float32),
    }


def _probs(params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    import numpy as np

    h = np.maximum(((x - params["mean"]) / params["scale"]) @ params["w1"] + params["b1"], 0.0)
    z = h @ params["w2"] + params["b2"]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def keep_decisions(params: dict[str, np.ndarray], val: Rows) -> dict[str, dict[str, Any]]:
    """Per type, on the validation candidates the cascade would score: for each threshold the
    decisions made (right / wrong) and the chosen threshold (None: dropped)."""
    probs = _probs(params, val.x[val.uncovered])
    gold = val.y[val.uncovered]
    pred = probs.argmax(axis=1)
    top = probs.max(axis=1)
    out: dict[str, dict[str, Any]] = {}
    for k, label in enumerate(LABELS):
        if k == 0:
            continue
        table = []
        chosen = None
        for th in THRESHOLDS:
            sel = (pred == k) & (top >= th)
            right = int(((gold == k) & sel).sum())
            wrong = int(sel.sum()) - right
            # "right" also counts a run that is PII of another type: removed is what a scrubber needs,
            # but the precision asked of a kept type is its own.
            precision = right / max(1, right + wrong)
            table.append({"threshold": th, "right": right, "wrong": wrong, "precision": round(precision, 3)})
            if chosen is None and precision >= MIN_PRECISION and right > wrong:
                chosen = th
        out[label] = {"thresholds": table, "chosen": chosen, "gold_uncovered": int((gold == k).sum())}
    return out


def train(
    out: Path = WEIGHTS, n_train: int = 12000, n_val: int = 4000, seed: int = 28, types: Sequence[str] | None = None
) -> dict[str, Any]:
    """Generate, fit, decide per type, write the float16 head to `out`; returns the figures."""
    import numpy as np

    from crucible.scrubber.detect import Detector

    detector = Detector.create(tagger=False)
    train_rows = build_rows(generate(n_train, seed), detector)
    val_rows = build_rows(generate(n_val, seed + 1), detector)
    params = fit(train_rows, seed)
    decisions = keep_decisions(params, val_rows)
    kept = {t: d["chosen"] for t, d in decisions.items() if d["chosen"] is not None and (types is None or t in types)}
    val_acc = float((_probs(params, val_rows.x).argmax(axis=1) == val_rows.y).mean())
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        **{k: v.astype(np.float16) for k, v in params.items()},
        kept_types=np.asarray(list(kept), dtype="U32"),
        kept_thresholds=np.asarray(list(kept.values()), dtype=np.float32),
        seed=np.asarray(seed),
    )
    return {
        "out": str(out),
        "train_candidates": len(train_rows.y),
        "val_candidates": len(val_rows.y),
        "val_uncovered": int(val_rows.uncovered.sum()),
        "val_accuracy": round(val_acc, 4),
        "label_counts": {LABELS[i]: int((train_rows.y == i).sum()) for i in range(len(LABELS))},
        "decisions": decisions,
        "kept": kept,
    }
