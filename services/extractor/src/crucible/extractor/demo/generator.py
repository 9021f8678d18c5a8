"""The demo app database: a realistic relationship-coaching app, PII included.

`generate_demo(users, seed, anchor)` builds every row in memory, deterministically for a
seed and an anchor date (timestamps are spread over the 45 days before the anchor, so an
extraction window of 30 days leaves real rows out). `write_demo(target, ...)` writes them
to a SQLite file or any SQLAlchemy URL (PostgreSQL included).

What the later stages are tested on is planted at fixed rates and counted in `planted`:
near-duplicates, low-quality replies, crisis content, non-English text, personal details
inside free text, deleted accounts whose rows remain, and a few malformed rows.

One module (about 730 lines) on purpose: `_Generator` draws every table from one random
stream in a fixed order, and that order is what makes a seed give the same database; split
across modules, the order would be easy to change without noticing. The text it assembles
is data (`fragments.json`), not code.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crucible.extractor.demo import schema
from crucible.extractor.demo.fragments import fragments
from crucible.extractor.source import target_url

txt = fragments()

WINDOW_DAYS = 45

# locale -> (native language, culture label, weight). Native speakers of es/de/fr write
# some of their texts in that language.
LOCALES: dict[str, tuple[str, str, float]] = {
    "en_US": ("en", "north_american", 0.42),
    "en_GB": ("en", "british", 0.11),
    "en_IN": ("en", "south_asian", 0.08),
    "es_MX": ("es", "latin_american", 0.09),
    "de_DE": ("de", "german", 0.08),
    "fr_FR": ("fr", "french", 0.08),
    "pt_BR": ("en", "brazilian", 0.07),
    "ja_JP": ("en", "east_asian", 0.04),
    "en_NG": ("en", "west_african", 0.03),
}

NATIVE_WRITING_RATE = 0.35  # share of a native es/de/fr speaker's texts written in that language
CRISIS_RATE = 0.025
LOW_QUALITY_RATE = 0.06
NEAR_DUPLICATE_RATE = 0.05
CONTACT_RATE = 0.05
SIGNOFF_RATE = 0.04
SPRINKLE_RATE = 0.015
COACH_NAMES_USER_RATE = 0.2
# Share of (English, non-crisis) conversations where the coach reflects and validates in every reply:
# the conversations a curated set is made of (about a quarter to a third of them score >= 7.5).
ATTENTIVE_COACH_RATE = 0.65
DELETED_USER_RATE = 0.01
BAD_ROW_RATE = 0.005
# Share of coach replies the user rated, per kind of reply.
FEEDBACK_RATES = {"checkin_id": 0.4, "conversation_id": 0.7, "activity_id": 0.45}


@dataclass
class Person:
    id: int
    locale: str
    first_name: str
    last_name: str
    email: str
    phone: str
    street_address: str
    city: str
    workplace: str
    language: str
    created_at: dt.datetime
    partner: Person | None = None
    couple_id: int | None = None
    couple_type: str = ""


@dataclass
class DemoData:
    tables: dict[str, list[dict[str, Any]]]
    planted: Counter[str] = field(default_factory=Counter)
    anchor: dt.datetime | None = None

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}


def default_anchor() -> dt.datetime:
    """Start of today (UTC): the same seed gives the same database all day."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _ascii(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if c.isascii() and (c.isalnum() or c in ".-")).lower()


