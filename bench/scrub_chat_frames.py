"""The scrubber on chat text of our own, by kind of PII, against Presidio + spaCy in the same run.

presidio-synth has a few templates per kind; people write many more. This generates messages from
frames written for this check (never a benchmark sentence) filled with Faker values and a few
household brand names, seeded, and asks of every planted value whether at least 90 % of its letters
and digits were redacted (the benchmark's rule) and whether it got the right type:

- `employers_work_cues`: employers after the work itself ("clocking in at", "waiting tables at"),
  eight name shapes (an everyday first word and a surname, coined words, Faker firms), as written
  and lower-cased;
- `employers_household_brands`: brands and Faker firms of eight locales after a promotion, a job, a
  shift, an interview or an offer ("Wendy's", "Procter & Gamble", "van der Sloot & Huijben");
- `addresses`: Faker addresses of 28 locales with units, PO boxes and block/lot lines in six frames,
  half on one line, a third of one frame lower-cased;
- `names_everyday`, `names_abuse_and_fear`: Faker names of 32 locales in everyday and in abuse /
  fear frames ("my husband {n} threatened to kill me"), a third lower-cased;
- `spelled_out_contacts`: emails and handles written to dodge scrapers.

Usage: `python bench/scrub_chat_frames.py [--json]` (about a minute; the Presidio + spaCy baseline is
most of it). Figures belong to a machine and a seed; docs/scrubber.md quotes them.
"""

from __future__ import annotations

import json
import os
import random
import sys
import warnings
from collections.abc import Callable, Iterable

from faker import Faker

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

Case = tuple[str, str, str]  # text, planted value, expected type
Spans = list[tuple[int, int, str]]

