"""A short list of unambiguous crisis phrases, read on the person's turns next to the classifier: the
second opinion.

Defence in depth: the classifier is measured and tuned for recall, but a missed "I'm going to kill
myself" costs far more than a needless review, so these phrases hold a record for review even when the
classifier scores them low. Self-injury is often described by its method with no suicidal word ("I
burn my wrist with a lighter when we fight"): method-and-body phrases are self_harm_low here.

The other way round, figurative speech about death and killing ("you killed it", "dying to see you",
"this commute is killing me") is not a crisis: when a turn's only death or killing words are such
idioms and it has no crisis cue at all, the classifier's self-harm labels are set aside
(`second_opinion`), and its danger label too unless an idiom is shaped like a threat ("he'll kill me
if ...") or the backstop sees danger of its own. A real crisis cue anywhere in the text (a death wish,
suicidal or self-harm words, a method) keeps them. The bench reports the classifier alone and with
this second opinion on the held-out idiom and self-injury slices (`data/slices/`).
"""

from __future__ import annotations

import re

_PATTERNS: dict[str, tuple[str, ...]] = {
    "self_harm_high": (
        r"\b(?:going to|gonna|want to|will|plan(?:ning)? to|about to) (?:kill|hang|shoot) myself\b",
        r"\bkill(?:ing)? myself\b",
        r"\b(?:end|take) my (?:own )?life\b",
        r"\bsuicide note\b",
        r"\b(?:took|swallowed|taken) (?:a (?:whole )?bottle of|all (?:my|the)|the) (?:pills|tablets|medication)\b",
        r"\bgoing to (?:jump|overdose)\b",
        r"\b(?:thoughts? (?:of|about)|thinking (?:of|about)) ending (?:it|it all|things|my life)\b",
        r"\bend(?:ing)? it all\b",
    ),
    "self_harm_low": (
        r"\bsuicid\w*\b",
        r"\b(?:hurt|hurting|harm|harming|cut|cutting|burn(?:ed|ing)?) myself\b",
        r"\bself[- ]harm\w*\b",
        r"\bbetter off without me\b",
        r"\bdon'?t want to (?:be alive|live|wake up)\b",
        # Self-injury by its method: a harming verb on oneself or on a hidden part of the body.
        r"\b(?:hit|hitting|punch\w*|slap\w*|bit\w*|bruis\w*|starv\w*|burn\w*|cut\w*|scratch\w*|punish\w*)"
        r" myself\b",
        r"\b(?:cut|cuts|cutting|carv\w*|burn\w*|scratch\w*|slic\w*|scrap\w*) (?:into )?my (?:arms?|wrists?|thighs?|"
        r"skin|stomach|forearms?|legs)\b",
        r"\b(?:bang\w*|hit\w*|slam\w*) my head (?:against|on|into) (?:the|a) (?:wall|door|floor)\b",
        r"\b(?:pull\w*|rip\w*|tear\w*) out my (?:own )?hair\b",
        # A hot or sharp object put to one's own body.
        r"\b(?:press\w*|hold\w*|held|put\w*|dig\w*|jab\w*|stick\w*|stab\w*) (?:a |the )?(?:lit |hot |burning )?"
        r"(?:cigarette|lighter|match|pin|needle|knife|blade|razor|iron|spoon|compass|scissors)\w* (?:to|into|against|on) my "  # noqa: E501 (one pattern per line reads best)
        r"(?:own )?(?:skin|arms?|wrists?|legs?|thighs?|ankles?|hands?|fingers?|fingertips|stomach|chest|neck|body)\b",
        r"\b(?:burn\w*|cut\w*) the (?:inside|back) of my\b",
        r"\bi (?:cut|burned|burnt) (?:myself )?again\b|\b(?:cutting|burning myself) again\b|\bstarted cutting\b|\b(?:fresh|new) cuts\b|\bcuts on my\b",  # noqa: E501 (one pattern per line reads best)
        r"\b(?:skin|arms?|wrists?|legs|knuckles|hands?|nails) (?:until|till) (?:it|they) (?:bleeds?|bled)\b",
        r"\b(?:until|till) (?:it|they|my skin|my arms?) (?:bleeds?|bled|split|blister\w*)\b",
        r"\bhurt\w* my (?:own )?body\b|\bon purpose to (?:hurt|feel)\b|\bdeserve (?:the|this) pain\b",
        # Deliberate harm named as such: a body part and "on purpose" in one sentence.
        r"\bmy (?:own )?(?:arms?|skin|hands?|wrists?|legs?|thighs?|body|fingers?|stomach)\b[^.!?]{0,40}\bon purpose\b",
        r"\bon purpose\b[^.!?]{0,30}\b(?:make myself hurt|hurt myself|to feel (?:pain|something))\b",
        # Marks cut or burnt into the skin; hiding the marks.
        r"\b(?:carv\w*|cut\w*|burn\w*|scratch\w*|etch\w*)\b[^.!?]{0,30}\binto my (?:skin|arms?|wrists?|thighs?|legs?|stomach)\b",  # noqa: E501 (one pattern per line reads best)
        r"\b(?:hid\w*|cover\w*) (?:up )?(?:the |my )?(?:marks|scars|cuts|bruises|burns)\b[^.!?]{0,30}\b(?:cutting|burning|"  # noqa: E501 (one pattern per line reads best)
        r"sleeves|bracelets)\b|\bmarks from (?:cutting|burning)\b",
        # Striking or biting one's own body; hitting one's head or hands against things, repeatedly.
        r"\b(?:bit\w*|bash\w*|hit\w*|punch\w*|slap\w*|smack\w*|whack\w*|pinch\w*) my (?:own )?(?:arms?|legs?|thighs?|"
        r"wrists?|face|stomach|skin)\b",
        r"\b(?:bash\w*|bang\w*|slam\w*|punch\w*|hit\w*) my (?:fists?|hands?|head)\b[^.!?]{0,30}\b(?:against my head|"
        r"over and over|again and again|until|on purpose)\b",
        r"\b(?:pull\w*|rip\w*|tear\w*|pluck\w*) (?:out )?my (?:own )?(?:hair|eyelashes|lashes|eyebrows)(?: out)?\b",
        r"\b(?:until|till) (?:it|they|my \w+) (?:bleeds?|bled|burns?|bruises?|blisters?|(?:is|are|'s|'re) (?:purple|raw|"  # noqa: E501 (one pattern per line reads best)
        r"bleeding|bruised))\b",
    ),
    "unsafe_environment": (
        r"\b(?:hits?|hitting|beats?|beating|punch(?:ed|es)?|kick(?:ed|s)?) me\b",
        r"\b(?:chok(?:ed|es|ing)|strangl\w+|slapp?(?:ed|s)?) me\b",
        r"\bthreaten(?:ed|s)? to (?:kill|hurt) me\b",
        # The scorer reads scrubbed text: a partner's name is "[Partner]" there ("[partner]" lowered), and
        # "afraid of [Partner]'s reaction" is about a reaction, not the person.
        r"\b(?:afraid|scared|terrified) (?:of (?:him|her|them)|to go home)\b",
        r"\b(?:afraid|scared|terrified) of \[(?:partner|person)\](?!')",
        r"\b(?:afraid|scared|terrified) of my (?:partner|husband|wife|boyfriend|girlfriend)\b",
        r"\bdon'?t feel safe at home\b",
        r"\bforced me\b",
    ),
}
_COMPILED = {label: re.compile("|".join(f"(?:{p})" for p in pats)) for label, pats in _PATTERNS.items()}

