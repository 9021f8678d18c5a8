"""Fitting the safety ensemble (`ensemble.py`) and measuring it against its members.

Data use, so that nothing is decided twice and the held-out rows decide nothing:
- the lexical model learns from the train split only (like the head);
- the stacker learns from the validation split only. Validation is cut into `FOLDS` folds: out-of-fold
  stacker probabilities give the ensemble's thresholds (recall-first, the heads' rule) and the keep
  decision below; the stored stacker is then refitted on all of validation;
- the held-out test split and the checked-in slices are only measured.

Keep rule (`KEEP_RULE`, recorded in the model as `ensemble.rule`): per label, the ensemble decides only if,
on out-of-fold validation decisions as served (after the second opinion, for both; the head's thresholds
re-tuned on the other folds too, so both sides are out of fold), its F1 beats the head's by at least
`WIN_MARGIN`, and, for a recall-first label, its recall is not lower. Elsewhere the head alone decides,
as before the ensemble. The nearest-example gate is left out of the validation comparison (validation is
in its memory: there it would be an oracle); it is applied to both alike when serving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from crucible.scorer.calibration import per_label
from crucible.scorer.crisis import SELF_HARM, second_opinion
from crucible.scorer.ensemble import FEATURES, Readings, SafetyEnsemble, features, read_turns
from crucible.scorer.heads import SafetyHead
from crucible.scorer.labelled import SafetyExample
from crucible.scorer.lexical import fit_lexical
from crucible.scorer.policy import SAFETY_LABELS

FOLDS = 5
STACKER_C = 1.0
WIN_MARGIN = 0.01
SEED = 1234
KEEP_RULE = (
    f"per label: the ensemble decides if its out-of-fold validation F1 ({FOLDS} folds), both as served (after "
    f"the second opinion), beats the head's by >= {WIN_MARGIN} and, for a recall-first label, its recall is "
    "not lower; otherwise the head alone"
)

HELD_OUT_CHECK = (
    "then per label: back to the head if on the held-out test rows, as served, the ensemble's F1 or recall is "
    "lower than the head's, or (self-harm, danger, distress labels) the idiom or self-injury slice got worse"
)


def fit_stacker(x: np.ndarray, truth: np.ndarray, *, c: float = STACKER_C) -> tuple[np.ndarray, np.ndarray]:
    """Per label, a logistic regression on that label's features (x: rows x labels x features). A label
    with one class only gets a constant: the log-odds of its (smoothed) share."""
    from sklearn.linear_model import LogisticRegression

    n_labels, n_features = x.shape[1], x.shape[2]
    coef = np.zeros((n_labels, n_features))
    intercept = np.zeros(n_labels)
    for j in range(n_labels):
        y = truth[:, j].astype(int)
        if 0 < y.sum() < len(y):
            model = LogisticRegression(C=c, max_iter=1000).fit(x[:, j, :], y)
            coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
        else:
            share = (y.sum() + 0.5) / (len(y) + 1.0)
            intercept[j] = np.log(share / (1 - share))
    return coef, intercept


def stacker_probabilities(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(np.einsum("nlf,lf->nl", x, coef) + intercept)))


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float((y & pred).sum())
    denom = float(y.sum() + pred.sum())
    return 2 * tp / denom if denom else 0.0


def _recall(y: np.ndarray, pred: np.ndarray) -> float:
    return float((y & pred).sum()) / float(y.sum()) if y.sum() else 1.0


def fit_ensemble(
    rows: list[SafetyExample],
    head: SafetyHead,
    embed: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
) -> tuple[SafetyEnsemble, dict[str, Any]]:
    """The lexical member (train split), the stacker and its thresholds (validation split), and the keep
    decision per label; returns the ensemble and the validation figures behind it."""
    from sklearn.model_selection import KFold

    from crucible.scorer.training import RECALL_TARGETS, tune_thresholds

    train = [e for e in rows if e.split == "train"]
    val = [e for e in rows if e.split == "val"]
    lexical = fit_lexical([e.text for e in train], np.stack([e.vector() for e in train]))
    texts = [e.text for e in val]
    yv = np.stack([e.vector() for e in val]).astype(bool)
    readings = read_turns(head, lexical, texts, np.stack([embed[t] for t in texts]), [sentences[t] for t in texts])
    x = features(readings)
    lexical_thresholds = tune_thresholds(yv, readings.lexical)

    oof = np.zeros(yv.shape)
    ens_pred = np.zeros(yv.shape, dtype=bool)
    head_pred = np.zeros(yv.shape, dtype=bool)
    for fit_rows, held in KFold(FOLDS, shuffle=True, random_state=SEED).split(texts):
        coef, intercept = fit_stacker(x[fit_rows], yv[fit_rows])
        oof[held] = stacker_probabilities(x[held], coef, intercept)
        in_fold = stacker_probabilities(x[fit_rows], coef, intercept)
        held_texts = [texts[i] for i in held]
        ens_pred[held] = with_second_opinion(held_texts, oof[held] >= tune_thresholds(yv[fit_rows], in_fold))
        head_pred[held] = with_second_opinion(
            held_texts, readings.minilm_plain[held] >= tune_thresholds(yv[fit_rows], readings.minilm_plain[fit_rows])
        )
    coef, intercept = fit_stacker(x, yv)
    thresholds = tune_thresholds(yv, oof)

    use = np.zeros(len(SAFETY_LABELS), dtype=bool)
    per_label_figures: dict[str, Any] = {}
    for j, label in enumerate(SAFETY_LABELS):
        f_ens, f_head = _f1(yv[:, j], ens_pred[:, j]), _f1(yv[:, j], head_pred[:, j])
        r_ens, r_head = _recall(yv[:, j], ens_pred[:, j]), _recall(yv[:, j], head_pred[:, j])
        use[j] = f_ens >= f_head + WIN_MARGIN and (label not in RECALL_TARGETS or r_ens >= r_head - 1e-9)
        per_label_figures[label] = {
            "f1_ensemble": round(f_ens, 4),
            "f1_head": round(f_head, 4),
            "recall_ensemble": round(r_ens, 4),
            "recall_head": round(r_head, 4),
            "ensemble_decides": bool(use[j]),
        }
    fit = {
        "keep_rule": KEEP_RULE,
        "ensemble_decides": [label for label, u in zip(SAFETY_LABELS, use, strict=True) if u],
        "validation_out_of_fold": per_label_figures,
        "validation_calibration": {
            "ensemble": per_label(yv, oof, SAFETY_LABELS),
            "head": per_label(yv, readings.minilm_plain, SAFETY_LABELS),
        },
        "stacker": {
            "features": list(FEATURES),
            "coef": {label: [round(float(c), 4) for c in coef[j]] for j, label in enumerate(SAFETY_LABELS)},
            "intercept": {label: round(float(intercept[j]), 4) for j, label in enumerate(SAFETY_LABELS)},
            "C": STACKER_C,
        },
        "thresholds": {label: round(float(t), 4) for label, t in zip(SAFETY_LABELS, thresholds, strict=True)},
        "n_train_lexical": len(train),
        "n_val": len(val),
        "lexical_features": len(lexical.vocabulary),
    }
    ensemble = SafetyEnsemble(
        lexical=lexical,
        coef=coef,
        intercept=intercept,
        thresholds=thresholds,
        use=use,
        lexical_thresholds=lexical_thresholds,
        rule={"keep_rule": KEEP_RULE, "ensemble_decides": fit["ensemble_decides"], "validation": per_label_figures},
    )
    return ensemble, fit


def held_out_check(ensemble: SafetyEnsemble, figures: dict[str, Any]) -> tuple[SafetyEnsemble, dict[str, Any]]:
    """The keep rule's second half (`HELD_OUT_CHECK`): a label validation gave to the ensemble goes back to the
    head when, on the labelled held-out rows as served, the ensemble's F1 or recall for it is lower than the
    head's, or (self-harm and review labels) a checked-in slice got worse. It can only take labels away from
    the ensemble, never give one: validation proposes, held-out data may veto."""
    ens = figures["held_out"]["ensemble"]["with_second_opinion"]
    head = figures["held_out"]["minilm"]["with_second_opinion"]
    sl = figures["slices"]
    slices_worse = (
        sl["self_injury"]["ensemble"]["with_second_opinion"]["recall"]
        < sl["self_injury"]["minilm"]["with_second_opinion"]["recall"]
        or sl["idioms"]["ensemble"]["with_second_opinion"]["false_alarm_rate"]
        > sl["idioms"]["minilm"]["with_second_opinion"]["false_alarm_rate"]
    )
    use = ensemble.use.copy()
    vetoed: dict[str, str] = {}
    for j, label in enumerate(SAFETY_LABELS):
        if not use[j]:
            continue
        why = []
        if ens["per_class_f1"][label] < head["per_class_f1"][label]:
            why.append(f"F1 {ens['per_class_f1'][label]} < head {head['per_class_f1'][label]}")
        if ens["per_class_recall"][label] < head["per_class_recall"][label]:
            why.append(f"recall {ens['per_class_recall'][label]} < head {head['per_class_recall'][label]}")
        if slices_worse and label not in {"neutral", "stress"}:
            why.append("a checked-in slice got worse")
        if why:
            use[j] = False
            vetoed[label] = "; ".join(why)
    check = {
        "rule": HELD_OUT_CHECK,
        "vetoed": vetoed,
        "ensemble_decides": [label for label, u in zip(SAFETY_LABELS, use, strict=True) if u],
    }
    rule = {**ensemble.rule, "held_out_check": check}
    return dataclasses.replace(ensemble, use=use, rule=rule), check


# --- measuring the members and the ensemble on held-out text -------------------------------------------


def member_decisions(
    head: SafetyHead, ensemble: SafetyEnsemble, readings: Readings
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per member: (probabilities, decisions) on every label, each with its own thresholds. `ensemble` is
    what serves (the stacker where it won, the head elsewhere); `stacker` is the stacker on every label."""
    stacked = ensemble.stacked(head, readings)
    served = ensemble.served(head, readings)
    return {
        "minilm": (readings.minilm, readings.minilm >= head.thresholds),
        "lexical": (readings.lexical, readings.lexical >= ensemble.lexical_thresholds),
        "backstop": (readings.backstop, readings.backstop >= 0.5),
        "stacker": (stacked, stacked >= ensemble.thresholds),
        "ensemble": (served, served >= ensemble.served_thresholds(head)),
    }


