"""Preference pairs (chosen, rejected) from what people and judges said about answers. Pure.

Three sources, one output type (`PreferencePair`, with its provenance):
- feedback: a rated-up and a rated-down answer to the same or a near-identical prompt
  (`FeedbackRow`: one served exchange with its feedback, or a review-queue decision);
- judgements: the evaluator's pairwise verdicts in an evaluation report (candidate vs serving
  on one test prompt, both orders agreeing);
- review: a record approved in review is an answer people vouched for, a rejected one an
  answer they refused; they pair with each other and with feedback rows like ratings do.

Near-identical prompts are found the way the dedup stage finds near-duplicate records: the
dedup normalisation (NFKC, lower case, punctuation out, white space collapsed), character
5-gram MinHash with LSH (datasketch, the dedup stage's reference implementation), at the dedup
threshold (Jaccard 0.85), and the candidates confirmed by their exact shingle Jaccard.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crucible.dataset.splitting import UnionFind

SHINGLE = 5
NUM_PERM = 128
SOURCES = ("feedback", "review", "judgement")


@dataclass(frozen=True)
class FeedbackRow:
    """One served exchange and what its user said about it (or a review decision on a record).

    The adapter for the gateway's interaction records is `row_from_interaction`."""

    prompt: Sequence[Mapping[str, str]]  # the conversation up to the answer: [{role, content}, ...]
    answer: str
    rating: int | None  # 1-10, None when only advice_accepted (or a review decision) is known
    advice_accepted: bool | None
    subject_token: str
    variant: str = ""  # stable | canary
    model: str = ""  # the model (adapter) that answered
    response_id: str = ""
    interaction_id: str = ""  # the interaction record id (the curated store's record_id)
    cluster_id: str = ""  # the interaction record's dedup cluster, when it has passed dedup
    source: str = "feedback"  # feedback | review


@dataclass(frozen=True)
class PreferenceSettings:
    up_min_rating: int = 7  # a rating at or above this is "rated up"
    down_max_rating: int = 4  # at or below this, "rated down"
    min_rating_gap: int = 2  # chosen and rejected ratings must differ by at least this much
    prompt_threshold: float = 0.85  # Jaccard of prompt 5-gram sets: "near-identical"
    max_pairs_per_prompt: int = 16  # no one prompt dominates the set
    pairing: str = "margin"  # margin | polarity (see pairs_from_feedback)
    seed: int = 42


@dataclass(frozen=True)
class PreferencePair:
    pair_id: str
    prompt: list[dict[str, str]]
    chosen: str
    rejected: str
    source: str  # feedback | review | judgement
    subjects: tuple[str, ...]  # every subject whose words are in the pair (leakage groups)
    clusters: tuple[str, ...]  # dedup clusters and the prompt group (leakage groups)
    provenance: dict[str, Any] = field(default_factory=dict)
    pinned_split: str = ""  # a pair derived from a held-out test prompt stays in "test"

    def as_json(self) -> dict[str, Any]:
        """One line of a `*.pairs.jsonl` file: TRL's conversational preference format plus provenance."""
        return {
            "pair_id": self.pair_id,
            "prompt": self.prompt,
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
            "source": self.source,
            "provenance": self.provenance,
        }


# ------------------------------------------------------------------ adapters