# Everyday figures of speech built on death and killing words: praise, craving, exaggeration, annoyance,
# playful threats. Written by kind of idiom, not from any evaluation example.
_FIGURATIVE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"\bkill(?:ed|ing|s)? it\b",
            r"\b(?:is|was|are|were|'s|'re|been|keeps?) (?:slowly |literally |really |absolutely )?killing (?:me|us|my \w+)\b",  # noqa: E501 (one pattern per line reads best)
            r"\bkill(?:ing|s|ed)? (?:my|our) (?:legs|feet|back|knees|vibe|buzz|mood)\b",
            r"\bkill(?:ing|ed)? (?:time|the mood|the vibe|two birds)\b",
            r"\b(?:dying|dyin'?) (?:to|for)\b",
            r"\bto die for\b",
            r"\b(?:would|could|'d) (?:kill|die|murder) for\b",
            r"\bdie (?:happy|laughing|of (?:embarrassment|shame|laughter|boredom|cuteness))\b",
            r"\bdied (?:of|from) (?:embarrassment|shame|laughter|laughing|boredom|cuteness)\b",
            r"\b(?:nearly|almost|could have|could've|practically) died\b",
            r"\b(?:laugh\w*|scared|bored|worried|tired|freezing|starving) (?:\w+ )?to death\b",
            r"\bdead (?:on my feet|tired|beat|serious|gorgeous|funny|last|set on)\b",
            r"\bdrop[- ]dead\b",
            r"\bthe death of (?:me|us)\b",
            r"\b(?:will|'ll|gonna|going to|would|'d) (?:literally )?kill (?:me|us|him|her)(?: if| when| for)\b",
            r"\b(?:murder\w*|slay\w*|slaughter\w*|destroy\w*|crush\w*) (?:the|it|that|a|at)\b",
            r"\b(?:is|was|are) (?:pure |absolute )?murder\b",
            r"\bi'?m (?:literally |so |actually )?dead\b[^.!?]*\b(?:lol|lmao|haha|funn\w*|meme|joke|hilarious)",
            r"\b(?:lol|lmao|haha|funn\w*|meme|joke|hilarious)\b[^.!?]*\bi'?m (?:literally |so |actually )?dead\b",
            r"\bover my dead body\b",
            r"\b(?:slay\w*|kill\w*) (?:me|us)\b[^.!?]{0,20}$|\b(?:slay|slays) me\b",
            r"\bto death\b[^.!?]{0,40}\blaugh\w*|\blaugh\w*\b[^.!?]{0,40}\bto death\b",
            r"\bi'?m (?:literally |so |actually )?dead\b,? (?:he|she|they|my|this|that|[a-z]+ (?:proposed|sent|said))",
        )
    )
)
# A crisis cue in plain words: when one is present the classifier's self-harm labels always stand.
_DEATH_WISH = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"\bwant(?:ed|s)? to die\b",
            r"\bwish (?:i|i'd) (?:was|were|had) (?:dead|died|never been born)\b",
            r"\bwish i could (?:die|disappear|not wake up)\b",
            r"\bbetter off dead\b",
            r"\b(?:don'?t|do not) want to (?:be here|exist|wake up|live|go on)\b",
            r"\bno (?:point|reason) (?:in )?(?:living|to live|going on|being here)\b",
            r"\bcan'?t go on\b",
            r"\bnot (?:be|being) (?:here|around) (?:anymore|any more)\b",
            r"\bdisappear (?:forever|for good)\b",
            r"\b(?:end|ending) (?:it|things|everything)\b",
            r"\boverdos\w*|\bpills\b|\bnoose\b|\bsuicid\w*|\bself[- ]harm\w*",
        )
    )
)
SELF_HARM = frozenset({"self_harm_low", "self_harm_high"})
# Idioms shaped like a threat ("he'll kill me if ...") can be a real one: they never set aside a danger label.
_THREAT_SHAPED = re.compile(
    r"\b(?:will|'ll|gonna|going to|would|'d) (?:literally )?kill (?:me|us)\b|\bmurder me\b"
    r"|\b(?:said|says|told me|threaten\w*|swore|screamed|yelled)\b[^.!?]{0,40}\b(?:kill|die|dead|murder)"
)