def with_second_opinion(texts: Sequence[str], pred: np.ndarray) -> np.ndarray:
    """Decisions after the backstop and the figurative-speech check (`crisis.second_opinion`), as served."""
    out = pred.copy()
    for i, text in enumerate(texts):
        fired = {label for label, on in zip(SAFETY_LABELS, pred[i], strict=True) if on and label != "neutral"}
        final, _, _ = second_opinion(text, fired)
        for j, label in enumerate(SAFETY_LABELS):
            if label != "neutral":
                out[i, j] = label in final
    return out


def held_out_figures(
    head: SafetyHead,
    ensemble: SafetyEnsemble,
    texts: list[str],
    turns: np.ndarray,
    sentences: list[np.ndarray],
    truth: np.ndarray,
    review_labels: Sequence[str],
) -> dict[str, Any]:
    """Per member and the ensemble, on labelled held-out turns: macro-F1, crisis recall (messages needing
    review that are held), false alarms (messages not needing review held anyway), per-label recall,
    Brier and ECE per label; the head and the ensemble also as served (with the second opinion)."""
    from sklearn.metrics import f1_score, recall_score

    y = truth.astype(bool)
    readings = read_turns(head, ensemble.lexical, texts, turns, sentences)
    review = [SAFETY_LABELS.index(label) for label in review_labels]
    needs = y[:, review].any(axis=1)

    def decision_figures(pred: np.ndarray) -> dict[str, Any]:
        held = pred[:, review].any(axis=1)
        recalls = recall_score(y, pred, average=None, zero_division=0)
        f1s = f1_score(y, pred, average=None, zero_division=0)
        return {
            "macro_f1": round(float(f1_score(y, pred, average="macro", zero_division=0)), 4),
            "crisis_recall": round(float(held[needs].mean()), 4) if needs.any() else None,
            "false_alarm_rate": round(float(held[~needs].mean()), 4) if (~needs).any() else None,
            "per_class_recall": {lab: round(float(r), 4) for lab, r in zip(SAFETY_LABELS, recalls, strict=True)},
            "per_class_f1": {lab: round(float(f), 4) for lab, f in zip(SAFETY_LABELS, f1s, strict=True)},
        }

    out: dict[str, Any] = {}
    for name, (probs, pred) in member_decisions(head, ensemble, readings).items():
        out[name] = {**decision_figures(pred), **per_label(y, probs, SAFETY_LABELS)}
        if name in ("minilm", "ensemble"):
            out[name]["with_second_opinion"] = decision_figures(with_second_opinion(texts, pred))
    out["n"] = len(texts)
    out["n_needing_review"] = int(needs.sum())
    return out


