"""Everyday relationship messages for the safety set, written by hand for this set (not taken from the demo
generator, so the demo database stays an independent check): good days, logistics, mild friction, and the
scrubbed placeholders ([Partner], [User], [Person], [Location]) the scorer actually reads.

The first safety classifier had few such messages and held most ordinary check-ins of the demo app as
`self_harm_high` / `unsafe_environment` ("Feeling really grateful tonight..." at 0.85). An example here is
opener + event (+ closer); each part belongs to one split by its position (the same rule as the
fragments), so a held-out example never shares a part with a training one.
"""

from __future__ import annotations

import random

# Openers: how people start a check-in. Mood words that also appear in crisis messages ("tonight",
# "hope", "honestly", "really") are here on purpose.
OPENERS: tuple[str, ...] = (
    "Feeling really good tonight.",
    "Quick check-in:",
    "Honestly a nice day.",
    "Small win today!",
    "Pretty calm day overall.",
    "Not much to report,",
    "Today felt lighter than last week.",
    "Good news:",
    "Okay day, nothing special.",
    "Feeling hopeful about us.",
    "Grateful tonight.",
    "Checking in after a long weekend.",
    "Today was sweet.",
    "Mixed day but mostly fine.",
    "So this happened today:",
    "Feeling content.",
    "Just a normal Tuesday.",
    "A really lovely evening.",
    "Things are steady.",
    "Happy to report",
    "Kind of a meh day, but",
    "Tonight I feel close to [Partner].",
    "Update from our side:",
    "Feeling proud of us.",
    "Honestly can't complain.",
)

NEUTRAL_EVENTS: tuple[str, ...] = (
    "[Partner] made pancakes this morning and we ate them on the balcony.",
    "we made a grocery list together and actually stayed under budget.",
    "[Partner] and I sorted out who does school pickup on Wednesdays.",
    "we finally booked the cabin for our anniversary.",
    "[Partner] left a sticky note on the mirror that made me smile.",
    "we walked to [Location] after dinner and talked about nothing in particular.",
    "I told [Partner] what I appreciate about them and they teared up a little.",
    "we tried the new ramen place near [Location] and both loved it.",
    "the chore chart is working, [Partner] did the laundry without me asking.",
    "[Person] came over for dinner and we all played cards until late.",
    "we planned next month's budget in twenty minutes without any drama.",
    "[Partner] picked me up from work as a surprise.",
    "we put the phones away at dinner like we agreed and it was really nice.",
    "I finally called [Partner]'s mum back and it went well.",
    "we finished the puzzle we started in January.",
    "[Partner] has been sticking to our Sunday planning talk and it shows.",
    "we had a video call across time zones and it felt like being in the same room.",
    "I got the promotion and [Partner] baked me a cake.",
    "we went to [Person]'s birthday party and danced for hours.",
    "the kids went to bed early so [Partner] and I watched a movie.",
    "we agreed on a paint colour for the hallway after a week of debate.",
    "[Partner] fixed the leaky tap and was very proud of it.",
    "we started a shared calendar and it already helps.",
    "I booked a massage for [Partner] for their birthday.",
    "we took the dog to the beach and it was chaos in the best way.",
    "[User] here, we did the gratitude exercise and it was sweet.",
    "we talked about moving in together and both feel excited.",
    "[Partner] remembered the name of my coworker's kid, which meant a lot.",
    "we cooked a recipe from [Partner]'s grandmother.",
    "we had a tiny argument about the thermostat but laughed it off.",
    "I slept well for once and woke up to coffee from [Partner].",
    "we signed up for a dance class on Thursdays.",
    "[Partner] and I split the weekend errands and were done by noon.",
    "we talked about holiday plans with both families and found a fair split.",
    "[Partner] sent me a voice note at lunch just to say hi.",
    "we went to the farmers market at [Location] and bought too many tomatoes.",
    "I managed to leave work on time and we had a proper dinner.",
    "we celebrated six months together with takeout and a silly card.",
    "[Partner] listened to me vent about work without trying to fix it.",
    "we tried the question game from the app and learned new things.",
)

