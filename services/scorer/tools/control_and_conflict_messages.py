"""More training data for the two failure modes of the v2 safety classifier, written by hand for this set
(not taken from the demo generator or from any held-out example):

- `unsafe_environment` missed when the danger is control, intimidation or threat rather than a blow
  (monitoring, money taken away, isolation, blocked doors, threats about the children or pets), and
- ordinary, mild conflict read as `unsafe_environment` (a raised voice, a slammed door, a sulk, a walk-out
  to cool down): the demo database's false holds are mostly this kind of wording.

Every line goes to **train or validation only** (two in three train, one in three validation, by position),
so the held-out split of `data/safety.jsonl` stays exactly what it was and the before/after figures are on
the same test rows. Each crisis line appears alone, with the partner as `[Partner]`, and after an everyday
sentence of its split (one crisis sentence in an ordinary check-in); each conflict line alone and after an
opener.
"""

from __future__ import annotations

import random
import re

# Danger without (or before) a blow: coercive control, intimidation, threats, stalking, sexual coercion.
CONTROL_UNSAFE: tuple[str, ...] = (
    "My husband reads all my messages and takes my phone away if I text my sister.",
    "He controls every penny, I have to show him receipts and he decides if I can buy food.",
    "She tells me if I ever leave she will make sure I never see the kids again, and I believe her.",
    "He stands in the doorway so I can't get out of the room until I agree with him.",
    "When he gets angry he drives really fast with me in the car to scare me.",
    "My boyfriend put a tracking app on my phone and goes through my emails.",
    "He punched the wall right beside my face and said next time it will be me.",
    "My partner has cut me off from all my friends and I'm not allowed to go out alone.",
    "He threatened to hurt my dog if I don't do what he says.",
    "I'm afraid of what my wife will do when she finds out I talked to a lawyer.",
    "He pressures me into sex when I don't want to and gets scary if I refuse.",
    "My ex follows me home from work and waits outside my building at night.",
    "She took my car keys and my ID so I can't go anywhere without her.",
    "I walk on eggshells all the time because I never know when he will explode and break things.",
    "He locked me out of the house overnight in the cold as punishment.",
    "My partner keeps a knife by the bed and reminds me it's there when we argue.",
    "He posted private photos of me online to punish me and says he'll do worse.",
    "She screams in my face, grabs my arms and won't let go until I cry.",
    "My husband won't let me see a doctor about the bruises.",
    "I'm not allowed to work or have my own bank account, he says I'd leave him.",
    "He smashed my laptop and told me I'm lucky it wasn't my head.",
    "When he's been drinking he corners me in the kitchen and I can't get past him.",
    "My partner monitors my location all day and calls me a liar if I'm five minutes late, then gets physical.",
    "He threatened to call immigration on me if I don't obey him.",
    "I'm scared to fall asleep because of what he does to me at night.",
    "My girlfriend hits me and says nobody will believe a man could be abused.",
    "He keeps telling me he knows where my parents live and what could happen to them.",
    "I had to lock myself and the kids in the bedroom last night while he raged.",
    "He takes my medication away and gives it back only if I behave.",
    "My partner threw me out of the car on the highway and drove off.",
    "She hurts the children when she's angry and I don't know how to protect them.",
    "He broke down the bathroom door when I hid in there.",
    "My stepfather comes into my room at night and I don't feel safe in this house.",
    "He makes me ask before I eat or shower and punishes me if I don't.",
    "I stay late at work on purpose because I'm frightened to go home to him.",
    "My ex keeps showing up at my door even though there is a restraining order.",
    "He squeezed my neck during the argument, just for a second, but I couldn't breathe.",
    "She keeps threatening me with the gun in the drawer when she's drunk.",
    "He pins me to the bed and says it's a joke but it really hurts.",
    "I'm being kept in the flat, he takes the key with him when he leaves.",
    "My husband says if I tell anyone about what he does, I'll disappear.",
    "Last time I disagreed with him he threw a chair at me.",
    "He checks my underwear and my phone when I come home and accuses me of cheating.",
    "My partner hits me where nobody can see the marks.",
)