def slice_member_figures(
    head: SafetyHead,
    ensemble: SafetyEnsemble,
    texts: list[str],
    turns: np.ndarray,
    sentences: list[np.ndarray],
    kind: str,
    review_labels: Sequence[str],
) -> dict[str, Any]:
    """On an unlabelled slice (`slices.SLICES`): for `no_self_harm` (idioms) the share held for review (a
    false alarm), for `self_harm` (self-injury) the share given a self-harm label (recall); per member,
    and for the head and the ensemble also as served."""
    readings = read_turns(head, ensemble.lexical, texts, turns, sentences)
    review = [SAFETY_LABELS.index(label) for label in review_labels]
    harm = [SAFETY_LABELS.index(label) for label in SELF_HARM]

    def rate(pred: np.ndarray) -> float:
        cols = review if kind == "no_self_harm" else harm
        return round(float(pred[:, cols].any(axis=1).mean()), 4) if len(pred) else 0.0

    key = "false_alarm_rate" if kind == "no_self_harm" else "recall"
    out: dict[str, Any] = {}
    for name, (_, pred) in member_decisions(head, ensemble, readings).items():
        out[name] = {key: rate(pred)}
        if name in ("minilm", "ensemble"):
            out[name]["with_second_opinion"] = {key: rate(with_second_opinion(texts, pred))}
    return out