# Stress without danger: money, work, chores, mild unresolved conflict.
STRESS_EVENTS: tuple[str, ...] = (
    "[Partner] forgot to pay the electricity bill again and I'm annoyed.",
    "we keep arguing about whose turn it is to do the dishes.",
    "work has been brutal and I barely see [Partner] before bed.",
    "money is tight this month and we snapped at each other about it.",
    "[Partner]'s parents are visiting for two weeks and I'm already tense.",
    "we disagree about how much to spend on the wedding.",
    "I feel like I'm doing most of the housework and it's wearing on me.",
    "[Partner] was on their phone all through dinner and I felt ignored.",
    "the baby isn't sleeping and we're both exhausted and short with each other.",
    "I have a huge deadline Friday and no energy for us.",
    "we had a fight about being late to [Person]'s party.",
    "the long distance is hard this month, our calls keep getting cut short.",
    "[Partner] keeps leaving the car on empty and it drives me up the wall.",
    "we can't agree on where to spend the holidays.",
    "rent went up and I'm worried about how we'll manage.",
    "[Partner] made plans for the weekend without asking me first.",
    "I'm stressed about my exams and keep cancelling our date nights.",
    "we're renovating and living in dust, everyone is grumpy.",
    "[Partner] and I bickered all evening over small stuff.",
    "my boss called me in on my day off and [Partner] was upset.",
    "I feel like we only talk about logistics lately.",
    "the custody handover with [Person] was tense again.",
    "we had a cold silence at breakfast after last night's disagreement.",
    "I'm worried we're drifting apart because we're both so busy.",
    "[Partner] got home late without texting and I was frustrated.",
)

CLOSERS: tuple[str, ...] = (
    "",
    " Hoping to keep it up.",
    " Any tips?",
    " It gave me hope.",
    " Feeling connected.",
    " Not sure what to do next.",
    " Would love some ideas.",
    " Just wanted to share.",
    " We'll see how tomorrow goes.",
    " I'm glad we talked.",
    " Trying to stay positive.",
    " It's been a lot.",
)

# Short lines people end (or start) a message with. The classifier also reads each sentence alone, so
# these must be known as ordinary on their own: "tomorrow", "remember", "tonight" are not crisis words.
SHORT_LINES: tuple[str, ...] = (
    "Fingers crossed for tomorrow.",
    "Tomorrow is a new day.",
    "I want to do better at this.",
    "Just needed to get that off my chest.",
    "Writing this down so I remember it.",
    "Looking forward to the weekend.",
    "Feeling on top of things tonight.",
    "I'll try again tomorrow.",
    "We'll figure it out.",
    "Not sure how to bring it up.",
    "I keep thinking about it.",
    "That's all for today.",
    "I want to remember this feeling.",
    "It was a good reminder of why we work.",
    "I don't want this to turn into a fight.",
    "I'm tired but okay.",
    "Going to bed early tonight.",
    "Hoping this week is calmer.",
    "I can't stop smiling.",
    "I needed that.",
    "Today was heavy but we got through it.",
    "I just want us to be on the same page.",
    "Going to sleep on it.",
    "I'm proud of how we handled it.",
    "We'll talk more this weekend.",
    "Honestly it felt good to laugh again.",
    "I miss how easy things used to feel.",
    "I felt a bit left out.",
    "Not the best day, not the worst.",
    "Trying to be patient with both of us.",
    "I'm still a little hurt, but it's fine.",
    "I think we're getting better at this.",
    "I almost cried, in a good way.",
    "It feels like a fresh start.",
    "I don't know, maybe I'm overthinking it.",
    "We both apologised and moved on.",
    "So that's where we are.",
    "Feeling lucky tonight.",
    "It's the little things.",
    "Let's see what the week brings.",
    "Feeling on cloud nine.",
    "What a day.",
    "I want to hold on to days like this.",
    "Today was rough on both of us.",
    "It was a quiet evening.",
    "My heart is full.",
    "I feel seen tonight.",
    "We need to talk about it properly.",
    "Work drained me today.",
    "I'm a bit anxious about the trip.",
    "Today wasn't easy.",
    "I feel heavy tonight, but nothing is wrong between us.",
    "It's been a long week.",
    "I'm exhausted.",
    "Can't wait for Saturday.",
    "I feel so much closer to [Partner] now.",
    "I'm nervous about talking to [Partner] about it.",
    "I think we both needed a break.",
    "Feeling a little lonely this evening.",
    "This is the happiest I've been in months.",
    "We keep having the same argument.",
    "I felt ignored at dinner.",
    "I'm grateful for the little moments.",
    "Late night, can't sleep, thinking about the budget.",
    "I hope we keep this going.",
    "It made my whole week.",
    "I froze and didn't know what to say.",
    "Honestly I'm just tired of arguing about chores.",
    "I smiled all day because of it.",
    "There's nothing big to report.",
    "I'm feeling low energy but okay.",
    "I'll bring it up at our check-in on Sunday.",
    "I'm not sure we're on the same page about kids.",
    "We laughed until we cried.",
    "It felt like our first date again.",
    "I'm a little worried, nothing major.",
    "Today I just felt off.",
    "I want to plan something special for [Partner].",
    "Mostly I'm relieved.",
    "I need some advice.",
)

