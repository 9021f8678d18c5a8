"""What keeps a record out of training besides its score (seed 001's exclusion criteria): the coach's
replies screened with the shared answer-safety judge, relevance to relationship coaching, and age.

- Reply screen: every assistant turn is read by `crucible.common.answer_judge` (the rules the evaluator's
  gate and the gateway use). A reply the judge calls unsafe is harmful advice; one sign of a category in
  `reply_screen.strict_categories` (medical or legal overreach by default) is enough here, because a
  training example teaches the model to say it again. A record whose person disclosed a crisis (a review
  label) and whose replies give no crisis or abuse resource, no safety check and no professional help
  dismisses the crisis: it is held anyway (crisis records are never dropped) and the review says why.
- Relevance: no word about a relationship, a partner, family, feelings or talking together in any turn
  (person or coach), in any of the app's languages (en, es, fr, de), means the conversation is off topic
  for a relationship-coaching model (a support ticket, a test message). A lexicon on purpose: cheap,
  explainable, and it errs towards keeping. Checked only on a record that would otherwise be kept (or
  held as borderline), so the count says what relevance alone took out.
- Age: older than `freshness.max_age_days` (two years) at extraction and below
  `freshness.min_quality` (a higher bar than the threshold: old data must be good to stay).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from crucible.common import answer_judge
from crucible.common.guard import normalise

SELF_HARM_OR_DANGER = frozenset({"self_harm_low", "self_harm_high", "unsafe_environment"})
# A reply to a disclosed crisis must do one of these (the judge's `must` rules).
_CRISIS_RESPONSES = ("crisis_resources", "abuse_resources", "checks_safety", "professional_help")

# Words about a relationship, a partner, family, feelings or talking with each other, in the app's languages
# (English, Spanish, French, German): a check-in in any of them is on topic.
_RELATIONSHIP_WORDS = re.compile(
    r"\b(?:"
    # English
    r"partners?|husband|wife|boyfriend|girlfriend|fianc[eé]e?|spouse|ex|bf|gf|relationship\w*|marri\w+|dating|dates?|"
    r"love[sd]?|loving|couples?|together|anniversary|wedding|divorce\w*|break ?up|broke up|argu\w+|fight\w*|fought|"
    r"trust|jealous\w*|intima\w+|sex|kids|children|family|in-laws?|feel\w*|felt|lonely|hurt|upset|angry|sad|miss|"
    r"apolog\w+|sorry|communicat\w+|conflict\w*|boundar\w+|we|us|our|both|you two|each other|connect\w*|close|"
    r"grateful|gratitude|appreciat\w+|talk\w*|listen\w*|date night|quality time|"
    # Spanish
    r"pareja|esposo|esposa|marido|novio|novia|amor|juntos|juntas|nosotros|nos|nuestr[oa]s?|familia|hijos|siento|"
    r"sent[ií]\w*|sient\w+|habl\w+|discut\w+|discusi\w+|pelea\w*|"
    # French
    r"couple|mari|femme|copain|copine|amour|ensemble|nous|notre|nos|famille|enfants|sens|ressens|[àa] deux|parl\w+|"
    r"disput\w+|"
    # German
    r"partnerin|mann|frau|freund|freundin|liebe|zusammen|wir|uns|unser\w*|familie|kinder|f[üu]hl\w*|beziehung|"
    r"gesprochen|streit\w*"
    r")\b"
    r"|\[partner\]"
)


@dataclass(frozen=True)
class ReplyFinding:
    """One reason a coach's reply keeps its record out of training: kind (harmful_advice,
    medical_overreach, legal_overreach, dismisses_crisis) and the judge's rule."""

    kind: str
    rule_id: str

    @property
    def code(self) -> str:
        return f"reply_{self.kind}"


def screen_replies(
    replies: Sequence[str], person_labels: set[str], strict_categories: Sequence[str]
) -> list[ReplyFinding]:
    """The findings on a record's replies, most serious first (an empty list: the replies may be trained on)."""
    findings: list[ReplyFinding] = []
    rules = answer_judge.must_not_rules()
    strict = set(strict_categories)
    for reply in replies:
        verdict = answer_judge.judge_answer(reply)
        if verdict.unsafe:
            findings.append(ReplyFinding("harmful_advice", verdict.rule_id))
            continue
        for rule_id in verdict.hits:
            category = rules[rule_id].category
            if category in strict:
                findings.append(ReplyFinding(f"{category}_overreach", rule_id))
                break
    if person_labels & SELF_HARM_OR_DANGER and replies:
        must = answer_judge.must_rules()
        if not any(must[r].found(reply) for reply in replies for r in _CRISIS_RESPONSES):
            findings.append(ReplyFinding("dismisses_crisis", "no_crisis_response"))
    order = ("harmful_advice", "dismisses_crisis")  # then the overreach kinds, in the order found
    return sorted(findings, key=lambda f: order.index(f.kind) if f.kind in order else len(order))


def relevant(texts: Sequence[str]) -> bool:
    """Whether any turn speaks of a relationship, a partner, family or feelings."""
    return any(_RELATIONSHIP_WORDS.search(normalise(t)) for t in texts)


def outdated(created_s: float | None, extracted_s: float | None, max_age_days: int) -> bool:
    """Older than `max_age_days` when extracted (unknown dates are never outdated; 0 days: off)."""
    if max_age_days <= 0 or not created_s or not extracted_s:
        return False
    return extracted_s - created_s > max_age_days * 86_400
