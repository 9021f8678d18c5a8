"""The safety ensemble: calibration metrics against hand-computed and scikit-learn figures, the stacker,
the keep rule's held-out check, storage, and that the scorer's core decides through the ensemble."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scorer_helpers import make_record

from crucible.scorer.calibration import brier, ece, per_label
from crucible.scorer.core import ScorerStage
from crucible.scorer.ensemble import FEATURES, SafetyEnsemble, features, read_turns, safety_thresholds
from crucible.scorer.lexical import LexicalModel, fit_lexical
from crucible.scorer.policy import SAFETY_LABELS, ScorerPolicy
from crucible.scorer.stacking import fit_stacker, held_out_check, stacker_probabilities

N = len(SAFETY_LABELS)


def test_brier_matches_scikit_learn_and_a_hand_computed_case() -> None:
    from sklearn.metrics import brier_score_loss

    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.4, 0.0])
    # (0.1^2 + 0.2^2 + 0.6^2 + 0) / 4 = (0.01 + 0.04 + 0.36) / 4
    assert brier(y, p) == pytest.approx(0.1025)
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 500), rng.random(500)
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p))


def test_ece_by_hand() -> None:
    # Bins of width 0.1. Rows 0.05, 0.05 (bin 0, truth 0, 1): |0.05 - 0.5| = 0.45, weight 2/5.
    # Rows 0.95, 0.95 (bin 9, truth 1, 1): |0.95 - 1| = 0.05, weight 2/5. Row 1.0 lands in the last bin
    # too: bin 9 then holds 0.95, 0.95, 1.0 with truth 1, 1, 0: |0.9667 - 0.6667| = 0.3, weight 3/5.
    y = np.array([0, 1, 1, 1, 0])
    p = np.array([0.05, 0.05, 0.95, 0.95, 1.0])
    assert ece(y, p) == pytest.approx(2 / 5 * 0.45 + 3 / 5 * 0.3)
    # Perfectly calibrated in every bin: zero.
    assert ece(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0)
    figures = per_label(np.array([[1, 0]] * 4), np.array([[0.5, 0.5]] * 4), ("a", "b"))
    assert figures == {"brier": {"a": 0.25, "b": 0.25}, "ece": {"a": 0.5, "b": 0.5}}


def test_stacker_learns_which_member_to_trust_and_is_calibrated() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    y = rng.random((n, N)) < 0.3
    informative = np.where(y, 2.0, -2.0) + rng.normal(0, 1.5, (n, N))  # member 0 knows something
    noise = rng.normal(0, 2.0, (n, N))  # member 1 knows nothing
    x = np.stack([informative, noise], axis=2)
    coef, intercept = fit_stacker(x, y)
    assert (coef[:, 0] > 1.0).all() and (np.abs(coef[:, 1]) < 0.2).all()
    p = stacker_probabilities(x, coef, intercept)
    # Calibrated: the mean probability is the share of positives, and ECE is small (in-sample fit).
    assert np.allclose(p.mean(axis=0), y.mean(axis=0), atol=0.01)
    assert max(ece(y[:, j], p[:, j]) for j in range(N)) < 0.05
    # Better than the informative member read through a plain sigmoid (overconfident by construction).
    raw = 1 / (1 + np.exp(-3 * informative))
    assert all(brier(y[:, j], p[:, j]) < brier(y[:, j], raw[:, j]) for j in range(N))


def test_a_label_with_one_class_gets_its_smoothed_share() -> None:
    x = np.zeros((10, N, 2))
    y = np.zeros((10, N), dtype=bool)
    coef, intercept = fit_stacker(x, y)
    assert (coef == 0).all()
    assert stacker_probabilities(x, coef, intercept)[0, 0] == pytest.approx(0.5 / 11)


def _figures(ens_f1: float, ens_recall: float, *, injury: float = 1.0) -> dict:
    def block(f1: float, recall: float) -> dict:
        return {
            "with_second_opinion": {
                "per_class_f1": dict.fromkeys(SAFETY_LABELS, f1),
                "per_class_recall": dict.fromkeys(SAFETY_LABELS, recall),
            }
        }

    return {
        "held_out": {"ensemble": block(ens_f1, ens_recall), "minilm": block(0.8, 0.9)},
        "slices": {
            "self_injury": {
                "ensemble": {"with_second_opinion": {"recall": injury}},
                "minilm": {"with_second_opinion": {"recall": 1.0}},
            },
            "idioms": {
                "ensemble": {"with_second_opinion": {"false_alarm_rate": 0.02}},
                "minilm": {"with_second_opinion": {"false_alarm_rate": 0.02}},
            },
        },
    }


def _ensemble(use: np.ndarray, intercept: np.ndarray | None = None) -> SafetyEnsemble:
    texts = ["I feel fine today", "we argued about money", "I want to hurt myself", "he hit me again"]
    truth = np.zeros((4, N), dtype=np.float32)
    truth[:, SAFETY_LABELS.index("neutral")] = [1, 0, 0, 0]
    truth[:, SAFETY_LABELS.index("stress")] = [0, 1, 0, 0]
    return SafetyEnsemble(
        lexical=fit_lexical(texts * 2, np.vstack([truth, truth])),
        coef=np.zeros((N, len(FEATURES))),
        intercept=np.zeros(N) if intercept is None else intercept,
        thresholds=np.full(N, 0.5, dtype=np.float32),
        use=use,
        lexical_thresholds=np.full(N, 0.5, dtype=np.float32),
        rule={"keep_rule": "test"},
    )


def test_held_out_check_only_takes_labels_away() -> None:
    proposed = _ensemble(np.array([label in ("neutral", "self_harm_low") for label in SAFETY_LABELS]))
    kept, check = held_out_check(proposed, _figures(0.85, 0.9))
    assert kept.use.tolist() == proposed.use.tolist() and check["vetoed"] == {}
    worse, check = held_out_check(proposed, _figures(0.85, 0.8))
    assert not worse.use.any() and set(check["vetoed"]) == {"neutral", "self_harm_low"}
    # A slice getting worse takes the crisis labels back, not neutral.
    sliced, check = held_out_check(proposed, _figures(0.85, 0.9, injury=0.9))
    assert sliced.use.tolist() == [label == "neutral" for label in SAFETY_LABELS]
    # Nothing the validation did not propose is ever added.
    none, _ = held_out_check(_ensemble(np.zeros(N, dtype=bool)), _figures(0.99, 0.99))
    assert not none.use.any()


def test_ensemble_and_lexical_model_round_trip() -> None:
    ens = _ensemble(np.array([True, False, True, False, False, True]), intercept=np.linspace(-1, 1, N))
    back = SafetyEnsemble.from_bytes(ens.to_bytes())
    texts = ["we argued about money. I want to hurt myself", "I feel fine"]
    assert np.allclose(back.lexical.turn_probabilities(texts), ens.lexical.turn_probabilities(texts))
    assert back.use.tolist() == ens.use.tolist() and back.rule == ens.rule
    assert np.allclose(back.intercept, ens.intercept)
    lexical = LexicalModel.from_bytes(ens.lexical.to_bytes())
    assert np.allclose(lexical.probabilities(texts), ens.lexical.probabilities(texts))


def test_lexical_reads_a_turn_by_its_most_alarming_sentence() -> None:
    texts = ["we had a lovely dinner", "I want to hurt myself"] * 6
    truth = np.zeros((len(texts), N), dtype=np.float32)
    j = SAFETY_LABELS.index("self_harm_low")
    truth[1::2, j] = 1
    truth[::2, SAFETY_LABELS.index("neutral")] = 1
    model = fit_lexical(texts, truth)
    mixed = "we had a lovely dinner. I want to hurt myself."
    whole = model.probabilities([mixed])[0, j]
    turn = model.turn_probabilities([mixed])[0, j]
    assert turn == pytest.approx(max(whole, model.probabilities(["I want to hurt myself."])[0, j]))
    assert turn > model.turn_probabilities(["we had a lovely dinner"])[0, j]


def test_the_scorer_core_decides_through_the_ensemble(scorer_models) -> None:
    """A stacker that says `stress` for everything, used for stress only: the core labels an everyday
    message stress, with the ensemble's threshold; with the ensemble off, the head alone decides."""
    policy = ScorerPolicy()
    stress = SAFETY_LABELS.index("stress")
    intercept = np.full(N, -10.0)
    intercept[stress] = 10.0
    use = np.zeros(N, dtype=bool)
    use[stress] = True
    forced = dataclasses.replace(scorer_models, ensemble=_ensemble(use, intercept))
    record = make_record("e1", "We had a lovely picnic in the park today.", "That sounds wonderful!")
    labels = {s.label for s in ScorerStage(policy, forced).score([record])[0].record.safety}
    assert labels == {"stress"}
    assert safety_thresholds(forced)[stress] == pytest.approx(0.5)
    head_only = dataclasses.replace(scorer_models, ensemble=None)
    assert {s.label for s in ScorerStage(policy, head_only).score([record])[0].record.safety} == {"neutral"}
    # Not used for a label: the head's probability and threshold, whatever the stacker says.
    idle = dataclasses.replace(scorer_models, ensemble=_ensemble(np.zeros(N, dtype=bool), intercept))
    assert {s.label for s in ScorerStage(policy, idle).score([record])[0].record.safety} == {"neutral"}