def row_from_interaction(record: Any, feedback: Mapping[str, Any] | None = None) -> FeedbackRow:
    """The adapter for a curated `interaction` Record (crucible.v1.Record after the scrubber, scorer
    and dedup), with its feedback.

    Expects: `record.turns` = the conversation, ending with the assistant's answer;
    `record.subject_token`; `record.record_id`; `record.dedup.cluster_id`; `record.context` with
    `variant` and `model`; the response id in `context["response_id"]` or `source.key`. The feedback
    is `feedback` ({rating: 1-10 | None, advice_accepted: bool | None}) when given, else the record's
    own signals (`signals.satisfaction`, `signals.action_taken`: where late feedback is merged)."""
    turns = [(t.role, t.text) for t in record.turns if t.text.strip() and t.role != "system"]
    if not turns or turns[-1][0] != "assistant":
        raise ValueError(f"interaction {record.record_id} does not end with an answer")
    prompt = [{"role": "user" if r != "assistant" else "assistant", "content": x} for r, x in turns[:-1]]
    ctx = dict(record.context)
    if feedback is None:
        sig = record.signals
        rating = sig.satisfaction if sig.HasField("satisfaction") else None
        accepted = sig.action_taken if sig.HasField("action_taken") else None
    else:
        rating, accepted = feedback.get("rating"), feedback.get("advice_accepted")
    return FeedbackRow(
        prompt=prompt,
        answer=turns[-1][1],
        rating=round(float(rating)) if rating is not None else None,
        advice_accepted=bool(accepted) if accepted is not None else None,
        subject_token=record.subject_token,
        variant=ctx.get("variant", ""),
        model=ctx.get("model", ""),
        response_id=ctx.get("response_id", "") or record.source.key,
        interaction_id=record.record_id,
        cluster_id=record.dedup.cluster_id,
    )


def row_from_feedback_example(example: Any) -> FeedbackRow:
    """A stored feedback row joined to its scrubbed interaction (`crucible.common.feedback.
    FeedbackExample`): the gateway's own record of what was asked, answered and said about it."""
    return FeedbackRow(
        prompt=[{"role": "user", "content": example.prompt}],
        answer=example.answer,
        rating=example.rating,
        advice_accepted=example.advice_accepted,
        subject_token=example.subject_token,
        variant=example.variant,
        model=example.model,
        response_id=example.response_id,
        interaction_id=example.record_id,
        cluster_id=example.cluster_id,
    )


def row_from_exchange(exchange: Mapping[str, Any], subject_token: str) -> FeedbackRow:
    """A rated exchange as the embedded run's load generator reports it: {question, answer, rating,
    advice_accepted, variant, model, response_id}. The seam until interactions are published:
    these prompts are the load generator's fixed synthetic questions, so no PII is involved; the
    response id stands in for the interaction record id."""
    accepted = exchange.get("advice_accepted")
    return FeedbackRow(
        prompt=[{"role": "user", "content": str(exchange["question"])}],
        answer=str(exchange.get("answer") or ""),
        rating=int(exchange["rating"]) if exchange.get("rating") is not None else None,
        advice_accepted=bool(accepted) if accepted is not None else None,
        subject_token=subject_token,
        variant=str(exchange.get("variant", "")),
        model=str(exchange.get("model", "")),
        response_id=str(exchange.get("response_id", "")),
        interaction_id=str(exchange.get("response_id", "")),
    )


def row_from_review(record: Any, status: str, decided_by: str = "") -> FeedbackRow:
    """A decided review-queue item: approved = an answer people vouched for, rejected = refused."""
    if status not in ("approved", "rejected"):
        raise ValueError(f"review item {record.record_id} is {status!r}, not decided")
    turns = [(t.role, t.text) for t in record.turns if t.text.strip() and t.role != "system"]
    while turns and turns[-1][0] != "assistant":
        turns.pop()
    if len(turns) < 2:
        raise ValueError(f"review item {record.record_id} has no answered prompt")
    prompt = [{"role": "assistant" if r == "assistant" else "user", "content": x} for r, x in turns[:-1]]
    return FeedbackRow(
        prompt=prompt,
        answer=turns[-1][1],
        rating=None,
        advice_accepted=status == "approved",
        subject_token=record.subject_token,
        model=decided_by,
        interaction_id=record.record_id,
        cluster_id=record.dedup.cluster_id,
        source="review",
    )


# ------------------------------------------------------------------ feedback pairs


def polarity(row: FeedbackRow, s: PreferenceSettings) -> int:
    """+1 rated up, -1 rated down, 0 neither. A rating decides; without one, advice_accepted does."""
    if row.rating is not None:
        if row.rating >= s.up_min_rating and row.advice_accepted is not False:
            return 1
        if row.rating <= s.down_max_rating and row.advice_accepted is not True:
            return -1
        return 0
    if row.advice_accepted is None:
        return 0
    return 1 if row.advice_accepted else -1