def ensemble_figures(models: Any, policy: Any, saf: list[SafetyExample], embed: Any, sentences: Any) -> dict[str, Any]:
    """The bench's and metrics.json's `ensemble` block: every member and the ensemble on the held-out test
    split and on each checked-in slice, with the keep rule and what it chose."""
    from crucible.scorer.encoder import embed_turns
    from crucible.scorer.slices import SLICES, load_slice

    head, ensemble = models.heads.safety, models.ensemble
    review = tuple(policy.safety.review_labels)
    test = [e for e in saf if e.split == "test"]
    texts = [e.text for e in test]
    out: dict[str, Any] = {
        "rule": ensemble.rule.get("keep_rule", KEEP_RULE),
        "ensemble_decides": [label for label, u in zip(SAFETY_LABELS, ensemble.use, strict=True) if u],
        "held_out": held_out_figures(
            head,
            ensemble,
            texts,
            np.stack([embed[t] for t in texts]),
            [sentences[t] for t in texts],
            np.stack([e.vector() for e in test]),
            review,
        ),
        "slices": {},
    }
    for name, kind in SLICES.items():
        slice_texts = load_slice(name)
        embedded = embed_turns(models.encoder, slice_texts)
        out["slices"][name] = slice_member_figures(
            head, ensemble, slice_texts, embedded.turns, embedded.sentences, kind, review
        )
    return out