def test_the_gate_still_has_to_agree_for_the_gated_labels(scorer_models) -> None:
    head = scorer_models.heads.safety
    j = SAFETY_LABELS.index("self_harm_high")
    intercept = np.full(N, 10.0)  # the stacker says every label, always
    ens = _ensemble(np.ones(N, dtype=bool), intercept)
    from crucible.scorer.encoder import embed_turns

    texts = ["We had a lovely picnic in the park today."]
    embedded = embed_turns(scorer_models.encoder, texts)
    readings = read_turns(head, ens.lexical, texts, embedded.turns, embedded.sentences)
    assert readings.minilm[0, j] == 0.0  # the gate vetoes self_harm_high for an everyday message
    assert ens.stacked(head, readings)[0, j] == 0.0
    assert ens.stacked(head, readings)[0, SAFETY_LABELS.index("stress")] > 0.99
    assert features(readings).shape == (1, N, len(FEATURES))


def test_trained_models_carry_the_ensemble_and_its_rule(scorer_models) -> None:
    ens = scorer_models.ensemble
    assert ens is not None
    assert "keep_rule" in ens.rule and "held_out_check" in ens.rule
    fig = scorer_models.metrics["ensemble"]
    for member in ("minilm", "lexical", "backstop", "stacker", "ensemble"):
        block = fig["held_out"][member]
        assert {"macro_f1", "crisis_recall", "false_alarm_rate", "brier", "ece"} <= set(block)
        assert set(block["brier"]) == set(SAFETY_LABELS)
        for slice_name in ("idioms", "self_injury"):
            assert member in fig["slices"][slice_name]
    # Where the ensemble does not decide, the served figures are the head's.
    if not ens.use.any():
        assert fig["held_out"]["ensemble"]["macro_f1"] == fig["held_out"]["minilm"]["macro_f1"]