# Everyday conflict without danger: heat, sulks and slammed doors, then repair. Stress, not unsafe.
MILD_CONFLICT: tuple[str, ...] = (
    "[Partner] raised their voice about the bills and then apologised a few minutes later.",
    "We had a heated argument about his mum and both went to bed annoyed.",
    "She stormed off to the bedroom after our fight but we talked it out later.",
    "[Partner] gave me the silent treatment all evening after I forgot our plans.",
    "I got so frustrated that I left the room to cool down.",
    "We both said things we didn't mean during the argument about moving.",
    "[Partner] slammed the cupboard door because I left dishes out again.",
    "He was grumpy and snapped at me when I asked about the weekend.",
    "We argued in the car about directions and it got a bit loud.",
    "[Partner] rolled their eyes at me in front of friends and it stung.",
    "She was sulking because I went out with my friends without her.",
    "We had a blow-up about money and I went for a walk to calm down.",
    "[Partner] said I never listen and I said the same back, classic fight.",
    "He hung up on me during our call because he was tired and cranky.",
    "We keep having tense conversations about whose family to visit.",
    "I yelled at [Partner] about the laundry and felt bad straight away.",
    "[Partner] was cold and distant after I criticised their cooking.",
    "We disagreed about the kids' bedtime and it turned into a shouting match, then we hugged it out.",
    "She was really angry that I forgot to call and we fought about it.",
    "[Partner] gets irritated when I bring up the wedding budget.",
    "After the argument we slept in separate rooms, which felt sad.",
    "He threw his keys on the table in frustration and went quiet.",
    "[Partner] called me selfish in the fight and I'm still a bit hurt.",
    "We bickered all the way home from the party.",
    "I was so mad at [Partner] that I didn't text back all afternoon.",
    "She got defensive and we ended up arguing about something else entirely.",
    "[Partner] accused me of not pulling my weight at home and I got upset.",
    "We fought about screen time and he walked out to the garage to cool off.",
    "Our fight about the holidays left us both in a bad mood.",
    "[Partner] is annoyed with me for booking the trip without asking.",
    "We argued about chores and I said I needed space for the night.",
    "He muttered something rude under his breath when I was late, then said sorry.",
    "[Partner] and I had a tense morning and barely talked at breakfast.",
    "She snapped at me because she's stressed about work, not really about me.",
    "We had our first proper fight since moving in and it shook me a little.",
    "[Partner] was jealous that I spent the evening texting an old friend.",
    "We raised our voices about money again and the neighbours probably heard.",
    "I felt criticised when [Partner] redid the dishes I had just washed.",
    "He gets moody when he's hungry and we end up arguing about nothing.",
    "[Partner] stomped upstairs after I said no to the new car.",
)

OPENERS: tuple[str, ...] = (
    "Rough evening.",
    "Not a great day for us.",
    "Checking in after a long day.",
    "Honestly, today was a lot.",
    "So, a bit of drama today:",
    "Update:",
)

EVERYDAY: tuple[str, ...] = (
    "Work was busy and I got home late.",
    "We had pasta for dinner and watched a show.",
    "The kids were at school and I cleaned the flat.",
    "I went to the gym this morning.",
    "[Partner] picked up groceries on the way home.",
    "We went for a walk around [Location] after lunch.",
)

_PARTNER_WORDS = re.compile(r"\b(?:[Mm]y (?:partner|husband|wife|boyfriend|girlfriend|ex)|^He|^She)\b")


def split_of(index: int) -> str:
    """Train or validation only: the held-out split of the safety set is left untouched."""
    return "val" if index % 3 == 1 else "train"


def rows(seed: int = 13) -> list[dict]:
    rng = random.Random(seed)
    out: list[dict] = []
    for i, text in enumerate(CONTROL_UNSAFE):
        split = split_of(i)
        frag = [f"control.unsafe_environment:{i}"]
        variants = [text, _PARTNER_WORDS.sub("[Partner]", text, count=1)]
        variants.append(f"{rng.choice([e for j, e in enumerate(EVERYDAY) if split_of(j) == split])} {text}")
        for v in dict.fromkeys(variants):
            out.append({"text": v, "labels": ["unsafe_environment"], "fragments": frag, "split": split})
    for i, text in enumerate(MILD_CONFLICT):
        split = split_of(i)
        frag = [f"conflict.stress:{i}"]
        opener = rng.choice([o for j, o in enumerate(OPENERS) if split_of(j) == split])
        for v in dict.fromkeys([text, f"{opener} {text}"]):
            out.append({"text": v, "labels": ["stress"], "fragments": frag, "split": split})
    return out