# Questions to the coach: logistics and ideas, the bulk of conversations.
NEUTRAL_QUESTIONS: tuple[str, ...] = (
    "How can I plan a date night for [Partner] on a small budget?",
    "What are good questions to ask [Partner] to get to know them better?",
    "Can you help me write a sweet message for [Partner]'s birthday?",
    "How do we split chores fairly when we both work full time?",
    "Any ideas for a weekend trip near [Location]?",
    "How do I tell [Partner] I need a quiet evening to myself without hurting them?",
    "What's a good way to start a weekly check-in with [Partner]?",
    "How can we keep in touch better while [Partner] travels for work?",
    "What gift would suit someone whose love language is quality time?",
    "How should we handle meeting each other's families for the first time?",
    "Can you suggest a fun activity for two introverts?",
    "How do we set a shared savings goal without fighting about it?",
    "[Partner] and I want to try something new together, any suggestions?",
    "How do I bring up wanting more date nights with [Partner]?",
    "What's a good bedtime routine for a couple with a newborn?",
    "How can I show [Partner] appreciation in small daily ways?",
    "We're moving in together next month, what should we talk about first?",
    "I want to surprise [Partner] at the airport, is that a good idea?",
    "How do long distance couples make video calls feel less routine?",
    "What's a healthy way to disagree about money?",
)

# Everyday fights: "fight", "argue", "yell" about chores and money are stress, not danger.
EVERYDAY_FIGHTS: tuple[str, ...] = (
    "[Partner] and I fight about the dishes every single night. How do we stop?",
    "We keep arguing about money. How do couples budget without fighting?",
    "How do I apologise after a fight when I think I was partly right?",
    "We had a big fight about where to spend Christmas and now it's awkward.",
    "[Partner] and I argue constantly about screen time for the kids.",
    "How do we stop the same argument about chores from coming back?",
    "We yelled at each other about the wedding budget and then both felt bad.",
    "Every time we talk about moving we end up fighting.",
    "[Partner] slammed the door after our argument about his mother, then came back and apologised.",
    "We fought about my friends again. How do I explain they matter to me?",
    "How do I bring up something that bothers me without it turning into a fight?",
    "We had a shouting match over the thermostat, which is so silly.",
    "[Partner] and I fight about money all the time, what should we change?",
    "I said hurtful things in our argument last night and I regret it.",
    "How do we fight fair?",
    "We argue about whether we want kids and never get anywhere.",
    "Our fights are always about the same thing: who does more at home.",
    "After the fight we didn't talk for a whole day.",
    "How do I tell [Partner] I want more affection without sounding critical?",
    "[Partner] gets defensive whenever I bring up the budget.",
)

# Harder crisis wording for the recall-first labels: indirect, short, or next to everyday detail.
HARD_SELF_HARM_HIGH: tuple[str, ...] = (
    "I've started giving my things away because I won't need them much longer.",
    "I wrote goodbye letters to [Partner] and my sister last night.",
    "I keep looking up how many pills it would take.",
    "Everyone would honestly be better off if I was gone for good.",
    "I have a plan for how to end my life and I think it's this weekend.",
    "I stood on the bridge near [Location] tonight and thought about jumping.",
    "I don't want to be alive anymore and I've stopped pretending I do.",
    "Tonight I'm going to make sure I don't wake up tomorrow.",
    "I bought a rope today and I know what it's for.",
    "[Partner] doesn't know I've been planning to kill myself.",
    "Since we split up I keep thinking about ending things for good.",
    "I just want to vanish and never come back, I've thought about how I'd do it.",
    "Part of me wants to end it all tonight.",
    "I looked at the train tracks today and wondered if it would hurt.",
    "I've been thinking about ending it, I'm so tired of everything.",
)