_WORK_CUES = (
    "I've been clocking in at {o} for years.",
    "I'm waiting tables at {o} this summer.",
    "I've been stocking shelves at {o} since May.",
    "I flip burgers at {o}.",
    "I'm behind the counter at {o} most nights.",
    "Night audit at {o} again.",
    "I answer phones for {o}.",
    "I deliver for {o} on weekends.",
    "I'm a temp at {o}.",
    "Six years at {o} and still no raise.",
    "I've worked the register at {o} since high school.",
    "I'm serving at {o} tonight.",
    "Got bumped to full-time at {o}.",
    "I'm in my probation period at {o}.",
)
_WORK_NAMES = ("Golden Mills", "Bright Harris", "Summit Whitfield", "Blue Okafor", "Silver Line Haulage", "Datamyne")
_OFFER_CUES = (
    "I just got a promotion at {o}!",
    "I start my new job at {o} on Monday.",
    "My shift at {o} ran late again.",
    "I have an interview with {o} on Thursday.",
    "Got a job offer from {o} today.",
)
_BRANDS = (
    "Wendy's", "Trader Joe's", "McDonald's", "Ben & Jerry's", "Johnson & Johnson", "Procter & Gamble",
    "Marks & Spencer", "Hewlett-Packard", "Coca-Cola", "The Cheesecake Factory", "The Home Depot", "KPMG",
    "JPMorgan Chase", "Chick-fil-A", "Bed Bath & Beyond", "Dick's Sporting Goods",
)  # fmt: skip
# (no it_IT: Faker's Italian city() draws from a set, so its text changes with PYTHONHASHSEED)
_FIRM_LOCALES = ("de_DE", "fr_FR", "es_ES", "nl_NL", "pl_PL", "pt_PT", "pt_BR", "sv_SE")
_ADDRESS_LOCALES = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "sk_SK", "nl_NL", "pl_PL", "pt_BR", "sv_SE", "da_DK", "fi_FI",
    "cs_CZ", "en_AU", "en_CA", "de_AT", "de_CH", "fr_CH", "pt_PT", "ro_RO", "hu_HU", "en_IE", "no_NO", "tr_TR",
    "es_MX", "id_ID", "en_IN", "fil_PH",
)  # fmt: skip
_UNITS = ("Apt 4C", "Apt. 12", "Suite 200", "Unit 5B", "Floor 3", "3rd Floor", "Flat 2", "#12", "Level 2", "Room 301")
_BOXES = ("P.O. Box 1234", "PO Box 55", "Postfach 12 34", "Apartado 123", "BP 45", "Casilla 12", "Box 881")
_ADDRESS_FRAMES = (
    "Please send it to {a}.",
    "My new address is {a}",
    "Ship to:\n{a}\nThanks!",
    "we moved to {a} last month",
    "Can you pick me up at {a}?",
    "I live at {a}, ring twice.",
)
_NAME_LOCALES = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "es_AR", "nl_NL", "pl_PL", "pt_BR", "sv_SE", "da_DK", "fi_FI",
    "cs_CZ", "tr_TR", "hu_HU", "ro_RO", "en_IN", "id_ID", "vi_VN", "fil_PH", "es_MX", "no_NO", "hr_HR", "sk_SK",
    "sl_SI", "et_EE", "lt_LT", "lv_LV", "ga_IE", "yo_NG", "zu_ZA", "sw",
)  # fmt: skip
_EVERYDAY_FRAMES = (
    "My ex {n} keeps texting me.",
    "I told {n} I can't do this anymore.",
    "Can you ask {n} to call me back?",
    "{n}'s birthday is tomorrow.",
    "Had coffee with {n} and {m} today.",
    "my boss {n} is the worst",
    "i miss {n} so much",
    "Thanks {n}!",
    "Dear {n},\nI hope you are well.",
    "{n} and I broke up.",
    "Does {n} still live with you?",
    "we went to the park with {n}",
)
_FEAR_FRAMES = (
    "my husband {n} threatened to kill me",
    "{n} said he'd hurt me if I left",
    "i'm scared {n} will find me",
    "if {n} finds out he'll kill me",
    "{n} took my phone again.",
    "please don't tell {n} about this",
    "my dad {n} drinks every night and gets violent",
    "Ugh, {n} again. Why won't he leave me alone?",
    "sorry {n} i cant come",
    "text me back {n}!!",
)
_CONTACTS = (
    ("email me at john dot smith at gmail dot com", "john dot smith at gmail dot com", "EMAIL_ADDRESS"),
    ("my email is jsmith [at] yahoo [dot] com", "jsmith [at] yahoo [dot] com", "EMAIL_ADDRESS"),
    ("reach me: anna.k(at)proton.me", "anna.k(at)proton.me", "EMAIL_ADDRESS"),
    ("write to tomasz at outlook dot com", "tomasz at outlook dot com", "EMAIL_ADDRESS"),
    ("Email: j.okafor @ gmail.com", "j.okafor @ gmail.com", "EMAIL_ADDRESS"),
    ("insta: jenny.k89", "jenny.k89", "SOCIAL_HANDLE"),
    ("my snap is jkl_22", "jkl_22", "SOCIAL_HANDLE"),
    ("discord - wolfie#2231", "wolfie#2231", "SOCIAL_HANDLE"),
    ("add me, my ig handle is @bella.rose", "@bella.rose", "SOCIAL_HANDLE"),
)


def _faker(locale: str, seed: int) -> Faker:

    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def employers_work_cues() -> list[Case]:
    out = []
    for frame in _WORK_CUES:
        for org in _WORK_NAMES:
            out.append((frame.format(o=org), org, "ORGANIZATION"))
            out.append((frame.format(o=org).lower(), org.lower(), "ORGANIZATION"))
    return out


def employers_household_brands() -> list[Case]:
    orgs = list(_BRANDS)
    for k, locale in enumerate(_FIRM_LOCALES):
        fake = _faker(locale, 3 + k)
        orgs += [fake.company() for _ in range(3)]
    return [(frame.format(o=org), org, "ORGANIZATION") for org in orgs for frame in _OFFER_CUES]


def addresses(seed: int = 12345) -> list[Case]:
    rng = random.Random(seed)
    out = []
    for locale in _ADDRESS_LOCALES:
        fake = _faker(locale, rng.randint(0, 10**6))
        for k in range(24):
            if k % 6 == 0:
                value = f"{fake.street_address()}, {rng.choice(_UNITS)}, {fake.city()}"
            elif k % 6 == 1:
                value = f"{rng.choice(_BOXES)}, {fake.city()} {fake.postcode()}"
            else:
                value = fake.address()
            frame = rng.choice(_ADDRESS_FRAMES)
            if "\n" not in frame and rng.random() < 0.5:
                value = value.replace("\n", ", ")
            text = frame.format(a=value)
            if frame.startswith("we"):
                text, value = text.lower(), value.lower()
            out.append((text, value, "STREET_ADDRESS"))
    return out