def _lower(text: str) -> str:
    return text.lower().replace("\u2019", "'")


def crisis_labels(text: str) -> set[str]:
    lowered = _lower(text)
    return {label for label, rx in _COMPILED.items() if rx.search(lowered)}


def figurative_only(text: str) -> bool:
    """True when the text speaks of death or killing only in figures of speech: an idiom is present and
    no crisis cue is (no backstop phrase of self-harm, no death wish, no method)."""
    lowered = _lower(text)
    if not _FIGURATIVE.search(lowered):
        return False
    if _DEATH_WISH.search(lowered):
        return False
    return not (crisis_labels(text) & SELF_HARM)


def second_opinion(text: str, labels: set[str]) -> tuple[set[str], set[str], set[str]]:
    """(labels after the second opinion, labels the backstop added, self-harm labels set aside as figurative)
    for the classifier's `labels` on the person's `text`."""
    added = crisis_labels(text) - labels
    out = labels | added
    vetoed: set[str] = set()
    if out & (SELF_HARM | {"unsafe_environment"}) and figurative_only(text):
        vetoed = out & SELF_HARM
        # Danger too, when no idiom is shaped like a threat and the backstop sees no danger of its own.
        if "unsafe_environment" not in added and not _THREAT_SHAPED.search(_lower(text)):
            vetoed |= out & {"unsafe_environment"}
        out -= vetoed
    return out, added, vetoed
