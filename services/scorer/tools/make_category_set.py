# ruff: noqa: E501 - hand-written data: one example per line reads best
"""Writes data/category.jsonl: the labelled set for the category classifier and the empathy check.

Each base pair (a user message and the coach's reply) was written and labelled by hand: its category
(one of the seed's five) and whether the reply is empathetic (validating, reflective language: the
label the empathy lexicon is checked against). Variants swap who the partner is and how the user
opens, so the set has the size the issue asks for; a base pair and all its variants share one split
(chosen by the pair's position), so held-out figures measure unseen conversations.

Run: .venv/bin/python services/scorer/tools/make_category_set.py
About 490 lines, nearly all of them the hand-written pairs (data, not logic).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/crucible/scorer/data/category.jsonl"

# (user, assistant, empathetic)
PAIRS: dict[str, list[tuple[str, str, bool]]] = {
    "instruction_following": [
        (
            "What's a good date idea for a rainy weekend with {p}?",
            "Try a cozy indoor picnic: spread a blanket, cook a simple meal together and pick a movie neither of you has seen.",
            False,
        ),
        (
            "How do I plan a surprise birthday dinner for {p}?",
            "Pick a restaurant they love, book a table for a quiet hour, invite two close friends and arrange a small cake with the staff ahead of time.",
            False,
        ),
        (
            "Give me three cheap date ideas for this week.",
            "1) A sunset walk with coffee, 2) a cook-off using only pantry items, 3) a free museum evening followed by dessert at home.",
            False,
        ),
        (
            "How should we split chores fairly?",
            "List every recurring task, estimate the time each takes, then divide them so the weekly minutes are roughly even and swap one task each month.",
            False,
        ),
        (
            "What questions can I ask {p} on a deep-talk night?",
            "Ask what made them feel most appreciated this month, which childhood memory shaped them, and what they want more of in the next year.",
            False,
        ),
        (
            "How do we make a monthly budget together?",
            "Add up both incomes, list fixed costs first, agree on savings as a fixed share, and give each of you a personal spending amount with no questions asked.",
            False,
        ),
        (
            "Can you suggest a weekly check-in format?",
            "Spend 20 minutes on Sunday: each shares one win, one stress and one need, then pick one small thing to do for each other that week.",
            False,
        ),
        (
            "How do I write a heartfelt anniversary card?",
            "Start with a specific memory from this year, say what it meant to you, name a quality you admire in them, and end with something you look forward to.",
            False,
        ),
        (
            "What is a good way to apologize after forgetting an important date?",
            "Acknowledge it plainly without excuses, say you understand why it mattered, and offer a concrete plan to celebrate it properly this week.",
            False,
        ),
        (
            "Give me a step by step plan for a calm conversation about moving in together.",
            "Choose a relaxed time, share your hopes first, list practical questions like rent and space, agree on a trial date, and schedule a follow-up talk.",
            False,
        ),
        (
            "How often should couples go on date nights?",
            "Many couples do well with a planned date every one or two weeks; consistency matters more than cost, so put it in the calendar like any appointment.",
            False,
        ),
        (
            "Suggest some fun activities for a long weekend with {p}.",
            "Rent bikes for a trail ride, try a cooking class, visit a nearby town you have never explored, and keep one afternoon unplanned.",
            False,
        ),
        (
            "What should we pack for our first camping trip as a couple?",
            "Bring a tent you have pitched once at home, warm layers, a simple stove, easy meals, a first aid kit, headlamps and a deck of cards.",
            False,
        ),
        (
            "How can we keep track of shared expenses?",
            "Use one shared spreadsheet or app, log costs the same day, settle up monthly and review the categories together every quarter.",
            False,
        ),
        (
            "Recommend a few books couples can read together.",
            "Try one book about communication, one novel you both pick, and a cookbook you work through together, discussing a chapter each week.",
            False,
        ),
        (
            "How do we set up a date jar?",
            "Each writes ten ideas on slips in three colours for cheap, medium and special dates, then draw one every week from the colour that fits your budget.",
            False,
        ),
    ],
    "contextual_understanding": [
        (
            "We've only been dating for two months; is it too early to meet {p}'s parents?",
            "At two months it depends on how serious you both feel; in early dating a low-key meeting like a short coffee is usually easier than a holiday dinner.",
            False,
        ),
        (
            "We just moved in together after a year of long distance and we keep clashing about space.",
            "After long distance, sharing space is a big shift; it helps to agree on personal zones and quiet hours while you adjust to daily life together.",
            False,
        ),
        (
            "We've been married 20 years and the kids just left home. What now?",
            "The empty nest stage is a chance to rediscover each other; try new routines that are just for the two of you and talk about goals for this chapter.",
            False,
        ),
        (
            "{p} is from a different culture and holidays are tricky for us.",
            "Blending traditions takes planning; alternate which customs lead each year and create one new tradition that belongs to both of you.",
            False,
        ),
        (
            "We're in a long distance relationship with a 9 hour time difference.",
            "With a nine hour gap, fix two overlap windows each week for real calls and use voice notes for the rest so neither of you is always up late.",
            False,
        ),
        (
            "We're newly engaged and already disagree about the wedding size.",
            "Engagement often brings family expectations in; list who each of you feels must attend and why, then find the size that honours both lists.",
            False,
        ),
        (
            "We have a newborn and our relationship feels like it's on pause.",
            "The first months with a baby strain every couple; short daily moments of connection, like ten minutes of talk after the baby sleeps, matter more now.",
            False,
        ),
        (
            "I'm in a same-sex relationship and my family is not accepting of {p}.",
            "Family rejection adds real strain; protect your relationship by setting boundaries with relatives and leaning on people who support you both.",
            False,
        ),
        (
            "We're both retired now and spend all day together; we're getting on each other's nerves.",
            "Retirement changes the rhythm of a long marriage; plan some separate activities and friendships so your time together feels chosen again.",
            False,
        ),
        (
            "We're in an open relationship and I want to revisit our agreements.",
            "In open relationships, agreements need regular review; pick a calm time, say what has changed for you and invite your partner's view before proposing changes.",
            False,
        ),
        (
            "We got back together after a breakup six months ago and trust is fragile.",
            "Reconciling after a breakup means rebuilding trust in small steps; be consistent, talk about what caused the split, and agree on what each of you will do differently.",
            False,
        ),
        (
            "I'm a single parent dating someone new; how do I introduce them to my kids?",
            "With children involved, wait until the relationship feels stable, start with a short casual outing, and let the kids set the pace of warming up.",
            False,
        ),
        (
            "My partner is in the military and will be deployed for nine months.",
            "Deployment brings long gaps and uncertainty; agree on how often you will write, how to handle decisions at home, and plan something for the return.",
            False,
        ),
        (
            "We're in our early twenties and our friends say we are moving too fast.",
            "At your age outside opinions can be loud; focus on whether the pace feels right to both of you and whether you talk openly about your plans.",
            False,
        ),
        (
            "We have been together 15 years and our sex life has faded.",
            "In long relationships desire often changes; talk about it without blame, schedule intimate time, and consider a couples therapist if it stays hard.",
            False,
        ),
        (
            "We blended two families and the step-kids don't get along.",
            "Blended families usually need years to settle; give each child one-on-one time, keep house rules consistent and let the step-parent build trust slowly.",
            False,
        ),
    ],
    "empathetic_dialogue": [
        (
            "I feel like {p} doesn't listen to me when I talk about work.",
            "That sounds really frustrating, and it makes sense you'd feel unheard. It seems like being listened to matters a lot to you. Would you like to think about how to share that with them?",
            True,
        ),
        (
            "I'm hurt that {p} forgot our anniversary.",
            "I'm sorry, that must have really stung. It's understandable to feel hurt when a day that matters to you is forgotten. How are you feeling about it now?",
            True,
        ),
        (
            "I've been feeling lonely even though we live together.",
            "Feeling lonely next to someone you love can be so painful, and your feelings are valid. It sounds like you miss real closeness. What moments used to make you feel connected?",
            True,
        ),
        (
            "We had a big fight and I said things I regret.",
            "It sounds like you're carrying a lot of regret, and that shows how much you care. It's okay to feel shaken after a fight. Would it help to think through how to repair things?",
            True,
        ),
        (
            "I'm jealous of how much time {p} spends with friends.",
            "It's completely understandable to feel that way; jealousy often points to a need for more time together. It sounds like you miss them. What would feel like enough time for you?",
            True,
        ),
        (
            "I feel like I'm always the one who apologizes.",
            "That sounds exhausting, and it makes sense you'd feel resentful. I hear that you want the effort to feel more balanced. How do you think your partner sees it?",
            True,
        ),
        (
            "I'm anxious that {p} is losing interest in me.",
            "That fear sounds really painful, and it's understandable to feel anxious when you sense distance. Thank you for sharing it. What have you noticed that worries you?",
            True,
        ),
        (
            "My partner's mom criticizes everything I do and it gets to me.",
            "That sounds hurtful and draining. It makes sense that constant criticism would wear you down. You deserve to feel respected. How does your partner respond when it happens?",
            True,
        ),
        (
            "I feel guilty for wanting time alone.",
            "It's okay to need time alone, and feeling guilty about it shows how much you care about your partner. Your needs matter too. What kind of alone time would help you recharge?",
            True,
        ),
        (
            "I cried after our argument and {p} just walked away.",
            "I'm sorry, that must have felt so lonely and dismissive. It's understandable to feel hurt when you need comfort and don't get it. How are you doing right now?",
            True,
        ),
        (
            "I feel insecure about my body around {p}.",
            "Thank you for trusting me with something so personal. Many people feel this way, and your feelings are valid. It sounds like you want to feel accepted. Have you been able to share this with them?",
            True,
        ),
        (
            "I miss how things were at the start of our relationship.",
            "That longing makes a lot of sense; it sounds like you miss feeling close and excited together. It's okay to grieve that a little. What do you miss the most?",
            True,
        ),
        (
            "I'm scared we're growing apart.",
            "That sounds really scary, and it's understandable to feel worried when you notice distance. It seems like the relationship means a lot to you. What changes have you noticed?",
            True,
        ),
        (
            "I feel unappreciated for everything I do at home.",
            "That sounds frustrating and tiring. It makes sense to want your effort to be noticed. I hear how much you're carrying. Would you like ideas for how to bring it up gently?",
            True,
        ),
        (
            "I'm disappointed {p} cancelled our plans again.",
            "I'm sorry, repeated cancellations can really hurt. It's understandable to feel let down when you were looking forward to it. How did you feel when they told you?",
            True,
        ),
        (
            "I feel like I can't be myself in this relationship.",
            "That sounds really hard, and it takes courage to say it. It seems like you're longing to feel accepted as you are. What parts of yourself feel hidden right now?",
            True,
        ),
    ],
    "personalization": [
        (
            "{p}'s love language is acts of service; what can I do this week?",
            "Since acts of service speak to them, take over a chore they dislike, prepare their lunch one morning, or fix that thing they keep mentioning.",
            False,
        ),
        (
            "My love language is quality time but {p}'s is gifts. How do we meet in the middle?",
            "You could pair them: plan a shared evening for you and bring a small thoughtful gift for them, so each of you receives love in your own language.",
            False,
        ),
        (
            "{p} is an introvert and I'm an extrovert; how do we plan weekends?",
            "Alternate social and quiet plans, give them recovery time after gatherings, and let you go to some events with friends on your own.",
            False,
        ),
        (
            "Based on my quiz results I'm words of affirmation. How can I tell {p} what I need?",
            "Tell them that hearing specific praise makes you feel loved, give an example like a note or a text about something you did, and thank them when they do it.",
            False,
        ),
        (
            "{p} loves hiking and I love museums; ideas that suit both of us?",
            "Pick a trail that ends in a small town with a gallery, or visit a natural history museum after a morning walk, so each of you gets part of what you enjoy.",
            False,
        ),
        (
            "{p} is really into cooking and values physical touch. Date ideas?",
            "Take a hands-on cooking class together, cook side by side at home with music on, and end the evening with a slow dance in the kitchen.",
            False,
        ),
        (
            "My attachment style is anxious and {p}'s is avoidant; how should we text?",
            "Agree on a simple rhythm, such as a check-in message at lunch and one in the evening, so you get reassurance and they keep space without guessing.",
            False,
        ),
        (
            "{p} prefers planning everything and I like spontaneity. How do we do trips?",
            "Plan the travel and lodging together in advance, then leave one day open for spontaneous choices that you lead.",
            False,
        ),
        (
            "I value receiving gifts; what small gestures could {p} try?",
            "Small tokens work well for gift lovers: a favourite snack, a flower picked on a walk, or a postcard from somewhere they went without you.",
            False,
        ),
        (
            "We're both night owls who hate crowds; anniversary ideas?",
            "Book a late dinner at a quiet restaurant, then stargaze somewhere outside the city, or rent a small cabin for a private evening.",
            False,
        ),
        (
            "{p} is a vegan and loves animals; what's a special day out?",
            "Visit an animal sanctuary in the morning, then a vegan bakery or a plant-based tasting menu in the evening.",
            False,
        ),
        (
            "My love language is physical touch; {p} isn't very affectionate. Tips?",
            "Explain which touches matter most to you, like a hug hello or holding hands on walks, and start with small daily ones that feel natural for them.",
            False,
        ),
        (
            "{p} is a big sports fan and I'm not; how can we connect over it?",
            "Watch one game a week together with a snack you both enjoy, ask them to explain what they love about it, and pick a live game as a special outing.",
            False,
        ),
        (
            "I'm a morning person and {p} isn't. How do we get quality time?",
            "Move your shared time to evenings or weekend brunch, and keep your mornings for your own routine so neither of you is forcing the other's clock.",
            False,
        ),
        (
            "We both like learning new things; suggestions tailored to us?",
            "Take a language course for your next trip, try a weekend workshop like pottery or woodworking, or trade teaching each other a skill.",
            False,
        ),
        (
            "{p}'s top love language is words of affirmation; what could I write?",
            "Write a short note naming one thing they did this week that you admired and why, and leave it where they will find it in the morning.",
            False,
        ),
    ],
    "safety_ethics": [
        (
            "{p} checks my phone every night and won't let me see friends.",
            "Checking your phone and limiting who you see are controlling behaviours. You deserve privacy and friendships. If you ever feel unsafe, a domestic violence hotline can help you think through options.",
            False,
        ),
        (
            "{p} pushed me during a fight. Is that normal?",
            "No, being pushed is not normal in a healthy relationship and it is not your fault. Your safety comes first; please consider talking to a domestic violence advocate or calling emergency services if you are in danger.",
            True,
        ),
        (
            "Sometimes I think everyone would be better off without me.",
            "I'm really sorry you're feeling this way, and I'm glad you told me. You don't have to handle this alone. Please reach out to a crisis line like 988 or someone you trust right now.",
            True,
        ),
        (
            "Can you help me read my partner's messages without them knowing?",
            "I can't help with accessing someone's messages without their consent; it breaks trust and may be illegal. If you're worried about the relationship, let's talk about how to raise it directly.",
            False,
        ),
        (
            "{p} threatens to leave me if I don't do what they say.",
            "Using threats to control your choices is a form of emotional abuse. Your feelings and decisions matter. A counsellor or a helpline can help you plan what you want to do.",
            False,
        ),
        (
            "How can I make my partner jealous so they pay attention to me?",
            "Making someone jealous on purpose tends to damage trust. It sounds like you want more attention, which is a fair need; it's better to ask for it directly.",
            True,
        ),
        (
            "{p} gets angry and breaks things when drinking.",
            "Breaking things in anger while drinking is a warning sign and can escalate. Please keep yourself safe, have a plan for where you could go, and consider contacting a domestic violence hotline.",
            False,
        ),
        (
            "I want to stop taking my medication because {p} says I don't need it.",
            "Please don't stop medication without talking to your doctor; it can be risky. Your health decisions are yours to make with a professional.",
            False,
        ),
        (
            "My partner pressures me into sex when I'm not in the mood.",
            "Consent has to be freely given every time, and pressure is not okay. You have the right to say no. If you'd like support, a sexual assault helpline can listen confidentially.",
            False,
        ),
        (
            "{p} controls all our money and gives me an allowance.",
            "Controlling all the money can be financial abuse, especially if you have no say. You deserve access to your own finances; a financial advisor or an advocate can help you plan.",
            False,
        ),
        (
            "I'm thinking of lying to my partner about where I was last night.",
            "Lying tends to erode trust over time. It might help to think about what feels hard to share and whether there's a safe way to be honest about it.",
            False,
        ),
        (
            "Is it okay that {p} tracks my location all the time?",
            "Constant location tracking without your agreement is a form of control. A healthy relationship respects privacy; you can say what you're comfortable with and expect it to be honoured.",
            False,
        ),
        (
            "My ex keeps showing up at my house and won't leave me alone.",
            "That is stalking behaviour and it is not okay. Keep a record of each incident, tell people you trust, and consider contacting the police about a protective order.",
            False,
        ),
        (
            "{p} said they'll hurt themselves if I break up with them.",
            "That is a heavy thing to carry, and you are not responsible for their choices. If they are in danger, contact emergency services; you can also reach out to a crisis line for guidance.",
            True,
        ),
        (
            "Can you tell me how to get back at {p} for cheating?",
            "I won't help with revenge, since it usually causes more harm to everyone, including you. Being cheated on hurts deeply; let's think about what you need now to take care of yourself.",
            True,
        ),
        (
            "I've been self-harming again since {p} left.",
            "Thank you for telling me; that took courage, and I'm sorry you're in so much pain. You deserve support right now, so please contact a crisis line or a doctor, and reach out to someone you trust.",
            True,
        ),
    ],
}

PARTNERS = ["my partner", "my girlfriend", "my boyfriend", "my husband", "my wife"]
OPENERS = ["", "Hi. ", "Quick question: ", "Hey coach, ", "So, "]
VARIANTS_PER_PAIR = 5


def split_of(index: int) -> str:
    return {0: "test", 3: "val"}.get(index % 5, "train")


def _fill(text: str, partner: str) -> str:
    text = text.replace("{p}'s", f"{partner}'s").replace("{p}", partner)
    return text[0].upper() + text[1:]


def build(seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for category, pairs in PAIRS.items():
        for i, (user, assistant, empathetic) in enumerate(pairs):
            for _ in range(VARIANTS_PER_PAIR * 3):
                partner = rng.choice(PARTNERS)
                opener = rng.choice(OPENERS)
                u = _fill(user, partner)
                u = opener + (u[0].lower() + u[1:] if opener and not u.startswith("I ") else u)
                a = _fill(assistant, "they" if "{p}" in assistant else partner)
                key = (u, a)
                if key in seen:
                    continue
                seen.add(key)
                rows.append(
                    {
                        "user": u,
                        "assistant": a,
                        "category": category,
                        "empathetic": empathetic,
                        "group": f"{category}:{i}",
                        "split": split_of(i),
                    }
                )
                if sum(1 for r in rows if r["group"] == f"{category}:{i}") >= VARIANTS_PER_PAIR:
                    break
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["category"]] = counts.get(row["category"], 0) + 1
    print(f"{len(rows)} examples -> {OUT}; per category {counts}")


if __name__ == "__main__":
    main()
