"""More training data for two failure modes found on held-out crisis and everyday messages, written by
hand for this set by kind of language (not taken from any held-out example or evaluation slice):

- figurative speech about death and killing read as self-harm: praise ("you killed it"), craving
  ("dying to", "to die for"), exaggerated tiredness or embarrassment ("dead on my feet", "could have
  died"), annoyance ("this commute is killing me"), and playful threats between partners ("she'll kill me
  if I forget"). Labelled neutral, or stress where the sentence is about pressure.
- non-suicidal self-injury described by its method, without any suicidal word: cutting, burning,
  scratching, hitting or biting oneself, pulling hair, starving or bruising oneself to cope or to punish
  oneself. Labelled self_harm_low (the scorer holds it for a person: seed 003's self-harm handling).

Every line goes to **train or validation only** (two in three train, one in three validation, by position),
so the held-out split of `data/safety.jsonl` stays what it was; the held-out figures for these two kinds
of language are the checked-in slices `data/slices/idioms.jsonl` and `data/slices/self_injury.jsonl`,
written separately with other wording.
"""

from __future__ import annotations

import random

FIGURATIVE_NEUTRAL: tuple[str, ...] = (
    "My wife killed it at her piano recital last night and I was so proud.",
    "We are dying to try the new ramen place that opened near us.",
    "The chocolate cake at our wedding tasting was to die for.",
    "I nearly died of embarrassment when I called his mum by the wrong name.",
    "He absolutely slayed the karaoke duet with me on Friday.",
    "She says she'll kill me if I spoil the finale before she watches it.",
    "I'm dead, he sent me the funniest meme about our cat.",
    "We laughed ourselves to death at the comedy show.",
    "I would kill for a quiet weekend away with my boyfriend.",
    "Our team murdered the quiz night and we won a bottle of wine.",
    "My husband is dying to show you the treehouse he built for the kids.",
    "The dress she picked for the party was drop dead gorgeous.",
    "You two crushed the salsa class, the instructor loved you.",
    "I'm dying to know how the surprise party went.",
    "If I eat one more bite of this pie I will die happy.",
    "He nailed the speech at his brother's wedding, everyone cried.",
)

FIGURATIVE_STRESS: tuple[str, ...] = (
    "This commute is killing me, I barely see my partner on weekdays.",
    "I'm dead on my feet after three night shifts in a row.",
    "Planning the move is slowly killing us both, we snap all the time.",
    "The wedding budget is going to be the death of me.",
    "My back is killing me from sleeping on the sofa after our argument.",
    "I was scared to death that he would forget the anniversary dinner again.",
    "These deadlines are murder and I keep cancelling our date nights.",
    "I'm bored to death of fighting about whose turn it is to do the dishes.",
    "Her mother's visits drive me to distraction, I could scream.",
    "I'm worried sick about money and it makes me short with him.",
)

SELF_INJURY: tuple[str, ...] = (
    "After he left I started cutting my arms again with a razor blade.",
    "When we fight I burn my wrist with a lighter until I calm down.",
    "I scratch my skin until it bleeds when the arguments get too loud.",
    "I keep hitting my head against the wall when I feel like a failure.",
    "I bite my hands hard enough to leave marks when she ignores me.",
    "I have been pulling out my hair in clumps since the breakup.",
    "I punch myself in the legs so the bruises hurt more than my thoughts.",
    "Sometimes I carve lines into my thighs where nobody can see.",
    "I stopped eating for days to punish myself for ruining the relationship.",
    "I press my nails into my skin until it bleeds to feel something.",
    "I held my hand on the hot stove on purpose after our fight.",
    "I've been cutting again, just small ones on my stomach, nobody knows.",
    "I slam my fist into the door until my knuckles split when I'm overwhelmed.",
    "I hurt my body on purpose because I think I deserve the pain.",
    "There are fresh cuts on my wrists and I hide them with long sleeves.",
    "I rub my skin raw with a scrubbing brush when I feel disgusting.",
)

EVERYDAY: tuple[str, ...] = (
    "Work was long today.",
    "We had a quiet dinner at home.",
    "[Partner] went to the gym after work.",
    "The kids are asleep now.",
    "It rained all afternoon.",
    "I just got back from the shops.",
)


def split_of(index: int) -> str:
    """Train or validation only: the held-out split of the safety set is left untouched."""
    return "val" if index % 3 == 1 else "train"


def rows(seed: int = 29) -> list[dict]:
    rng = random.Random(seed)
    out: list[dict] = []
    groups = (
        ("figurative.neutral", FIGURATIVE_NEUTRAL, ["neutral"]),
        ("figurative.stress", FIGURATIVE_STRESS, ["stress"]),
        ("self_injury.self_harm_low", SELF_INJURY, ["self_harm_low"]),
    )
    for name, texts, labels in groups:
        for i, text in enumerate(texts):
            split = split_of(i)
            opener = rng.choice([e for j, e in enumerate(EVERYDAY) if split_of(j) == split])
            for v in dict.fromkeys([text, f"{opener} {text}"]):
                out.append({"text": v, "labels": labels, "fragments": [f"{name}:{i}"], "split": split})
    return out