def test_fit_ensemble_learns_from_train_and_validation_only() -> None:
    """The lexical model's n-grams come from the train split only, the stacker and the keep decision from
    validation only: a word only the test split uses is unknown to both, and changing every test row
    changes nothing that was fitted."""
    from crucible.scorer.heads import SafetyHead
    from crucible.scorer.labelled import SafetyExample
    from crucible.scorer.stacking import fit_ensemble

    rng = np.random.default_rng(3)
    words = {"neutral": "picnic garden sunny", "stress": "deadline rent bills", "self_harm_low": "hurt myself"}
    rows: list[SafetyExample] = []
    for split, count in (("train", 60), ("val", 40), ("test", 20)):
        for i in range(count):
            label = list(words)[i % 3]
            extra = " zzqxj" if split == "test" else ""
            rows.append(SafetyExample(f"{words[label]} {i}{extra}", (label,), split))
    embed = {e.text: (v := rng.normal(size=384).astype(np.float32)) / np.linalg.norm(v) for e in rows}
    sentences = {t: v[None] for t, v in embed.items()}
    head = SafetyHead(
        np.zeros((384, 4), np.float32),
        np.zeros(4, np.float32),
        np.zeros((4, N), np.float32),
        np.zeros(N, np.float32),
        np.full(N, 0.5, np.float32),
    )  # a head that knows nothing: p = 0.5 everywhere
    ens, fit = fit_ensemble(rows, head, embed, sentences)
    assert not any("zzq" in gram for gram in ens.lexical.vocabulary)
    assert fit["n_val"] == 40 and fit["n_train_lexical"] == 60
    # The lexical member carries the signal the head lacks, so the stacker leans on it...
    j = SAFETY_LABELS.index("self_harm_low")
    assert ens.coef[j, FEATURES.index("logit_lexical")] > 0.5
    # ...and the keep rule hands the ensemble the labels where it won on validation (and only those).
    assert set(fit["ensemble_decides"]) == {
        label for label, f in fit["validation_out_of_fold"].items() if f["ensemble_decides"]
    }
    assert "self_harm_low" in fit["ensemble_decides"]
    shuffled = [SafetyExample(e.text + " again", e.labels[::-1], e.split) if e.split == "test" else e for e in rows]
    embed2 = {**embed, **{e.text: embed[r.text] for e, r in zip(shuffled, rows, strict=True) if e.split == "test"}}
    sentences2 = {t: v[None] for t, v in embed2.items()}
    again, _ = fit_ensemble(shuffled, head, embed2, sentences2)
    assert np.allclose(again.coef, ens.coef) and again.use.tolist() == ens.use.tolist()
