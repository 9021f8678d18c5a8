"""The scorer's core: a batch of scrubbed records in; each comes out scored (quality with its breakdown,
category, safety labels) and is kept, rejected (below the threshold) or held for a person.

One encoder pass per distinct sentence of a person's turns (MiniLM) and per reply (the static reply
encoder), shared by all heads: safety reads the person's turns, category reads the mean person and reply
vectors, coherence compares each person turn with the reply to it. No I/O: the encoders and heads are
loaded by the shell and handed in.

Decision, in this order:
1. any safety label in `safety.review_labels` (self harm, unsafe environment)  -> held (never dropped);
   the reply screen's findings (a reply dismissing the crisis, ...) go with it for the reviewer
2. a coach's reply the answer-safety judge screens out (exclusions.py)          -> rejected (`reply_<kind>`),
   or held when `safety.reply_screen.action` is hold
3. no relationship, partner or feeling word in any turn, score otherwise enough -> rejected (`irrelevant`)
4. older than `freshness.max_age_days` and below `freshness.min_quality`        -> rejected (`outdated`)
5. |score - threshold| <= review_margin                                         -> held (borderline)
6. score >= threshold -> kept;  below -> rejected ("below_quality", with the breakdown)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from crucible.common.answer_judge import ANSWER_JUDGE_VERSION
from crucible.common.categories import CATEGORIES
from crucible.common.stage import Rejection, StageResult
from crucible.scorer import __version__
from crucible.scorer.crisis import second_opinion
from crucible.scorer.diversity import RunningDistribution
from crucible.scorer.diversity_state import Decided, DiversityLedger, decision_key
from crucible.scorer.empathy import empathy_score
from crucible.scorer.encoder import DIM, embed_turns
from crucible.scorer.ensemble import safety_probabilities, safety_thresholds
from crucible.scorer.exclusions import outdated, relevant, screen_replies
from crucible.scorer.models import ScorerModels
from crucible.scorer.policy import SAFETY_LABELS, ScorerPolicy, app_signal_share
from crucible.scorer.quality import Measures, breakdown, quality_score
from crucible.scorer.record_view import RecordView, check_signals, effective_threshold, view_record
from crucible.v1 import records_pb2

NEUTRAL = SAFETY_LABELS.index("neutral")
REVIEW_REASON = "flagged_for_review"
BELOW_REASON = "below_quality"
IRRELEVANT_REASON = "irrelevant"
OUTDATED_REASON = "outdated"


@dataclass(frozen=True)
class Scored:
    """One record's outcome, for the stage and for the offline command."""

    record: records_pb2.Record  # a scored copy of the input
    outcome: str  # kept | rejected | held
    threshold: float
    review_reasons: list[str]
    issues: list[str]
    detail: str
    reason: str = BELOW_REASON  # the rejection's code: below_quality, reply_*, irrelevant, outdated


