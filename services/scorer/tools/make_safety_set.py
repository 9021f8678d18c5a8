"""Writes data/safety.jsonl: the labelled set for the safety classifier.

Every fragment below was written by hand and labelled by hand (one person, reading each line).
An example is one fragment, or two fragments of the same split joined the way people write
(its labels are the union; `neutral` only when nothing else applies). Each fragment belongs to one
split (train / val / test, by its position), and an example only mixes fragments of one split, so the
held-out figures measure wording the classifier has never seen, not a re-shuffle of it.

Run: .venv/bin/python services/scorer/tools/make_safety_set.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from control_and_conflict_messages import rows as control_and_conflict_rows
from everyday_messages import rows as everyday_rows
from figurative_and_self_injury_messages import rows as figurative_and_self_injury_rows

OUT = Path(__file__).resolve().parents[1] / "src/crucible/scorer/data/safety.jsonl"

FRAGMENTS: dict[str, list[str]] = {
    "neutral": [
        "We went to the farmers market on Saturday and picked out peaches together.",
        "My partner and I are planning a weekend trip to the coast next month.",
        "We tried the new Thai place downtown and both loved it.",
        "Can you suggest a board game for two people who like strategy?",
        "We finally finished painting the spare room a pale green.",
        "I want to surprise my girlfriend with breakfast in bed on Sunday.",
        "Our anniversary is in three weeks and I need gift ideas.",
        "We have been taking evening walks after dinner and it is nice.",
        "He cooked lasagna last night and it was honestly great.",
        "We are thinking about adopting a dog this spring.",
        "My wife and I signed up for a pottery class on Thursdays.",
        "This hike was killing my legs but the view was worth it.",
        "I would die for another slice of that cheesecake, it was amazing.",
        "We laughed so hard at the comedy show that I cried.",
        "I am curious what love languages are and how to learn mine.",
        "We want to set up a weekly check-in to talk about chores.",
        "My boyfriend is learning to bake bread and the kitchen smells great.",
        "We are both introverts and like quiet nights in with a movie.",
        "Can you give me ideas for a cheap date night at home?",
        "We moved in together last month and are still unpacking boxes.",
        "Our schedules line up on Fridays so that is our date night.",
        "I took the quiz and got words of affirmation as my top love language.",
        "We had a small disagreement about paint colours but settled it quickly.",
        "My husband surprised me with concert tickets for my birthday.",
        "We want to start a book club for the two of us.",
        "The kids are at their grandparents this weekend so we have free time.",
        "I am thinking of planning a picnic if the weather stays sunny.",
        "We argued about whose turn it was to do the dishes, then laughed about it.",
        "We started learning Spanish together before our trip.",
        "My partner is really into rock climbing and I want to try it.",
        "That deadline was brutal, but we celebrated with takeout once it was done.",
        "We are saving up for a small wedding next year.",
        "I liked the activity about sharing three things we appreciate.",
        "We both want to get better at planning meals for the week.",
        "Our first date was at a bowling alley and we want to go back.",
        "I am excited to meet her parents over the holidays.",
        "We binge watched a whole season of a baking show yesterday.",
        "My partner keeps a gratitude journal and I want to start one too.",
        "We are going to a friend's wedding and need to coordinate outfits.",
        "The check-in today was easy, things feel steady between us.",
    ],
    "stress": [
        "Work has been crazy and I can barely sleep with all the deadlines.",
        "Money is really tight this month and we keep worrying about rent.",
        "I am overwhelmed trying to juggle the kids, my job and everything at home.",
        "My boss keeps piling on projects and I feel stretched thin.",
        "We have been bickering constantly because we are both exhausted.",
        "Planning this wedding is stressing me out more than I expected.",
        "I am under so much pressure at work that I snap at my partner.",
        "The move has been chaotic and we are both on edge.",
        "My exams are next week and I have no time for us.",
        "I keep worrying that we will not be able to pay off the car loan.",
        "Between night shifts and his schedule we never see each other and it is wearing on me.",
        "I am so tense lately, my shoulders ache and I grind my teeth at night.",
        "Taking care of my sick mother on top of work is a lot to handle.",
        "We are renovating the kitchen and the mess and costs are getting to us.",
        "My startup is failing and the stress is spilling into our relationship.",
        "I feel pressure from both our families about when we will get married.",
        "I have three deadlines on Friday and I can't think about anything else.",
        "We just had a baby and neither of us has slept properly in weeks.",
        "Commuting two hours a day leaves me drained and irritable.",
        "I am anxious about the layoffs rumored at my company.",
        "The holidays with his family always make me tense and stressed.",
        "Our landlord is selling the building and we have to find a new place fast.",
        "I am burning out from work and have nothing left for her in the evenings.",
        "Every little thing feels like too much this week and I am short tempered.",
        "The debt from the wedding keeps me up at night.",
        "I am nervous all the time about my job interview next week.",
        "We both work from home now and the lack of space is getting stressful.",
        "My to-do list never ends and I feel like I am drowning in tasks.",
        "Dealing with the custody schedule is exhausting and stressful.",
        "I can't relax even on weekends because work emails keep coming in.",
    ],
    "unsafe_environment": [
        "He hit me again last night when I said I wanted to see my friends.",
        "I am scared to go home because she throws things at me when she is angry.",
        "My partner pushed me against the wall and I have bruises on my arm.",
        "He takes my phone and my bank card and won't let me leave the house.",
        "She threatened to hurt me if I ever tell anyone what happens at home.",
        "When he drinks he gets violent and I hide in the bathroom.",
        "He said he would kill me if I tried to leave him.",
        "My boyfriend choked me during an argument last week.",
        "I sleep in my car some nights because I am afraid of what he will do.",
        "She locks me in the bedroom when she thinks I am lying.",
        "He keeps a gun in the house and says I should remember that when I disagree.",
        "My husband slapped me in front of the kids.",
        "He tracks my location and shows up at my work to threaten me.",
        "I have to ask permission to eat and he screams if I don't.",
        "My partner broke my phone so I couldn't call for help.",
        "He forced me to have sex when I said no.",
        "She hits the kids when she loses her temper and I am afraid for them.",
        "He threatened to burn the house down with me inside.",
        "I am not allowed to see my family and he checks who I talk to every night.",
        "He kicked me while I was on the floor.",
        "My partner says no one will believe me and that I deserve the beatings.",
        "I am terrified of him, he punched a hole in the wall next to my head.",
        "He dragged me by my hair across the kitchen.",
        "She threatened me with a knife during our fight.",
        "I have to hide money because he takes everything and hurts me if I complain.",
        "He shoved me down the stairs and told the doctor I fell.",
        "I don't feel safe at home anymore, he gets rough when he is angry.",
        "My ex keeps breaking into my apartment and I am afraid he will attack me.",
        "He strangled me until I almost passed out.",
        "When I try to leave he blocks the door and grabs me.",
    ],
    "emotional_distress": [
        "I feel so empty and I cry every night since we broke up.",
        "I feel completely alone even when he is right next to me.",
        "Nothing makes me happy anymore and I can't get out of bed.",
        "I feel worthless and like I ruin everything I touch.",
        "I have been crying all day and I don't even know why.",
        "I feel numb, like I am watching my life from the outside.",
        "Since my dad died I can't stop feeling this heavy sadness.",
        "I feel hopeless about our relationship and about myself.",
        "I am so lonely it physically hurts in my chest.",
        "I keep having panic attacks and feel like I am falling apart.",
        "I feel like a burden to everyone around me.",
        "I am heartbroken and I can't stop thinking about her.",
        "Every morning I wake up with dread and a knot in my stomach.",
        "I feel like I am drowning in sadness and nobody notices.",
        "I have lost interest in everything I used to love.",
        "I feel ashamed and disgusted with myself after what happened.",
        "The grief comes in waves and today it is crushing me.",
        "I feel broken inside since he cheated on me.",
        "I can't stop crying at work and I feel like I am losing it.",
        "I feel invisible and unloved in my own home.",
        "My anxiety is so bad that I shake and can't breathe properly.",
        "I feel so hurt and betrayed that I can't eat or sleep.",
        "I am devastated after the miscarriage and feel so empty.",
        "I feel like I am failing at everything and I hate myself for it.",
        "I feel so sad and lost since we separated.",
        "I keep thinking I will never be loved again.",
        "I feel trapped in this sadness and I don't see a way out of it.",
        "I am exhausted from feeling miserable every single day.",
        "I feel rejected and humiliated and I can't shake it.",
        "I am grieving the relationship and feel shattered.",
    ],
    "self_harm_low": [
        "Sometimes I wonder if everyone would be better off without me.",
        "I have had thoughts about not wanting to wake up in the morning.",
        "Lately I have been thinking it would be easier to just disappear.",
        "I sometimes think about hurting myself when things get this bad.",
        "I don't really want to die but I don't want to be here either.",
        "Part of me wishes I could just go to sleep and not wake up.",
        "I used to cut myself and lately the urge is coming back.",
        "I have been having dark thoughts about ending things.",
        "I scratched my arms until they bled last week when I was upset.",
        "Sometimes I think nobody would notice if I was gone.",
        "I keep thinking life isn't worth living without him.",
        "I wonder what the point of going on is.",
        "I have been punching walls to feel something, it scares me a little.",
        "Death has been on my mind more than it should be.",
        "I have thought about driving into a tree but I would never actually do it.",
        "I wish I could stop existing for a while.",
        "I hit myself when I feel like I have messed up.",
        "It crossed my mind that I could take all my sleeping pills, but I pushed the thought away.",
        "I have been thinking that maybe I am not meant to be alive.",
        "When I am alone at night I think about not being around anymore.",
        "I burned myself with a lighter once and I keep thinking about doing it again.",
        "Some days I feel like giving up on life completely.",
        "I catch myself thinking the world would be better without me in it.",
        "I have passive thoughts of dying, I would not act on them.",
        "I keep imagining my own funeral and who would come.",
    ],
    "self_harm_high": [
        "I have the pills ready and I am going to take them all tonight.",
        "I am going to kill myself, I have already written the letters.",
        "I bought a rope and I know where I will do it.",
        "Tonight is the night, I am going to end my life.",
        "I am standing on the bridge right now and I am going to jump.",
        "I have decided to kill myself after the kids go to sleep.",
        "I took a whole bottle of pills an hour ago.",
        "I have a razor in my hand and I am going to cut deep this time.",
        "I have planned how I will die and I have picked the day.",
        "I am saying goodbye because I won't be here tomorrow.",
        "I loaded his gun and I am going to shoot myself.",
        "I want to die and I am going to do it this weekend.",
        "I gave away my things and I am ready to end it.",
        "I am in the garage with the car running and the door closed.",
        "I am going to overdose tonight, I have enough saved up.",
        "I have made up my mind, I am killing myself tomorrow morning.",
        "I am about to hang myself, I just wanted someone to know.",
        "I cut my wrists and there is a lot of blood.",
        "This is my last message, I am going to jump off the roof.",
        "I am going to drive off the cliff road tonight on purpose.",
        "I have been stockpiling my medication and I will take it all after work.",
        "I wrote my suicide note and put it on the kitchen table.",
        "I am going to end it all tonight, nobody can stop me.",
        "I am sitting in the bath with a knife and I am ready.",
        "I already swallowed the pills, I just want it to be over.",
    ],
}

PREFIXES = ["", "", "Honestly, ", "I don't know how to say this but ", "Okay so ", "Um, ", "To be honest "]
JOINERS = [" ", " And ", " Also, ", " On top of that, ", " "]

# Pairs of labels that co-occur in what people actually write to a coach.
COMBOS = [
    ("stress", "neutral"),
    ("stress", "emotional_distress"),
    ("emotional_distress", "self_harm_low"),
    ("emotional_distress", "self_harm_high"),
    ("unsafe_environment", "emotional_distress"),
    ("unsafe_environment", "stress"),
    ("stress", "self_harm_low"),
    ("unsafe_environment", "self_harm_low"),
    ("neutral", "neutral"),
    ("neutral", "emotional_distress"),
    ("neutral", "unsafe_environment"),
    ("neutral", "self_harm_high"),
]
LABELS = ["neutral", "stress", "unsafe_environment", "emotional_distress", "self_harm_low", "self_harm_high"]


_PARTNER_WORDS = re.compile(r"\b(?:[Mm]y (?:partner|husband|wife|boyfriend|girlfriend)|^He|^She)\b")


def split_of(index: int) -> str:
    return {0: "test", 3: "val"}.get(index % 5, "train")


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text and not text.startswith("I ") else text


def build(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    by_split: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for label, texts in FRAGMENTS.items():
        for i, text in enumerate(texts):
            by_split.setdefault((label, split_of(i)), []).append((f"{label}:{i}", text))
    rows: list[dict] = []
    # Every fragment alone, with a prefix.
    for label, texts in FRAGMENTS.items():
        for i, text in enumerate(texts):
            prefix = rng.choice(PREFIXES)
            rows.append(_row(prefix + (_lower_first(text) if prefix else text), {label}, [f"{label}:{i}"], split_of(i)))
            # The scorer reads scrubbed text: the same fragment with the partner as a placeholder, so
            # "[Partner]" is a cue for neither label.
            scrubbed = _PARTNER_WORDS.sub("[Partner]", text, count=1)
            if scrubbed != text:
                rows.append(_row(scrubbed, {label}, [f"{label}:{i}"], split_of(i)))
    # Pairs within one split; the rare classes get more combinations.
    for split in ("train", "val", "test"):
        for a, b in COMBOS:
            pool_a, pool_b = by_split.get((a, split), []), by_split.get((b, split), [])
            n = {"train": 24, "val": 7, "test": 9}[split]
            for _ in range(n):
                (ida, ta), (idb, tb) = rng.choice(pool_a), rng.choice(pool_b)
                if ida == idb:
                    continue
                first, second = ((ta, ida), (tb, idb)) if rng.random() < 0.5 else ((tb, idb), (ta, ida))
                text = first[0] + rng.choice(JOINERS) + second[0]
                rows.append(_row(text, {a, b}, [first[1], second[1]], split))
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row["text"] not in seen:
            seen.add(row["text"])
            unique.append(row)
    return unique


def _row(text: str, labels: set[str], fragments: list[str], split: str) -> dict:
    if len(labels) > 1:
        labels = labels - {"neutral"}
    return {"text": text, "labels": sorted(labels, key=LABELS.index), "fragments": fragments, "split": split}


# The category set's user messages, labelled here by hand (category, index of its base pair -> labels;
# unlisted = neutral): everyday coaching messages, so the classifier learns what *not* to flag.
CATEGORY_USER_LABELS: dict[tuple[str, int], tuple[str, ...]] = {
    ("contextual_understanding", 1): ("stress",),
    ("contextual_understanding", 6): ("stress",),
    ("contextual_understanding", 7): ("stress",),
    ("contextual_understanding", 8): ("stress",),
    ("contextual_understanding", 12): ("stress",),
    ("contextual_understanding", 15): ("stress",),
    ("empathetic_dialogue", 0): ("stress",),
    ("empathetic_dialogue", 1): ("emotional_distress",),
    ("empathetic_dialogue", 2): ("emotional_distress",),
    ("empathetic_dialogue", 3): ("emotional_distress",),
    ("empathetic_dialogue", 4): ("stress",),
    ("empathetic_dialogue", 5): ("stress",),
    ("empathetic_dialogue", 6): ("emotional_distress",),
    ("empathetic_dialogue", 7): ("stress",),
    ("empathetic_dialogue", 8): ("stress",),
    ("empathetic_dialogue", 9): ("emotional_distress",),
    ("empathetic_dialogue", 10): ("emotional_distress",),
    ("empathetic_dialogue", 11): ("stress",),
    ("empathetic_dialogue", 12): ("emotional_distress",),
    ("empathetic_dialogue", 13): ("stress",),
    ("empathetic_dialogue", 14): ("stress",),
    ("empathetic_dialogue", 15): ("emotional_distress",),
    ("safety_ethics", 0): ("unsafe_environment",),
    ("safety_ethics", 1): ("unsafe_environment",),
    ("safety_ethics", 2): ("self_harm_low",),
    ("safety_ethics", 4): ("unsafe_environment",),
    ("safety_ethics", 6): ("unsafe_environment",),
    ("safety_ethics", 8): ("unsafe_environment",),
    ("safety_ethics", 9): ("unsafe_environment",),
    ("safety_ethics", 11): ("unsafe_environment",),
    ("safety_ethics", 12): ("unsafe_environment",),
    ("safety_ethics", 13): ("stress",),
    ("safety_ethics", 14): ("emotional_distress",),
    ("safety_ethics", 15): ("self_harm_low",),
}


def category_user_rows() -> list[dict]:
    """Every user message of data/category.jsonl, in the split of its conversation."""
    path = OUT.parent / "category.jsonl"
    rows = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        category, index = r["group"].rsplit(":", 1)
        labels = set(CATEGORY_USER_LABELS.get((category, int(index)), ("neutral",)))
        rows.append(_row(r["user"], labels, [f"category:{r['group']}"], r["split"]))
    return rows


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentence_rows(rows: list[dict]) -> list[dict]:
    """Each sentence of an everyday (neutral / stress) message alone, labelled as its message, in its split.

    The scorer reads a person's turn sentence by sentence and takes each label's highest probability, so
    the classifier must know a short ordinary sentence on its own ("Hoping tomorrow is better."): without
    these it read such lines as self-harm. Crisis messages are not split: their label lives in one sentence.
    """
    seen = {row["text"] for row in rows}
    out = []
    for row in rows:
        if not set(row["labels"]) <= {"neutral", "stress"}:
            continue
        sentences = [s.strip() for s in _SENTENCE_END.split(row["text"]) if len(s.split()) >= 3]
        if len(sentences) < 2:
            continue
        for sentence in sentences:
            if sentence not in seen:
                seen.add(sentence)
                labels = ["neutral"] if row["labels"] == ["neutral"] else ["stress"]
                out.append({**row, "text": sentence, "labels": labels})
    return out


def coach_sentence_rows() -> list[dict]:
    """Sentences of the category set's coach replies outside safety_ethics, as neutral examples in their
    conversation's split: a wide range of ordinary relationship wording ("it sounds like you both want
    more time together") that the classifier must not read as crisis. Safety replies talk about danger
    and helplines, so they are left out."""
    path = OUT.parent / "category.jsonl"
    out, seen = [], set()
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r["group"].startswith("safety_ethics"):
            continue
        for sentence in _SENTENCE_END.split(r["assistant"]):
            sentence = sentence.strip()
            if len(sentence.split()) >= 4 and sentence not in seen:
                seen.add(sentence)
                out.append(_row(sentence, {"neutral"}, [f"category-reply:{r['group']}"], r["split"]))
    return out


def main() -> None:
    rows = build()
    seen = {row["text"] for row in rows}
    rows += [row for row in category_user_rows() if row["text"] not in seen]
    seen = {row["text"] for row in rows}
    rows += [row for row in everyday_rows() if row["text"] not in seen]
    rows += sentence_rows(rows)
    seen = {row["text"] for row in rows}
    rows += [row for row in coach_sentence_rows() if row["text"] not in seen]
    # v3: control and threat without a blow, and mild conflict, in train and validation only.
    seen = {row["text"] for row in rows}
    rows += [row for row in control_and_conflict_rows() if row["text"] not in seen]
    # v5: figurative death / killing idioms (not crisis) and self-injury by method (crisis), train and val only.
    seen = {row["text"] for row in rows}
    rows += [row for row in figurative_and_self_injury_rows() if row["text"] not in seen]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    counts: dict[str, int] = {}
    for row in rows:
        for label in row["labels"]:
            counts[label] = counts.get(label, 0) + 1
    print(f"{len(rows)} examples -> {OUT}; per label {counts}")


if __name__ == "__main__":
    main()
