"""The metric wrappers give the libraries' own numbers on known inputs."""

from __future__ import annotations

import pytest

from crucible.evaluator import metrics
from crucible.evaluator.policy import BertScoreSettings

HYPS = [
    "It sounds like you feel tired. Try a weekly check-in together.",
    "Plan a short walk this week.",
    "",
]
REFS = [
    "It sounds like you feel exhausted. Try a weekly check-in with your partner.",
    "Plan a short screen-free date this week, even a walk counts.",
    "Listen first and repeat back what you heard.",
]


def test_bleu_is_sacrebleu_corpus_bleu_on_a_0_1_scale() -> None:
    import sacrebleu

    expected = sacrebleu.corpus_bleu(HYPS, [REFS]).score / 100
    assert metrics.bleu(HYPS, REFS)["bleu"] == pytest.approx(expected, abs=1e-12)
    assert metrics.bleu(REFS, REFS)["bleu"] == pytest.approx(1.0)


def test_rouge_l_is_the_mean_rouge_score_f_measure() -> None:
    from rouge_score import rouge_scorer

    s = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = sum(s.score(r, h)["rougeL"].fmeasure for h, r in zip(HYPS, REFS, strict=True)) / len(HYPS)
    assert metrics.rouge_l(HYPS, REFS) == pytest.approx(expected, abs=1e-12)


def test_bertscore_matches_bert_score_with_the_local_minilm_without_rescaling() -> None:
    import warnings

    from bert_score import score

    path = metrics.default_encoder_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, f = score(HYPS[:2], REFS[:2], model_type=path, num_layers=6, rescale_with_baseline=False)
    got = metrics.bertscore(HYPS, REFS, BertScoreSettings())
    assert got.f1[:2] == pytest.approx([float(x) for x in f], abs=1e-5)
    assert got.f1[2] == 0.0  # an empty answer scores 0
    assert got.settings["rescale_with_baseline"] is False and got.settings["num_layers"] == 6
    same = metrics.bertscore(REFS[:2], REFS[:2], BertScoreSettings())
    assert same.mean_f1 == pytest.approx(1.0, abs=1e-4)


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(ValueError, match="2 answers but 3 references"):
        metrics.bleu(HYPS[:2], REFS)