class _Generator:
    def __init__(self, seed: int, anchor: dt.datetime) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.anchor = anchor
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 1000 + i)
        self.planted: Counter[str] = Counter()
        self.tables: dict[str, list[dict[str, Any]]] = {t: [] for t in schema.metadata.tables}

    # --- people --------------------------------------------------------------------------

    def person(self, pid: int, locale: str, gender: str) -> tuple[Person, dict[str, Any]]:
        f, rng = self.fakers[locale], self.rng
        # Japanese users registered with romanized names (the app's forms are Latin-script).
        roman = "_romanized" if locale == "ja_JP" else ""
        if gender in ("female", "male"):
            first = getattr(f, f"first{roman}_name_{gender}")()
        else:
            first = getattr(f, f"first{roman}_name")()
        last = getattr(f, f"last{roman}_name")()
        domain = rng.choice(["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", f.free_email_domain()])
        sep = rng.choice([".", "_", ""])
        email = f"{_ascii(first)}{sep}{_ascii(last)}{rng.choice(['', str(rng.randint(1, 99))])}@{domain}"
        native, culture, _ = LOCALES[locale]
        language = native if native != "en" and rng.random() < 0.6 else "en"
        created = self.anchor - dt.timedelta(days=rng.randint(20, 700), seconds=rng.randint(0, 86_399))
        birth_year = self.anchor.year - max(18, min(80, int(rng.gauss(34, 9))))
        p = Person(
            id=pid,
            locale=locale,
            first_name=first,
            last_name=last,
            email=email,
            phone=f.phone_number(),
            street_address=f.street_address().replace("\n", ", "),
            city=f.city(),
            workplace=f.company(),
            language=language,
            created_at=created,
        )
        row = {
            "id": pid,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": p.phone,
            "street_address": p.street_address,
            "city": p.city,
            "country": f.current_country() if hasattr(f, "current_country") else "",
            "workplace": p.workplace,
            "birth_year": birth_year,
            "gender": gender,
            "language": language,
            "culture": culture,
            "created_at": created,
        }
        return p, row

    def people(self, n: int) -> list[Person]:
        rng = self.rng
        locales = list(LOCALES)
        weights = [LOCALES[loc][2] for loc in locales]
        persons: list[Person] = []
        couple_id = 0
        while len(persons) < n:
            pair = rng.choices(
                [
                    ("female", "male"),
                    ("female", "female"),
                    ("male", "male"),
                    ("nonbinary", "female"),
                    ("nonbinary", "male"),
                ],
                weights=[85, 6, 5, 2, 2],
            )[0]
            loc_a = rng.choices(locales, weights)[0]
            loc_b = loc_a if rng.random() < 0.75 else rng.choices(locales, weights)[0]
            a, row_a = self.person(len(persons) + 1, loc_a, pair[0])
            persons.append(a)
            self.tables["users"].append(row_a)
            if len(persons) == n:  # an odd user out: signed up alone
                break
            b, row_b = self.person(len(persons) + 1, loc_b, pair[1])
            persons.append(b)
            self.tables["users"].append(row_b)
            couple_id += 1
            years = rng.choice([0.3, 0.7, 1.5, 2.5, 4, 6, 9, 14, 22])
            since = (self.anchor - dt.timedelta(days=int(years * 365) + rng.randint(0, 120))).date()
            stage = "early" if years < 1 else "established" if years < 5 else "long_term"
            rtype = rng.choices(
                ["dating", "cohabiting", "engaged", "married", "long_distance", "blended_family"],
                weights=[3, 3, 1, 0.5, 1, 0.3] if stage == "early" else [1, 3, 1, 5, 0.7, 1],
            )[0]
            a.partner, b.partner = b, a
            a.couple_id = b.couple_id = couple_id
            a.couple_type = b.couple_type = rtype
            self.tables["couples"].append(
                {
                    "id": couple_id,
                    "user_a_id": a.id,
                    "user_b_id": b.id,
                    "relationship_stage": stage,
                    "relationship_type": rtype,
                    "since": since,
                    "created_at": max(a.created_at, b.created_at),
                }
            )
        return persons

    # --- text helpers ----------------------------------------------------------------------

    def slots(self, p: Person) -> dict[str, str]:
        f, rng = self.fakers[p.locale], self.rng
        partner = p.partner
        return {
            "partner": partner.first_name if partner else rng.choice(["my partner", "my boyfriend", "my girlfriend"]),
            "partner_email": partner.email if partner else "",
            "friend": f.first_name(),
            "friend_phone": f.phone_number(),
            "workplace": partner.workplace if partner and rng.random() < 0.4 else p.workplace,
            "city": f.city(),
            "place": rng.choice(txt.PLACES),
            "day": rng.choice(txt.DAYS),
            "first": p.first_name,
            "email": p.email,
            "phone": p.phone,
            "address": p.street_address,
        }

    def fill(self, template: str, slots: dict[str, str]) -> str:
        return template.format_map(slots)

    def topic_for(self, p: Person) -> str:
        weights = {t: 1.0 for t in txt.TOPICS}
        if p.couple_type == "long_distance":
            weights["long_distance"] = 6.0
        else:
            weights["long_distance"] = 0.1
        if p.couple_type in ("married", "blended_family"):
            weights["parenting"] = 3.0
            weights["family"] = 2.0
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def coach_reply(self, p: Person, mood: str, topic: str, slots: dict[str, str]) -> str:
        rng = self.rng
        if mood in txt.POSITIVE_MOODS:
            validation = rng.choice(txt.VALIDATIONS_POSITIVE)
        elif mood in ("okay", "meh"):
            validation = rng.choice(txt.VALIDATIONS_NEUTRAL)
        else:
            validation = rng.choice(txt.VALIDATIONS_NEGATIVE)
        # After a good moment the coach helps keep it going; after a hard one, it suggests a step.
        advice = txt.KEEP_IT_GOING if mood in txt.POSITIVE_MOODS else txt.COACH_SUGGESTIONS[topic]
        questions = txt.POSITIVE_QUESTIONS if mood in txt.POSITIVE_MOODS else txt.COACH_QUESTIONS
        reply = f"{validation} {rng.choice(advice)}{rng.choice(questions)}"
        if rng.random() < COACH_NAMES_USER_RATE:
            reply = f"{p.first_name}, {reply[0].lower()}{reply[1:]}"
        return self.fill(reply, slots)

    def writes_natively(self, p: Person) -> bool:
        return p.language in txt.FOREIGN_CHECKINS and self.rng.random() < NATIVE_WRITING_RATE

    def decorate(self, text: str, slots: dict[str, str]) -> str:
        """Personal details and code-switching dropped into a user's text at realistic rates."""
        rng = self.rng
        if rng.random() < CONTACT_RATE:
            text += self.fill(rng.choice(txt.CONTACT_SENTENCES), slots)
            self.planted["contact_details_in_text"] += 1
        if rng.random() < SPRINKLE_RATE:
            text += self.fill(rng.choice(txt.FOREIGN_SPRINKLES), slots)
            self.planted["non_english"] += 1
        if rng.random() < SIGNOFF_RATE:
            text += self.fill(rng.choice(txt.SIGNOFFS), slots)
        return text

    def when(self, p: Person, day_offset: int, hours: tuple[int, int] = (7, 23)) -> dt.datetime:
        t = self.anchor - dt.timedelta(days=day_offset)
        t += dt.timedelta(
            hours=self.rng.randint(*hours), minutes=self.rng.randint(0, 59), seconds=self.rng.randint(0, 59)
        )
        return max(t, p.created_at + dt.timedelta(minutes=5))

    def crisis_pair(self, slots: dict[str, str]) -> tuple[str, str]:
        rng = self.rng
        if rng.random() < 0.45:
            self.planted["crisis_self_harm"] += 1
            return (
                self.fill(rng.choice(txt.CRISIS_SELF_HARM), slots),
                self.fill(rng.choice(txt.CRISIS_REPLY_SELF_HARM), slots),
            )
        self.planted["crisis_abuse"] += 1
        return self.fill(rng.choice(txt.CRISIS_ABUSE), slots), self.fill(rng.choice(txt.CRISIS_REPLY_ABUSE), slots)

    # --- rows ------------------------------------------------------------------------------

    def checkins(self, persons: Sequence[Person]) -> None:
        rng, rows = self.rng, self.tables["checkins"]
        for p in persons:
            rate = rng.choice([0.05, 0.15, 0.3, 0.5, 0.7])
            for day in range(WINDOW_DAYS, 0, -1):
                if rng.random() >= rate:
                    continue
                slots = self.slots(p)
                topic = self.topic_for(p)
                event = rng.choice(txt.CHECKIN_EVENTS[topic])
                positive = event.startswith("+")
                # The mood follows what happened (mostly: people are not always consistent).
                moods = [m for m in txt.MOODS if (m in txt.POSITIVE_MOODS) == positive]
                mood = rng.choice(moods if rng.random() < 0.9 else txt.MOODS)
                if rng.random() < CRISIS_RATE:
                    mood = rng.choice(["low", "anxious"])
                    reflection, reply = self.crisis_pair(slots)
                elif self.writes_natively(p):
                    reflection = self.fill(rng.choice(txt.FOREIGN_CHECKINS[p.language]), slots)
                    reply = self.fill(rng.choice(txt.FOREIGN_REPLIES[p.language]), slots)
                    self.planted["non_english"] += 1
                else:
                    said = self.fill(event.removeprefix("+"), slots)
                    closer = rng.choice(txt.CHECKIN_CLOSERS if not positive else txt.CHECKIN_CLOSERS[:3])
                    reflection = self.decorate(f"{rng.choice(txt.MOOD_OPENERS[mood])} {said}{closer}", slots)
                    reply = self.coach_reply(p, "good" if positive else mood, topic, slots)
                if rng.random() < LOW_QUALITY_RATE:
                    self.planted["low_quality"] += 1
                    if rng.random() < 0.5:
                        reply = rng.choice(txt.LOW_QUALITY_REPLIES)
                    else:
                        reflection = rng.choice(txt.LOW_QUALITY_REFLECTIONS)
                score = (
                    rng.randint(7, 10)
                    if mood in txt.POSITIVE_MOODS
                    else rng.randint(4, 7)
                    if mood in ("okay", "meh")
                    else rng.randint(1, 5)
                )
                rows.append(
                    {
                        "id": len(rows) + 1,
                        "user_id": p.id,
                        "couple_id": p.couple_id,
                        "mood": mood,
                        "connection_score": score,
                        "reflection": reflection,
                        "ai_reply": reply,
                        "created_at": self.when(p, day, (17, 23)),
                    }
                )

    def activities(self, persons: Sequence[Person]) -> None:
        rng, rows = self.rng, self.tables["activities"]
        for p in persons:
            if p.partner is None or p.partner.id < p.id:
                continue  # one loop per couple
            day = rng.randint(1, 10)
            while day <= WINDOW_DAYS:
                author = p if rng.random() < 0.5 else p.partner
                slots = self.slots(author)
                atype = rng.choice(list(txt.ACTIVITY_TITLES))
                title = rng.choice(txt.ACTIVITY_TITLES[atype])
                slots["title"] = title
                rating = max(1, min(10, round(rng.gauss(7.2, 2.0))))
                band = "high" if rating >= 8 else "mid" if rating >= 5 else "low"
                feedback_text = self.decorate(self.fill(rng.choice(txt.ACTIVITY_FEEDBACK[band]), slots), slots)
                suggestion = self.fill(
                    f"{rng.choice(txt.ACTIVITY_VALIDATIONS[band])} {rng.choice(txt.ACTIVITY_SUGGESTIONS[band])}", slots
                )
                if rng.random() < LOW_QUALITY_RATE:
                    self.planted["low_quality"] += 1
                    suggestion = rng.choice(txt.LOW_QUALITY_REPLIES)
                rating_value: int | None = rating
                if rng.random() < 0.04:
                    rating_value = None  # skipped the rating
                elif rng.random() < BAD_ROW_RATE * 2:
                    rating_value = rng.choice([0, 11, 42])  # an app bug the extractor must report
                    self.planted["bad_rating"] += 1
                rows.append(
                    {
                        "id": len(rows) + 1,
                        "couple_id": p.couple_id,
                        "user_id": author.id,
                        "activity_type": atype,
                        "title": title,
                        "feedback_text": feedback_text,
                        "satisfaction_rating": rating_value,
                        "ai_suggestion": suggestion,
                        "created_at": self.when(author, WINDOW_DAYS + 1 - day, (10, 22)),
                    }
                )
                day += rng.randint(4, 12)

    def quizzes(self, persons: Sequence[Person]) -> None:
        rng, rows = self.rng, self.tables["quiz_results"]
        for p in persons:
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                slots = self.slots(p)
                name = rng.choice(list(txt.QUIZZES))
                questions = txt.QUIZZES[name]
                answers = {q: rng.choice(opts) for q, opts in questions.items()}
                completed = rng.random() < 0.85
                summary: str | None = None
                if completed:
                    values = list(answers.values())
                    summary = rng.choice(txt.QUIZ_SUMMARIES[name]).format(
                        a0=values[0], a1=values[1], a2=values[2 % len(values)], **slots
                    )
                else:
                    answers = dict(list(answers.items())[: rng.randint(1, len(answers) - 1)])
                answers_json = json.dumps(answers, ensure_ascii=False)
                if rng.random() < BAD_ROW_RATE * 2:
                    answers_json = answers_json[: len(answers_json) // 2]  # truncated by an old app version
                    self.planted["bad_json"] += 1
                rows.append(
                    {
                        "id": len(rows) + 1,
                        "user_id": p.id,
                        "quiz_name": name,
                        "answers": answers_json,
                        "result_summary": summary,
                        "completed": completed,
                        "created_at": self.when(p, rng.randint(1, WINDOW_DAYS)),
                    }
                )

    def conversation_messages(self, p: Person, topic: str, slots: dict[str, str]) -> list[tuple[str, str]]:
        rng = self.rng
        if rng.random() < CRISIS_RATE * 1.2:
            user, reply = self.crisis_pair(slots)
            msgs = [("user", user), ("assistant", reply)]
            if rng.random() < 0.5:
                msgs += [
                    ("user", "I don't know if I can tell anyone."),
                    (
                        "assistant",
                        "That's okay, reaching out here was already a brave step. Would it help to "
                        "think together about one person you trust, or a helpline you could call "
                        "today? You deserve support and safety.",
                    ),
                ]
            return msgs
        if self.writes_natively(p):
            self.planted["non_english"] += 1
            msgs = [
                ("user", self.fill(rng.choice(txt.FOREIGN_CHECKINS[p.language]), slots)),
                ("assistant", self.fill(rng.choice(txt.FOREIGN_REPLIES[p.language]), slots)),
            ]
            if rng.random() < 0.3:  # switched to English mid-conversation
                question, answer = rng.choice(txt.CONVO_FOLLOWUPS)
                msgs += [("user", self.fill(question, slots)), ("assistant", self.fill(answer, slots))]
            return msgs
        exchanges = rng.choice([1, 2, 2, 3, 3, 4])
        msgs = [
            ("user", self.decorate(self.fill(rng.choice(txt.CONVO_OPENERS[topic]), slots), slots)),
            (
                "assistant",
                self.fill(f"{rng.choice(txt.CONVO_TOPIC_ACKS[topic])} {rng.choice(txt.CONVO_FIRST_REPLIES)}", slots),
            ),
        ]
        if exchanges >= 2:
            msgs += [
                ("user", self.fill(rng.choice(txt.CONVO_DETAILS), slots)),
                (
                    "assistant",
                    self.fill(f"{rng.choice(txt.CONVO_VALIDATIONS)} {rng.choice(txt.COACH_SUGGESTIONS[topic])}", slots),
                ),
            ]
        if exchanges >= 3:
            question, answer = rng.choice(txt.CONVO_FOLLOWUPS)
            msgs += [("user", self.fill(question, slots)), ("assistant", self.fill(answer, slots))]
        if exchanges >= 4:
            msgs += [
                ("user", self.fill(rng.choice(txt.CONVO_THANKS), slots)),
                ("assistant", self.fill(rng.choice(txt.CONVO_CLOSINGS), slots)),
            ]
        if rng.random() < ATTENTIVE_COACH_RATE:
            self.planted["attentive_coach"] += 1
            msgs = [
                (role, f"{text} {self.fill(rng.choice(txt.CONVO_EMPATHY), slots)}" if role == "assistant" else text)
                for role, text in msgs
            ]
        if rng.random() < LOW_QUALITY_RATE:
            self.planted["low_quality"] += 1
            msgs[-1] = ("assistant", rng.choice(txt.LOW_QUALITY_REPLIES))
        return msgs

    def conversations(self, persons: Sequence[Person]) -> None:
        rng = self.rng
        convs, msgs = self.tables["conversations"], self.tables["messages"]
        for p in persons:
            # Coaching conversations are the app's core: most users have a few a month.
            for _ in range(rng.choice([0, 1, 2, 2, 3, 3, 4, 5])):
                topic = self.topic_for(p)
                slots = self.slots(p)
                started = self.when(p, rng.randint(1, WINDOW_DAYS))
                cid = len(convs) + 1
                convs.append(
                    {"id": cid, "user_id": p.id, "couple_id": p.couple_id, "topic": topic, "created_at": started}
                )
                for seq, (role, content) in enumerate(self.conversation_messages(p, topic, slots)):
                    msgs.append(
                        {
                            "id": len(msgs) + 1,
                            "conversation_id": cid,
                            "seq": seq,
                            "role": role,
                            "content": content,
                            "created_at": started + dt.timedelta(minutes=2 * seq, seconds=rng.randint(5, 90)),
                        }
                    )

    def feedback(self, by_id: dict[int, Person]) -> None:
        """Helpfulness votes and outcome reports on coach replies: check-ins (a thumbs-up on the
        reply, then "did you try it?"), conversations and activity suggestions. A reply that says
        next to nothing is rated low."""
        rng, rows = self.rng, self.tables["feedback"]
        last_reply: dict[int, str] = {}
        for m in self.tables["messages"]:
            if m["role"] == "assistant":
                last_reply[m["conversation_id"]] = m["content"] or ""
        targets: list[tuple[str, dict[str, Any], str, float]] = [
            ("checkin_id", c, c["ai_reply"] or "", FEEDBACK_RATES["checkin_id"]) for c in self.tables["checkins"]
        ]
        targets += [
            ("conversation_id", c, last_reply.get(c["id"], ""), FEEDBACK_RATES["conversation_id"])
            for c in self.tables["conversations"]
        ]
        targets += [
            ("activity_id", a, a["ai_suggestion"] or "", FEEDBACK_RATES["activity_id"])
            for a in self.tables["activities"]
        ]
        for column, target, reply, rate in targets:
            if target["user_id"] not in by_id or rng.random() >= rate:
                continue
            p = by_id[target["user_id"]]
            slots = self.slots(p)
            # A thorough reply is rated higher than a short one, and one that says next to nothing low.
            mean = 8.4 if len(reply) >= 160 else 7.8 if len(reply) >= 40 else 3.2
            helpfulness = max(1, min(10, round(rng.gauss(mean, 1.8))))
            action = rng.random() < (0.75 if helpfulness >= 7 else 0.25)
            positive = action and rng.random() < 0.85
            comment = ""
            if rng.random() < 0.6:
                if helpfulness < 6:
                    pool = txt.FEEDBACK_COMMENTS_BAD
                else:
                    pool = txt.FEEDBACK_COMMENTS_GOOD if action else txt.FEEDBACK_COMMENTS_NOT_TRIED
                comment = self.decorate(self.fill(rng.choice(pool), slots), slots)
            row: dict[str, Any] = {
                "id": len(rows) + 1,
                "user_id": p.id,
                "checkin_id": None,
                "conversation_id": None,
                "activity_id": None,
                "helpfulness": helpfulness,
                "action_taken": action,
                "positive_outcome": positive,
                "comment": comment or None,
                "created_at": min(
                    target["created_at"] + dt.timedelta(minutes=rng.randint(5, 2 * 24 * 60)),
                    self.anchor - dt.timedelta(minutes=1),
                ),
            }
            row[column] = target["id"]
            rows.append(row)

    # --- planted variations ----------------------------------------------------------------

    def near_duplicates(self) -> None:
        """Copy ~5% of text rows with small edits (a resubmitted check-in, a pasted message)."""
        rng = self.rng
        for table, text_cols in (
            ("checkins", ("reflection", "ai_reply")),
            ("activities", ("feedback_text", "ai_suggestion")),
        ):
            rows = self.tables[table]
            for src in rng.sample(rows, k=int(len(rows) * NEAR_DUPLICATE_RATE)):
                dup = dict(src)
                dup["id"] = len(rows) + 1
                dup["created_at"] = src["created_at"] + dt.timedelta(minutes=rng.randint(3, 3 * 24 * 60))
                dup["created_at"] = min(dup["created_at"], self.anchor - dt.timedelta(minutes=1))
                for col in text_cols:
                    if dup[col] and rng.random() < 0.8:
                        dup[col] = small_edit(dup[col], rng)
                rows.append(dup)
                self.planted["near_duplicates"] += 1
        convs, msgs = self.tables["conversations"], self.tables["messages"]
        by_conv: dict[int, list[dict[str, Any]]] = {}
        for m in msgs:
            by_conv.setdefault(m["conversation_id"], []).append(m)
        for src in rng.sample(convs, k=int(len(convs) * NEAR_DUPLICATE_RATE)):
            cid = len(convs) + 1
            shift = dt.timedelta(hours=rng.randint(1, 72))
            start = min(src["created_at"] + shift, self.anchor - dt.timedelta(hours=1))
            convs.append({**src, "id": cid, "created_at": start})
            for m in by_conv.get(src["id"], []):
                content = small_edit(m["content"], rng) if m["role"] == "user" and m["content"] else m["content"]
                msgs.append(
                    {
                        **m,
                        "id": len(msgs) + 1,
                        "conversation_id": cid,
                        "content": content,
                        "created_at": start + (m["created_at"] - src["created_at"]),
                    }
                )
            self.planted["near_duplicates"] += 1

    def delete_accounts(self, persons: Sequence[Person]) -> None:
        """A few users deleted their account; their rows stay behind (no cascade)."""
        count = max(1, round(len(persons) * DELETED_USER_RATE)) if len(persons) >= 20 else 0
        gone = {p.id for p in self.rng.sample(list(persons), k=count)}
        self.tables["users"] = [u for u in self.tables["users"] if u["id"] not in gone]
        self.planted["deleted_users"] += len(gone)


SMALL_EDIT_SWAPS = (
    ("really", "truly"),
    ("very", "so"),
    ("today", "tonight"),
    ("I'm", "I am"),
    ("don't", "do not"),
    ("and", "&"),
    ("great", "good"),
)


def small_edit(text: str, rng: random.Random) -> str:
    """One or two tiny edits: what a resubmitted or copy-pasted text looks like."""
    original = text
    for _ in range(rng.randint(1, 2)):
        words = text.split(" ")
        op = rng.randrange(5)
        if op == 0:
            for a, b in rng.sample(SMALL_EDIT_SWAPS, k=len(SMALL_EDIT_SWAPS)):
                if f" {a} " in f" {text} ":
                    text = f" {text} ".replace(f" {a} ", f" {b} ", 1).strip()
                    break
            else:
                text += "!"
        elif op == 1:
            text = text.rstrip(".!?") + rng.choice(["", ".", "!", "..."])
        elif op == 2 and len(words) > 4:
            del words[rng.randrange(1, len(words))]
            text = " ".join(words)
        elif op == 3:
            text = rng.choice(["Again, ", "Update: ", "So ", "Ugh, "]) + text[:1].lower() + text[1:]
        else:
            i = rng.randrange(len(words))
            words.insert(i, words[i])
            text = " ".join(words)
    if text == original:  # the edits cancelled out (e.g. "." replaced by "."): a near-duplicate must differ
        text = "Update: " + text
    return text


def generate_demo(users: int = 200, seed: int = 7, anchor: dt.datetime | None = None) -> DemoData:
    """Every row of the demo database, deterministic for (users, seed, anchor)."""
    if users < 1:
        raise ValueError("users must be at least 1")
    anchor = anchor or default_anchor()
    gen = _Generator(seed, anchor)
    persons = gen.people(users)
    gen.checkins(persons)
    gen.activities(persons)
    gen.quizzes(persons)
    gen.conversations(persons)
    gen.near_duplicates()
    gen.feedback({p.id: p for p in persons})
    gen.delete_accounts(persons)
    return DemoData(tables=gen.tables, planted=gen.planted, anchor=anchor)


def write_demo(
    target: str | Path,
    users: int = 200,
    seed: int = 7,
    anchor: dt.datetime | None = None,
) -> dict[str, Any]:
    """Generate the demo data and write it to `target` (a SQLite path or a SQLAlchemy URL),
    replacing the demo tables there. Returns a summary (counts and what was planted)."""
    from sqlalchemy import create_engine, text

    started = time.perf_counter()
    data = generate_demo(users, seed, anchor)
    url = target_url(target)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    engine = create_engine(url)
    try:
        schema.metadata.drop_all(engine)
        schema.metadata.create_all(engine)
        with engine.begin() as conn:
            for table in schema.metadata.sorted_tables:
                rows = data.tables[table.name]
                if rows:
                    conn.execute(table.insert(), rows)
            if engine.dialect.name == "postgresql":
                # Rows were written with explicit ids: move the sequences past them.
                for table in schema.metadata.sorted_tables:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
    finally:
        engine.dispose()
    return {
        "target": _safe_url(url),
        "users": users,
        "seed": seed,
        "anchor": data.anchor.isoformat() if data.anchor else None,
        "tables": data.counts(),
        "planted": dict(sorted(data.planted.items())),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=None).render_as_string(hide_password=True)