def normalise(text: str) -> str:
    """The dedup stage's definition: NFKC, lower case, punctuation (P*) removed, white space collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def prompt_text(prompt: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(m["content"] for m in prompt)


def shingles(text: str) -> set[str]:
    if len(text) < SHINGLE:
        return {text} if text else set()
    return {text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)}


def prompt_groups(prompts: Sequence[str], threshold: float) -> list[int]:
    """A group number per prompt: equal after normalisation, or near-identical (5-gram Jaccard >=
    threshold, candidates from MinHash LSH, confirmed exactly). Deterministic in input order."""
    from datasketch import MinHash, MinHashLSH

    norm = [normalise(p) for p in prompts]
    uf = UnionFind()
    first: dict[str, int] = {}
    for i, text in enumerate(norm):
        uf.union(str(first.setdefault(text, i)), str(i))
    distinct = sorted(first.values())
    sets = {i: shingles(norm[i]) for i in distinct}
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for i in distinct:
        mh = MinHash(num_perm=NUM_PERM, seed=1)
        mh.update_batch([s.encode("utf-8") for s in sets[i]])
        for j in lsh.query(mh):
            a, b = sets[i], sets[int(j)]
            if a and b and len(a & b) / len(a | b) >= threshold:
                uf.union(str(i), str(j))
        lsh.insert(str(i), mh)
    roots: dict[str, int] = {}
    return [roots.setdefault(uf.find(str(i)), len(roots)) for i in range(len(prompts))]


def pairs_from_feedback(rows: Sequence[FeedbackRow], settings: PreferenceSettings) -> list[PreferencePair]:
    """Within each group of (near-)identical prompts, the best-rated answers paired with the worst.

    The chosen answer is always rated up (`polarity` +1). The rejected one is rated down
    (`pairing: polarity`), or rated at least `min_rating_gap` lower than the chosen one
    (`pairing: margin`, the default: ratings in apps skew high, and "clearly worse than another
    answer to the same question" is the preference a DPO pair states). Each answer is used once,
    and the two answers must differ after normalisation."""
    rated = [(r, polarity(r, settings)) for r in rows if r.answer.strip()]
    rated = [(r, p) for r, p in rated if p != 0 or (settings.pairing == "margin" and r.rating is not None)]
    if not rated:
        return []
    groups = prompt_groups([prompt_text(r.prompt) for r, _ in rated], settings.prompt_threshold)
    by_group: dict[int, list[tuple[FeedbackRow, int]]] = defaultdict(list)
    for (row, pol), g in zip(rated, groups, strict=True):
        by_group[g].append((row, pol))
    pairs: list[PreferencePair] = []
    for g in sorted(by_group):
        members = by_group[g]
        order = sorted(
            range(len(members)), key=lambda i: (-_score(members[i][0]), _tiebreak(settings.seed, members[i][0]))
        )
        group_key = "prompt:" + _digest(normalise(prompt_text(members[order[0]][0].prompt)))
        used: set[int] = set()
        made = 0
        for i in order:
            chosen, pol = members[i]
            if made >= settings.max_pairs_per_prompt:
                break
            if i in used or pol <= 0:
                continue
            for j in reversed(order):  # the worst-rated first
                rejected, rpol = members[j]
                if j == i or j in used or (settings.pairing == "polarity" and rpol >= 0):
                    continue
                if not _far_enough(chosen, rejected, settings) or normalise(chosen.answer) == normalise(
                    rejected.answer
                ):
                    continue
                used.update((i, j))
                pairs.append(_feedback_pair(chosen, rejected, group_key))
                made += 1
                break
    return sorted(pairs, key=lambda p: p.pair_id)


def _score(row: FeedbackRow) -> float:
    # Review approvals rank like a 10, refusals like a 1: a person looked at the whole answer.
    if row.rating is not None:
        return float(row.rating)
    return 10.0 if row.advice_accepted else 1.0


def _far_enough(chosen: FeedbackRow, rejected: FeedbackRow, s: PreferenceSettings) -> bool:
    if chosen.rating is None or rejected.rating is None:
        # Polarity alone decides (advice accepted vs not, a review decision): only opposite ones pair.
        return polarity(rejected, s) < 0
    return chosen.rating - rejected.rating >= s.min_rating_gap


def _tiebreak(seed: int, row: FeedbackRow) -> str:
    return _digest(f"{seed}\x00{row.interaction_id}\x00{row.response_id}")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _feedback_pair(chosen: FeedbackRow, rejected: FeedbackRow, group_key: str) -> PreferencePair:
    source = "review" if "review" in (chosen.source, rejected.source) else "feedback"
    return PreferencePair(
        pair_id=_digest(
            f"{source}\x00{chosen.interaction_id}\x00{chosen.response_id}\x00{rejected.interaction_id}"
            f"\x00{rejected.response_id}"
        ),
        prompt=[dict(m) for m in chosen.prompt],
        chosen=chosen.answer,
        rejected=rejected.answer,
        source=source,
        subjects=tuple(sorted({chosen.subject_token, rejected.subject_token} - {""})),
        clusters=tuple(sorted({group_key, chosen.cluster_id, rejected.cluster_id} - {""})),
        provenance={
            side: {
                "interaction_id": row.interaction_id,
                "subject_token": row.subject_token,
                "response_id": row.response_id,
                "rating": row.rating,
                "advice_accepted": row.advice_accepted,
                "variant": row.variant,
                "model": row.model,
                "source": row.source,
            }
            for side, row in (("chosen", chosen), ("rejected", rejected))
        },
    )


# ------------------------------------------------------------------ judgement pairs


def pairs_from_judgements(report: Mapping[str, Any]) -> list[PreferencePair]:
    """The evaluator's pairwise verdicts in one evaluation report: where candidate and serving were
    judged (both orders agreeing), the winner's answer is chosen, the loser's rejected; ties and
    guarded answers (the same template for both) give nothing.

    The prompts are the evaluated dataset's held-out test prompts, so these pairs are pinned to
    the test split: training on them would leak the test set the models are rated on."""
    pw = report.get("pairwise") or {}
    candidate, serving = pw.get("candidate", report.get("model_name", "")), pw.get("serving", "")
    pairs = []
    for a in report.get("answers") or []:
        verdict = a.get("pairwise")
        if verdict not in ("candidate", "serving") or a.get("serving") is None or a.get("guard"):
            continue
        won, lost = ("candidate", "serving") if verdict == "candidate" else ("serving", "candidate")
        prompt = [dict(m) for m in a.get("prompt") or [] if m.get("role") != "system"]
        if not prompt or normalise(a[won]) == normalise(a[lost]):
            continue
        example = str(a.get("example_id", ""))
        pairs.append(
            PreferencePair(
                pair_id=_digest(f"judgement\x00{candidate}\x00{serving}\x00{example}"),
                prompt=prompt,
                chosen=str(a[won]),
                rejected=str(a[lost]),
                source="judgement",
                subjects=(),
                clusters=("example:" + example,),
                provenance={
                    "report_model": candidate,
                    "compared_with": serving,
                    "judge": pw.get("judge", ""),
                    "example_id": example,
                    "winner": verdict,
                    "chosen_model": candidate if won == "candidate" else serving,
                    "rejected_model": serving if won == "candidate" else candidate,
                },
                pinned_split="test",
            )
        )
    return sorted(pairs, key=lambda p: p.pair_id)


def merge_pairs(*sources: Iterable[PreferencePair]) -> list[PreferencePair]:
    """All pairs, each id once (the first source wins), in id order."""
    seen: dict[str, PreferencePair] = {}
    for pairs in sources:
        for p in pairs:
            seen.setdefault(p.pair_id, p)
    return [seen[k] for k in sorted(seen)]
