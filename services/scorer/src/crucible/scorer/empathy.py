"""Empathy of a coach's reply, from a lexicon of validating and reflective language.

The score (0..1) adds the weight of each kind of empathic move the reply makes, at most once per kind:
- validation   ("that makes sense", "it's understandable", "your feelings are valid")      0.35
- reflection   ("it sounds like", "it seems like you", "I hear")                            0.30
- emotion words naming a feeling ("hurt", "lonely", "frustrating", ...)                     0.20
- acknowledgement / support ("I'm sorry", "thank you for sharing", "that must")            0.15
- an open invitation ("how are you feeling", "would you like", "what do you")              0.15
minus 0.4 for each dismissive phrase ("calm down", "get over it", "overreacting"), clipped to 0..1.

So 0.7 (the seed's bar) needs validation plus reflection plus a third move: a reply that only gives
instructions scores 0-0.2, a warm but generic one about 0.5. The lexicon is checked against the hand
labels of data/category.jsonl (`empathetic`): `crucible bench score` reports its accuracy and AUC.
"""

from __future__ import annotations

import re

_KINDS: dict[str, tuple[float, tuple[str, ...]]] = {
    "validation": (
        0.35,
        (
            r"makes (?:a lot of |total |complete )?sense",
            r"(?:it'?s|it is|that'?s|that is) (?:completely |totally |really )?(?:understandable|valid)",
            r"(?:it'?s|it is|that'?s|that is) (?:completely |totally |really )?(?:normal to feel|okay to|ok to)",
            r"your feelings (?:are|matter)",
            r"understandable",
            r"you(?:'re| are) not alone",
            r"you deserve",
            r"your needs matter",
            r"it'?s okay to (?:need|feel|grieve|want)",
            r"(?:many|lots of) people feel",
            r"not your fault",
            r"you don'?t have to (?:handle|face|go through|carry) (?:this|it) alone",
            r"(?:a |that'?s a )?(?:fair|valid|natural) (?:need|feeling|reaction)",
            r"takes? (?:real )?courage",
        ),
    ),
    "reflection": (
        0.30,
        (
            r"(?:it )?sounds like",
            r"it seems like",
            r"seems like you",
            r"\bi hear\b",
            r"you(?:'re| are) (?:feeling|carrying|longing|missing)",
            r"you feel\b",
            r"that sounds",
            r"shows how much you care",
        ),
    ),
    "emotion": (
        0.20,
        (
            r"\b(?:hurt(?:ful|s)?|lonely|alone|frustrat\w*|overwhelm\w*|anxious|anxiety|scar(?:y|ed)|sad(?:ness)?|"
            r"angry|upset|disappoint\w*|exhaust\w*|drain\w*|pain(?:ful)?|afraid|worr\w*|guilt\w*|resent\w*|"
            r"jealous\w*|insecur\w*|stung|let down|heartbr\w*|griev\w*|regret\w*|fear)\b",
        ),
    ),
    "acknowledgement": (
        0.15,
        (
            r"i'?m (?:so |really |truly )?sorry",
            r"thank you for (?:sharing|telling|trusting)",
            r"i'?m glad you (?:told|shared|reached)",
            r"that must (?:have )?(?:be|been|felt|feel)",
            r"that(?:'s| is) (?:a lot|hard|really hard|so hard|heavy)",
        ),
    ),
    "invitation": (
        0.15,
        (
            r"how are you (?:feeling|doing)",
            r"how do you feel",
            r"how did you feel",
            r"would you like",
            r"would it help",
            r"what (?:do|would|have) you",
            r"what (?:parts?|moments?|changes?) ",
            r"do you want to talk",
        ),
    ),
}
_DISMISSIVE = (
    r"calm down",
    r"get over (?:it|him|her|them)",
    r"overreact\w*",
    r"(?:no|not a) big deal",
    r"stop (?:being|complaining|whining)",
    r"just move on",
    r"you should have known",
    r"too sensitive",
)
DISMISSIVE_PENALTY = 0.4

_COMPILED = {kind: (weight, re.compile("|".join(f"(?:{p})" for p in pats))) for kind, (weight, pats) in _KINDS.items()}
_DISMISSIVE_RE = re.compile("|".join(f"(?:{p})" for p in _DISMISSIVE))


def empathy_moves(text: str) -> dict[str, bool]:
    lowered = text.lower().replace("\u2019", "'")
    return {kind: bool(rx.search(lowered)) for kind, (_, rx) in _COMPILED.items()}


def empathy_score(text: str) -> float:
    """0..1: how much validating, reflective language the reply uses (see the module docstring)."""
    lowered = text.lower().replace("\u2019", "'")
    score = sum(weight for weight, rx in _COMPILED.values() if rx.search(lowered))
    score -= DISMISSIVE_PENALTY * len(_DISMISSIVE_RE.findall(lowered))
    return round(min(1.0, max(0.0, score)), 4)