def _names(frames: Iterable[str], seed: int, per_locale: int) -> list[Case]:
    rng = random.Random(seed)
    frames = list(frames)
    out = []
    for locale in _NAME_LOCALES:
        fake = _faker(locale, rng.randint(0, 10**6))
        for _ in range(per_locale):
            frame = rng.choice(frames)
            name = fake.first_name() + (" " + fake.last_name() if rng.random() < 0.6 else "")
            other = fake.first_name()
            text = frame.format(n=name, m=other)
            if frame[0].islower():
                text, name, other = text.lower(), name.lower(), other.lower()
            out.append((text, name, "PERSON"))
            if "{m}" in frame:
                out.append((text, other, "PERSON"))
    return out


def names_everyday() -> list[Case]:
    return _names(_EVERYDAY_FRAMES, 77, 12)


def names_abuse_and_fear() -> list[Case]:
    return _names(_FEAR_FRAMES, 4242, 30)


def spelled_out_contacts() -> list[Case]:
    return list(_CONTACTS)


def _score(cases: list[Case], detect: Callable[[str], Spans], type_map: dict[str, str]) -> dict[str, float]:
    from crucible.scrubber.bench import COVER, _covered  # the benchmark's own matching rule

    covered = typed = 0
    for text, value, expected in cases:
        start = text.index(value)
        end = start + len(value)
        spans = detect(text)
        types = {type_map.get(t, t) for s, e, t in spans if s < end and e > start}
        ok = _covered(start, end, [(s, e) for s, e, _ in spans], text) >= COVER
        covered += ok
        typed += ok and types == {expected}
    n = len(cases)
    return {"cases": n, "covered": round(covered / n, 4), "typed": round(typed / n, 4)}


def run() -> dict[str, object]:
    from crucible.scrubber.baselines import SPACY_MODEL, baseline_analyzer, presidio_spans
    from crucible.scrubber.detect import Detector

    detector = Detector.create()
    spacy = baseline_analyzer(SPACY_MODEL)

    def ours(text: str) -> Spans:
        return [(s.start, s.end, s.entity_type) for s in detector.detect(text)]

    def presidio(text: str) -> Spans:
        return presidio_spans(spacy, text)

    # Presidio's names for the same kinds (its spaCy model says ORG / LOCATION / PERSON).
    presidio_types = {
        "ORG": "ORGANIZATION",
        "NRP": "ORGANIZATION",
        "LOCATION": "STREET_ADDRESS",
        "URL": "SOCIAL_HANDLE",
    }
    kinds = {
        "employers_work_cues": employers_work_cues(),
        "employers_household_brands": employers_household_brands(),
        "addresses": addresses(),
        "names_everyday": names_everyday(),
        "names_abuse_and_fear": names_abuse_and_fear(),
        "spelled_out_contacts": spelled_out_contacts(),
    }
    result: dict[str, object] = {
        "rule": "a planted value is covered when >= 90 % of its letters and digits are redacted; typed when "
        "covered and every span over it has the expected type",
        "baseline": f"presidio AnalyzerEngine, default recognizers, SpacyNlpEngine({SPACY_MODEL}), same texts",
    }
    for kind, cases in kinds.items():
        mine = _score(cases, ours, {"USER": "PERSON"})
        base = _score(cases, presidio, presidio_types)
        result[kind] = {"scrubber": mine, "presidio_spacy_sm": base}
    return result


if __name__ == "__main__":
    figures = run()
    if "--json" in sys.argv:
        print(json.dumps(figures, indent=2))
    else:
        for kind, row in figures.items():
            if isinstance(row, dict):
                mine, base = row["scrubber"], row["presidio_spacy_sm"]
                print(
                    f"{kind:28} n={mine['cases']:5}  covered {mine['covered']:.3f} (presidio+spacy "
                    f"{base['covered']:.3f})  typed {mine['typed']:.3f} ({base['typed']:.3f})"
                )
