"""Labelled training text for the learned span tagger (`token_model.py`), generated, never read.

Sentences come from frames written for this module (employment, study, care, membership,
business, addresses, plain mentions, and frames whose capitalised words are *not* personal data:
cities, countries, weekdays, holidays, job titles, titles of songs and books) filled with Faker
values of many locales. Nothing here comes from presidio-synth or any other benchmark: the frames
are our own sentences, the values Faker's.

`generate(n, seed)` is deterministic for a seed (its own `random.Random`, Faker seeded from it).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

# Faker locales written in Latin script (the scrubber's name lists come from the same family).
# Not it_IT: its city() depends on Python's hash seed (a set), so the text would differ per process.
LOCALES = (
    "en_US", "en_GB", "en_AU", "en_CA", "en_IE", "en_NZ", "de_DE", "de_AT", "de_CH", "fr_FR", "fr_CA",
    "es_ES", "es_MX", "nl_NL", "nl_BE", "pt_BR", "pt_PT", "pl_PL", "cs_CZ", "sk_SK", "hu_HU",
    "ro_RO", "hr_HR", "sl_SI", "sv_SE", "da_DK", "no_NO", "fi_FI", "et_EE", "lv_LV", "lt_LT", "tr_TR",
    "id_ID", "fil_PH", "en_IN",
)  # fmt: skip

ENTITY_TYPES = ("PERSON", "ORGANIZATION", "STREET_ADDRESS")

# Designators a person uses when naming an employer, school, clinic, church or club.
_ORG_HEADS = (
    "Elementary", "Elementary School", "High School", "Middle School", "Academy", "College", "Hospital",
    "Medical Center", "Clinic", "Dental", "Family Practice", "Credit Union", "Bank", "Insurance", "Church",
    "Baptist Church", "Community Church", "Fitness Club", "Tennis Club", "Golf Club", "Library", "Bakery",
    "Motors", "Realty", "Logistics", "Consulting", "Partners", "Group", "Holdings", "Foods", "Labs",
    "Systems", "Solutions", "Studios", "Pharmacy", "Veterinary Clinic", "Daycare", "Preschool", "Hotel",
    "Restaurant", "Cafe", "Diner", "Garage", "Construction", "Plumbing", "Transport", "Airlines",
)  # fmt: skip
_ORG_OF = ("University of", "Bank of", "Church of", "College of", "Museum of", "Department of", "Institute of")
_SAINTS = ("St. {first}'s Hospital", "St. {first}'s School", "St. {first}'s Church", "Saint {first} Parish")

_HOLIDAYS = (
    "Christmas", "Easter", "Thanksgiving", "Halloween", "New Year's Eve", "Mother's Day", "Father's Day",
    "Valentine's Day", "Ramadan", "Diwali", "Hanukkah", "Labor Day", "Independence Day", "Boxing Day",
)  # fmt: skip
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "June", "July", "August", "September", "October", "November")
_LANGS = ("English", "Spanish", "French", "German", "Polish", "Italian", "Portuguese", "Dutch", "Swedish")
_THINGS = (
    "Wi-Fi", "Bluetooth", "PDF", "Excel", "Zoom", "TV", "DVD", "GPS", "ICU", "ER", "CPR", "ADHD", "OCD",
    "COVID", "PTSD", "SAT", "GED", "MBA", "PhD", "CEO", "HR", "IT", "AI",
)  # fmt: skip

# Frames: {P} person, {O} organisation, {A} street address; {X} a capitalised non-PII phrase
# (city, country, weekday, holiday, title, job title...). Written for this module.
FRAMES = (
    "I just got a promotion at {O} and I'm nervous about it.",
    "My shift at {O} starts at six, so I can't make dinner.",
    "She has an interview with {O} next week.",
    "I've been a cashier at {O} for three years now.",
    "He quit {O} last month and still hasn't told his parents.",
    "We both volunteer at {O} on weekends.",
    "My son goes to {O} and the teachers are great.",
    "I'm a nurse at {O}, night shifts mostly.",
    "{P} from {O} called me about the contract.",
    "I had lunch with {P} yesterday and we talked about {O}.",
    "Do you think I should tell {P} how I feel?",
    "{P} said I was overreacting, but I'm not sure.",
    "My manager {P} keeps giving me extra work.",
    "My sister {P} is moving in with us for a while.",
    "I ran into {P} at the store and it was awkward.",
    "Can you remind me to call {P} tomorrow?",
    "{P} and {P} are getting married in {X}.",
    "Dear {P}, thank you for the flowers.",
    "Hi, I'm {P} and I need some advice.",
    "The letter was signed by {P}, the director of {O}.",
    "{O} announced layoffs and my team is worried.",
    "{O} is hiring again, should I apply?",
    "I got rejected by {O} after the second round.",
    "My insurance through {O} won't cover the therapy.",
    "We bank with {O} but their app is terrible.",
    "My appointment at {O} got moved to {X}.",
    "She was admitted to {O} last night.",
    "I'm a member of {O} and they're organising a trip.",
    "He studies engineering at {O}.",
    "I've been offered a job at {O} in {X}.",
    "My first day at {O} went better than expected.",
    "Our landlord {P} still hasn't fixed the heating.",
    "I live at {A} with my two roommates.",
    "Please send the package to {A}.",
    "We moved to {A} in the spring.",
    "The party is at {A}, bring something to drink.",
    "My new address is {A}",
    "{P}\n{O}\n{A}",
    "{P}, {O}, {A}",
    "Her office is at {A}, right next to the bakery.",
    "Meet me at {A} around seven.",
    "{O} moved its office to {A}.",
    "I work for {O} as a {J}.",
    "{P} works as a {J} at {O}.",
    "I'm so proud of {P} for finishing the marathon.",
    "I think {P} is avoiding me since the wedding.",
    "{P}'s birthday is on {X} and I forgot to buy a gift.",
    "Our neighbour {P} lives at {A}.",
    "Yesterday {P} told me {O} might close.",
    "I keep thinking about what {P} said.",
    "Thanks for the advice, {P} appreciated it too.",
    "Got the job at {O}!",
    "I'm starting at {O} on {X}.",
    "Mail it to {P}, {A}.",
)  # fmt: skip

# Frames with capitalised words that are not personal data (the tagger's "no" examples).
CLEAN_FRAMES = (
    "We're flying to {X} for {H}.",
    "I feel so tired every {W} morning.",
    "My therapist said I should journal every day in {M}.",
    "We watched a documentary about {X} last night.",
    "I'm learning {L} so I can talk to my in-laws.",
    "The {T} at work is broken again.",
    "{H} with the family is always stressful.",
    "I have a {T} appointment on {W}.",
    "Our trip to {X} got cancelled.",
    "I'm applying for a {J} role but I'm scared.",
    "Does anyone else hate {W}s?",
    "The {X} trip was the best week of my year.",
    "I cried during the last episode of {S}.",
    "We listened to {S} on repeat the whole drive.",
    "My kid is obsessed with {S} right now.",
    "I finally finished reading {S}.",
    "It's {W} and I already want the weekend.",
    "Happy {H}! I hope you're resting.",
    "I got my {T} results back and they're fine.",
    "We might spend {M} in {X} if money allows.",
    "It says so in {N} of the contract.",
    "Our seats are in {N}, near the window.",
    "I'm still using {N} and it's so slow.",
    "Turn left onto {N} after the bridge.",
    "The meeting moved to {N} on the second floor.",
    "Read {N} before the exam on {W}.",
)  # fmt: skip


@dataclass(frozen=True)
class Example:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, entity type)


class _Values:
    """Faker values of one locale, plus forms Faker does not write (initials, titles, designators)."""

    def __init__(self, rng: random.Random) -> None:
        from faker import Faker

        self.rng = rng
        self.fakers: dict[str, Faker] = {}
        self.en = self._faker("en_US")

    def _faker(self, locale: str):
        if locale not in self.fakers:
            from faker import Faker

            fk = Faker(locale)
            fk.seed_instance(self.rng.randrange(2**31))
            self.fakers[locale] = fk
        return self.fakers[locale]

    def locale(self):
        return self._faker(self.rng.choice(LOCALES))

    def person(self) -> str:
        fk = self.locale()
        r = self.rng.random()
        if r < 0.35:
            return fk.name()
        if r < 0.55:
            return fk.first_name()
        if r < 0.65:
            return f"{fk.first_name()} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {fk.last_name()}"
        if r < 0.75:
            return f"{self.rng.choice(('Dr.', 'Mr.', 'Mrs.', 'Ms.', 'Prof.'))} {fk.last_name()}"
        if r < 0.85:
            return fk.last_name()
        return f"{fk.first_name()} {fk.last_name()}"

    def organisation(self) -> str:
        fk = self.locale()
        r = self.rng.random()
        if r < 0.35:
            return fk.company()
        if r < 0.6:
            base = self.rng.choice((fk.last_name(), fk.city(), fk.street_name().split()[0], self.en.word().title()))
            return f"{base} {self.rng.choice(_ORG_HEADS)}"
        if r < 0.72:
            city = fk.city()  # drawn before the state, as the stored weights were generated
            place = fk.state() if hasattr(fk, "state") else fk.city()
            return f"{self.rng.choice(_ORG_OF)} {self.rng.choice((city, place))}"
        if r < 0.8:
            return self.rng.choice(_SAINTS).format(first=self.en.first_name())
        if r < 0.9:
            words = [self.en.word().title() for _ in range(self.rng.randint(1, 3))]
            return " ".join(words) + " " + self.rng.choice(("Inc.", "LLC", "Ltd", "Co.", "GmbH", "Group"))
        return fk.company().split(",")[0]

    def address(self) -> str:
        fk = self.locale()
        r = self.rng.random()
        if r < 0.45:
            return fk.street_address()
        if r < 0.75:
            return fk.address().replace("\n", self.rng.choice((", ", "\n", " ")))
        if r < 0.85:
            unit = self.rng.choice(("Apt.", "Suite", "Unit", "Flat", "Floor"))
            return f"{fk.street_address()}, {unit} {self.rng.randint(1, 999)}"
        if r < 0.92:
            return f"PO Box {self.rng.randint(10, 99999)}, {fk.city()}"
        return f"{fk.street_address()}, {fk.city()}, {self.en.country()}"

    def other(self) -> str:
        fk = self.locale()
        return self.rng.choice(
            (fk.city(), self.en.country(), self.rng.choice(_WEEKDAYS), self.rng.choice(_MONTHS),
             self.rng.choice(_HOLIDAYS), self.en.catch_phrase().title(), fk.city())
        )  # fmt: skip

    def title(self) -> str:
        return " ".join(w.title() for w in self.en.words(self.rng.randint(2, 5)))


_NUMBERED = (
    "Article", "Chapter", "Section", "Room", "Gate", "Level", "Row", "Route", "Highway", "Flight", "Platform",
    "Windows", "iPhone", "Version", "Model", "Season", "Episode", "Unit", "Week", "Day", "Psalm", "Page",
)  # fmt: skip
_SLOT = re.compile(r"\{([POAXJHWMLTSN])\}")


def _fill(frame: str, values: _Values, rng: random.Random) -> Example:
    fills: dict[str, Callable[[], tuple[str, str | None]]] = {
        "P": lambda: (values.person(), "PERSON"),
        "O": lambda: (values.organisation(), "ORGANIZATION"),
        "A": lambda: (values.address(), "STREET_ADDRESS"),
        "X": lambda: (values.other(), None),
        "J": lambda: (values.en.job().split(",")[0].lower(), None),
        "H": lambda: (rng.choice(_HOLIDAYS), None),
        "W": lambda: (rng.choice(_WEEKDAYS), None),
        "M": lambda: (rng.choice(_MONTHS), None),
        "L": lambda: (rng.choice(_LANGS), None),
        "T": lambda: (rng.choice(_THINGS), None),
        "S": lambda: (values.title(), None),
        "N": lambda: (f"{rng.choice(_NUMBERED)} {rng.randint(1, 400)}", None),
    }
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    length = 0
    for m in _SLOT.finditer(frame):
        out.append(frame[pos : m.start()])
        length += m.start() - pos
        value, kind = fills[m.group(1)]()
        if kind is not None:
            spans.append((length, length + len(value), kind))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(frame[pos:])
    text = "".join(out)
    if rng.random() < 0.1:  # people also type in lower case
        text = text.lower()
    return Example(text, tuple(spans))


def generate(n: int, seed: int, clean_share: float = 0.25) -> list[Example]:
    """`n` labelled sentences (about `clean_share` of them from the PII-free frames)."""
    rng = random.Random(seed)
    values = _Values(rng)
    examples = []
    for _ in range(n):
        frame = rng.choice(CLEAN_FRAMES if rng.random() < clean_share else FRAMES)
        examples.append(_fill(frame, values, rng))
    return examples