@dataclass
class ScorerStage:
    policy: ScorerPolicy
    models: ScorerModels
    distribution: RunningDistribution | None = None
    # The versioned state behind the diversity points (`diversity_state`): without one, an
    # in-memory ledger over `distribution`.
    ledger: DiversityLedger | None = None
    name: str = "scorer"
    version: str = __version__
    timings: dict[str, float] = field(default_factory=lambda: {"encode_s": 0.0, "heads_s": 0.0, "formula_s": 0.0})

    def __post_init__(self) -> None:
        if self.distribution is None:
            self.distribution = RunningDistribution(self.policy.diversity)
        if self.ledger is None:
            self.ledger = DiversityLedger.in_memory(self.distribution)

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        result = StageResult()
        for scored in self.score(batch):
            if scored.outcome == "kept":
                result.kept.append(scored.record)
            elif scored.outcome == "held":
                result.held.append(Rejection(scored.record, REVIEW_REASON, scored.detail))
            else:
                result.rejected.append(Rejection(scored.record, scored.reason, scored.detail))
        return result

    def score(self, batch: Sequence[records_pb2.Record]) -> list[Scored]:
        policy = self.policy
        heads = self.models.heads
        t0 = time.perf_counter()
        views = [view_record(r, policy.encoder.max_turns) for r in batch]
        texts = [text for v in views for _, text in v.turns]
        embedded = embed_turns(
            self.models.encoder,
            texts,
            whole=[role == "assistant" for v in views for role, _ in v.turns],
            replies=self.models.replies,
        )
        t1 = time.perf_counter()

        # Where each record's turns sit in the flat arrays.
        offsets = np.cumsum([0] + [len(v.turns) for v in views])
        person_rows = [
            [int(offsets[i]) + j for j, (role, _) in enumerate(v.turns) if role == "user"] for i, v in enumerate(views)
        ]
        reply_rows = [
            [int(offsets[i]) + j for j, (role, _) in enumerate(v.turns) if role == "assistant"]
            for i, v in enumerate(views)
        ]
        flat_person = [row for rows in person_rows for row in rows]
        # The safety ensemble's decision (the head alone where it did not win on validation: ensemble.py).
        turn_probs = safety_probabilities(
            self.models, [texts[r] for r in flat_person], embedded.turns[flat_person],
            [embedded.sentences[r] for r in flat_person],
        )  # fmt: skip
        features = np.zeros((len(views), 2 * DIM), dtype=np.float32)
        for i in range(len(views)):
            features[i, :DIM] = _mean_unit(embedded.turns[person_rows[i]])
            features[i, DIM:] = _mean_unit(embedded.turns[reply_rows[i]])
        category_probs = heads.category.probabilities(features) if views else np.zeros((0, len(CATEGORIES)))
        t2 = time.perf_counter()

        # Every record is scored against one snapshot of the diversity counts (the one it was
        # first scored against, if this is a redelivery), so the answer does not depend on what
        # else is in the batch or on what happened before a crash.
        ledger = self.ledger
        assert ledger is not None
        known = ledger.basis(batch)
        out: list[Scored] = []
        cursor = 0
        for i, (record, view) in enumerate(zip(batch, views, strict=True)):
            n_person = len(person_rows[i])
            probs = turn_probs[cursor : cursor + n_person].max(axis=0) if n_person else None
            if probs is not None and n_person > 1:
                probs[NEUTRAL] = turn_probs[cursor : cursor + n_person, NEUTRAL].min()
            cursor += n_person
            coherence = None
            if view.pairs:
                base = int(offsets[i])
                cos = [float(embedded.turns[base + u] @ embedded.turns[base + a]) for u, a in view.pairs]
                coherence = float(np.mean(heads.coherence(np.array(cos))))
            basis = known.snapshots.get(decision_key(record), ledger.current)
            out.append(self._decide(record, view, category_probs[i], probs, coherence, basis))
        decided: list[Decided] = []
        observed: list[tuple[str, Mapping[str, str]]] = []
        counted = set(known.observed)  # a record's observation counts once, whatever its versions
        for s in out:
            key = decision_key(s.record)
            if key in known.snapshots or any(d.key == key for d in decided):
                continue
            counts = s.outcome == "kept" and s.record.record_id not in counted
            decided.append(Decided(key, s.record.record_id, counts))
            if counts:
                counted.add(s.record.record_id)
                observed.append((s.record.category, s.record.context))
        ledger.propose(decided, observed)
        t3 = time.perf_counter()
        self.timings["encode_s"] += t1 - t0
        self.timings["heads_s"] += t2 - t1
        self.timings["formula_s"] += t3 - t2
        return out

    def _decide(
        self,
        record: records_pb2.Record,
        view: RecordView,
        category_probs: np.ndarray,
        safety_probs: np.ndarray | None,
        coherence: float | None,
        distribution: RunningDistribution,
    ) -> Scored:
        policy = self.policy
        signals = check_signals(record)
        issues = view.issues + signals.issues
        scored = records_pb2.Record()
        scored.CopyFrom(record)
        # A record with nothing to read has no category (and earns no diversity point for one).
        category = CATEGORIES[int(np.argmax(category_probs))] if view.turns else ""
        replies = view.texts(frozenset({"assistant"}))
        empathy = float(np.mean([empathy_score(t) for t in replies])) if replies else None
        verdict = distribution.assess(category, record.context)
        extra = dict(verdict.measures)
        if category:
            extra[f"category.{category}"] = round(float(category_probs.max()), 4)
        extra.update({f"signal_invalid.{k}": v for k, v in signals.invalid.items()})
        if signals.from_helpfulness:
            extra["satisfaction_from_helpfulness"] = 1.0

        labels = _safety_labels(safety_probs, safety_thresholds(self.models))
        if policy.safety.crisis_backstop:
            person_text = " ".join(
                t.text for t in record.turns if t.role.strip().lower() not in ("assistant", "system")
            )
            _, added, figurative = second_opinion(person_text, set(labels) - {"neutral"})
            for label in sorted(added):
                labels[label] = 1.0
                extra[f"safety.backstop.{label}"] = 1.0
            for label in sorted(figurative):  # death or killing words only in figures of speech
                extra[f"safety.figurative.{label}"] = round(labels.pop(label), 4)
            if len(labels) > 1:
                labels.pop("neutral", None)
            if not labels and safety_probs is not None:
                labels["neutral"] = float(safety_probs[NEUTRAL])
        if safety_probs is None and not labels:
            issues = [*issues, "no person text: no safety labels"]

        measures = Measures(
            reply_chars=view.reply_chars,
            turns=view.turn_count,
            satisfaction=signals.satisfaction,
            action_taken=signals.action_taken,
            positive_outcome=signals.positive_outcome,
            coherence=coherence,
            empathy=empathy,
            underrepresented=verdict.underrepresented,
            unique_context=verdict.unique_context,
            extra=extra,
        )
        quality = quality_score(measures, policy)
        scored.ClearField("quality")
        scored.quality.CopyFrom(quality)
        scored.category = category
        del scored.safety[:]
        for label, score in sorted(labels.items(), key=lambda kv: -kv[1]):
            scored.safety.add(label=label, score=round(float(score), 4))

        threshold = effective_threshold(record, policy.threshold, app_signal_share(policy))
        reasons = [f"safety:{label}" for label in labels if label in policy.safety.review_labels]
        screen = policy.safety.reply_screen
        findings = [] if screen.action == "off" else screen_replies(replies, set(labels), screen.strict_categories)
        if not screen.crisis_response_required:
            findings = [f for f in findings if f.kind != "dismisses_crisis"]
        reject = ""  # an exclusion of seed 001 (the reason code), checked after the crisis hold
        if reasons or (findings and screen.action == "hold"):
            reasons += [f"reply:{f.kind}:{f.rule_id}" for f in findings]
        elif findings:
            reject = findings[0].code
        elif (
            policy.relevance
            and quality.total >= threshold - policy.review_margin - 1e-9  # what relevance alone takes out
            and not relevant(view.texts(frozenset({"user", "assistant"})))
        ):
            reject = IRRELEVANT_REASON
        elif quality.total < policy.freshness.min_quality and _outdated(record, policy.freshness.max_age_days):
            reject = OUTDATED_REASON
        near = policy.review_margin > 0 and abs(quality.total - threshold) <= policy.review_margin + 1e-9
        if near and not reasons and not reject:
            reasons.append("near_threshold")
        if reasons:
            outcome = "held"
        elif not reject and quality.total >= threshold - 1e-9:
            outcome = "kept"
        else:
            outcome = "rejected"
        more: dict[str, object] = {"excluded": reject} if reject else {}
        if findings:
            more["replies"] = [{"finding": f.kind, "rule": f.rule_id} for f in findings]
            more["answer_judge"] = ANSWER_JUDGE_VERSION
        detail = breakdown(
            quality, threshold, issues, outcome=outcome, review=reasons, category=category, safety=dict(labels), **more
        )
        return Scored(scored, outcome, threshold, reasons, issues, detail, reject or BELOW_REASON)


def _outdated(record: records_pb2.Record, max_age_days: int) -> bool:
    created = record.created_at.ToSeconds() if record.HasField("created_at") else None
    extracted = record.extraction.extracted_at.ToSeconds() if record.extraction.HasField("extracted_at") else None
    return outdated(created, extracted or time.time(), max_age_days)


def _mean_unit(vectors: np.ndarray) -> np.ndarray:
    if len(vectors) == 0:
        return np.zeros(DIM, dtype=np.float32)
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-9)


def _safety_labels(probs: np.ndarray | None, thresholds: np.ndarray) -> dict[str, float]:
    """The labels at or above their thresholds; `neutral` alone when no other label fires."""
    if probs is None:
        return {}
    fired = {
        label: float(p)
        for label, p, t in zip(SAFETY_LABELS, probs, thresholds, strict=True)
        if label != "neutral" and p >= t
    }
    return fired or {"neutral": float(probs[SAFETY_LABELS.index("neutral")])}