HARD_UNSAFE: tuple[str, ...] = (
    "[Partner] grabbed my wrist so hard last night it left marks, and I'm afraid to go home.",
    "[Partner] won't let me leave the flat without telling them exactly where I'm going, and gets violent if I do.",
    "I hide the bruises at work so nobody asks what [Partner] did.",
    "[Partner] threw a plate at my head during dinner and said next time it won't miss.",
    "I'm scared of [Partner]; they smashed my phone so I couldn't call anyone.",
    "[Partner] said if I talk to [Person] again I'll regret it, and they meant it.",
    "Every time [Partner] drinks I lock myself in the bathroom until they pass out.",
    "[Partner] pinned me down and wouldn't let me up until I apologised.",
    "[Partner] took my passport and my bank card and says I can't leave.",
    "After the argument [Partner] shoved me down the stairs.",
)


def split_of(index: int) -> str:
    return {0: "test", 3: "val"}.get(index % 5, "train")


def _by_split(parts: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for i, part in enumerate(parts):
        out[split_of(i)].append(part)
    return out


def _join(opener: str, event: str, closer: str) -> str:
    if opener.endswith((":", ",")) or opener == "Happy to report":
        body = f"{opener} {event}"
    else:
        body = f"{opener} {event[0].upper()}{event[1:]}"
    return body + closer


def rows(seed: int = 11) -> list[dict]:
    """Labelled rows ({"text", "labels", "fragments", "split"}), each split built from its own parts."""
    rng = random.Random(seed)
    openers, closers = _by_split(OPENERS), _by_split(CLOSERS)
    out: list[dict] = []
    per_split = {"train": 1.0, "val": 0.35, "test": 0.45}
    for label, events in (("neutral", NEUTRAL_EVENTS), ("stress", STRESS_EVENTS)):
        by = _by_split(events)
        for split, pool in by.items():
            for j, event in enumerate(pool):
                n = 4 if split == "train" else 3
                for _ in range(n):
                    if rng.random() > per_split[split] and split != "train":
                        continue
                    text = _join(rng.choice(openers[split]), event, rng.choice(closers[split] or [""]))
                    out.append(
                        {"text": text, "labels": [label], "fragments": [f"everyday.{label}:{j}"], "split": split}
                    )
                # The bare event too, as people often write just that.
                out.append(
                    {
                        "text": event[0].upper() + event[1:],
                        "labels": [label],
                        "fragments": [f"everyday.{label}:{j}"],
                        "split": split,
                    }
                )
    for split, pool in _by_split(EVERYDAY_FIGHTS).items():
        for j, line in enumerate(pool):
            out.append({"text": line, "labels": ["stress"], "fragments": [f"everyday.fight:{j}"], "split": split})
    for split, pool in _by_split(SHORT_LINES).items():
        for j, line in enumerate(pool):
            out.append({"text": line, "labels": ["neutral"], "fragments": [f"everyday.line:{j}"], "split": split})
    for split, pool in _by_split(NEUTRAL_QUESTIONS).items():
        for j, q in enumerate(pool):
            out.append({"text": q, "labels": ["neutral"], "fragments": [f"everyday.question:{j}"], "split": split})
    for label, parts in (("self_harm_high", HARD_SELF_HARM_HIGH), ("unsafe_environment", HARD_UNSAFE)):
        for split, pool in _by_split(parts).items():
            for j, text in enumerate(pool):
                out.append({"text": text, "labels": [label], "fragments": [f"hard.{label}:{j}"], "split": split})
                # Next to an ordinary sentence of the same split: one crisis sentence in an everyday message.
                event = rng.choice(_by_split(NEUTRAL_EVENTS)[split])
                opener = rng.choice(openers[split])
                out.append(
                    {
                        "text": f"{_join(opener, event, '')} {text}",
                        "labels": [label],
                        "fragments": [f"hard.{label}:{j}"],
                        "split": split,
                    }
                )
    return out
