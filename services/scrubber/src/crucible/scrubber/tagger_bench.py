"""The learned cascade's own figures in `crucible bench scrub --json` (`learned_detector`): the same
texts scored with the cascade off and on in one run, the share of texts that reach the model, and
what the model costs per text, timed interleaved with Presidio's NER-less analyzer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from crucible.scrubber.baselines import throughput_interleaved
from crucible.scrubber.detect import Detector

KEY_TYPES = ("PERSON", "ORGANIZATION", "STREET_ADDRESS")


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures[k] for k in ("recall", "precision", "precision_strict", "f1")} | {
        "per_type_recall": {t: figures["per_type"][t]["recall"] for t in KEY_TYPES},
        "per_type_recall_typed": {t: figures["per_type"][t]["recall_typed"] for t in KEY_TYPES},
    }


def cascade_figures(
    detector: Detector,
    data: Sequence[dict[str, Any]],
    parts: dict[str, list[int]],
    score: Callable[..., dict[str, Any]],
    messages: Sequence[str],
    over_redaction: Callable[..., dict[str, Any]],
    baseline_no_ner: Callable[[str], Any],
    rounds: int,
) -> dict[str, Any]:
    """`detector` is the bench's own (cascade on, if weights with a kept type are stored)."""
    tagger = detector.tagger
    if tagger is None:
        return {"enabled": False, "why": "no stored weights with a kept type (data/span_tagger.npz)"}
    off = Detector(lex=detector.lex)
    texts = [r["full_text"] for r in data]
    tagger.calls = tagger.scored = 0
    on_preds = [[(s.start, s.end, s.entity_type) for s in detector.detect(t)] for t in texts]
    reached, scored = tagger.calls, tagger.scored
    off_preds = [[(s.start, s.end, s.entity_type) for s in off.detect(t)] for t in texts]
    quality: dict[str, Any] = {"cascade_off": {}, "cascade_on": {}}
    for name, idx in parts.items():
        for key, preds in (("cascade_off", off_preds), ("cascade_on", on_preds)):
            quality[key][name] = _summary(score([data[i] for i in idx], [preds[i] for i in idx]))
    for key, det in (("cascade_off", off), ("cascade_on", detector)):
        clean = over_redaction(messages, [[(s.start, s.end, s.entity_type) for s in det.detect(m)] for m in messages])
        quality[key]["clean_over_redaction"] = clean["over_redaction"]
    # Each order once: whichever runs first after the baseline in a chunk finds colder caches.
    on1, off1, base1 = throughput_interleaved([detector.detect, off.detect, baseline_no_ner], texts, rounds)
    off2, on2, base2 = throughput_interleaved([off.detect, detector.detect, baseline_no_ner], texts, rounds)
    on_rps, off_rps, base_rps = (round((a + b) / 2, 1) for a, b in ((on1, on2), (off1, off2), (base1, base2)))
    # The model's own cost: the cascade step alone, over the rules' spans of every text.
    rule_spans = [off.detect(t) for t in texts]
    t0 = time.process_time()
    for t, s in zip(texts, rule_spans, strict=True):
        tagger.refine(t, s)
    refine_ms = (time.process_time() - t0) * 1000 / len(texts)
    return {
        "enabled": True,
        "kept_types": {t: round(v, 3) for t, v in tagger.thresholds.items()},
        "keep_rule": "a type is kept when the cascade with that type alone raises held-out F1 and that "
        "type's recall and keeps clean over-redaction <= 2 % (docs/scrubber.md, 'Learned detector')",
        **quality,
        "texts_reaching_model": round(reached / len(texts), 4),
        "candidates_scored_per_text": round(scored / len(texts), 4),
        "throughput": {
            "method": "detect only, cascade on / off / Presidio without NER, interleaved, one thread, "
            "mean of both orders (on first, off first)",
            "records_per_s_by_order": {"on_first": [on1, off1, base1], "off_first": [on2, off2, base2]},
            "detect_cascade_on_records_per_s": on_rps,
            "detect_cascade_off_records_per_s": off_rps,
            "baseline_presidio_analyzer_records_per_s": base_rps,
            "ratio_detect_cascade_on": round(on_rps / base_rps, 2) if base_rps else None,
            "ratio_detect_cascade_off": round(off_rps / base_rps, 2) if base_rps else None,
            "cascade_cost_share": round(1 - on_rps / off_rps, 4) if off_rps else None,
            "model_ms_per_text": round(refine_ms, 4),
        },
    }
