"""Word lists behind offline person-name detection, built once per process from libraries:

- first and last names from every Faker locale whose names are in Latin script (about 21k + 21k);
- English word frequencies from `wordfreq` (Zipf scale): a capitalised word that is common in
  English is not a name by itself; one that is neither common nor a known name is an unknown
  proper noun (surnames like "Gavrilova" or "Svenningsen" that no list has).

Nothing here was built from the benchmark. About 490 lines, most of them word lists (NEVER_NAMES,
WORD_NAMES, ORG_SUFFIXES, PARTICLES) kept beside the one class that reads them.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass
from functools import lru_cache

# A word at least this frequent (Zipf) is an ordinary English word unless a name list has it.
COMMON_ZIPF = 3.0
# A listed name at least this frequent as a word ("Will", "May", "Long") needs more evidence.
AMBIGUOUS_ZIPF = 5.2

# Capitalised words that are never names on their own, whatever the lists say.
NEVER_NAMES = frozenset(
    [
        "i",
        "i'm",
        "i've",
        "i'll",
        "i'd",
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "my",
        "your",
        "his",
        "her",
        "our",
        "their",
        "its",
        "we",
        "you",
        "he",
        "she",
        "they",
        "it",
        "me",
        "him",
        "us",
        "them",
        "what",
        "who",
        "why",
        "when",
        "where",
        "how",
        "which",
        "yes",
        "no",
        "ok",
        "okay",
        "hi",
        "hello",
        "hey",
        "dear",
        "thanks",
        "thank",
        "please",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "christmas",
        "easter",
        "thanksgiving",
        "halloween",
        "valentine",
        "valentine's",
        # festivals of other calendars, named like people by the lists' standards (unknown words)
        "ramadan",
        "ramzan",
        "eid",
        "hanukkah",
        "chanukah",
        "diwali",
        "deepavali",
        "holi",
        "navratri",
        "kwanzaa",
        "passover",
        "purim",
        "sukkot",
        "shavuot",
        "kippur",
        "hashanah",
        "pentecost",
        "juneteenth",
        "hogmanay",
        "nowruz",
        "vaisakhi",
        "baisakhi",
        "songkran",
        "onam",
        "pongal",
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "prof",
        "sir",
        "madam",
        "mom",
        "mum",
        "dad",
        "god",
        "lord",
        "jesus",
        "allah",
        "ai",
        "bot",
        "coach",
        "user",
        "assistant",
        "partner",
        "name",
        "phone",
        "address",
        "email",
        "e-mail",
        "website",
        "date",
        "note",
        "personal",
        "info",
        "street",
        "st",
        "rd",
        "ave",
        "avenue",
        "road",
        "lane",
        "drive",
        "apt",
        "suite",
        "and",
        "or",
        "but",
        "if",
        "so",
        "as",
        "at",
        "in",
        "on",
        "of",
        "to",
        "for",
        "from",
        "with",
        "by",
    ]
)

# Names that are, lower-cased, mostly ordinary English words: a known name among these is
# matched only when capitalised ("Will" / "WILL", not "I will"). Kept short on purpose.
WORD_NAMES = frozenset(
    [
        "will",
        "may",
        "june",
        "april",
        "august",
        "hope",
        "faith",
        "grace",
        "joy",
        "rose",
        "bill",
        "mark",
        "pat",
        "sue",
        "frank",
        "art",
        "chase",
        "guy",
        "ray",
        "max",
        "rich",
        "don",
        "young",
        "king",
        "long",
        "white",
        "black",
        "brown",
        "green",
        "gray",
        "grey",
        "love",
        "summer",
        "dawn",
        "sky",
        "rob",
        "drew",
        "miles",
        "hunter",
        "price",
        "cook",
        "page",
        "stone",
        "hill",
        "bell",
        "wood",
        "lane",
        "dale",
        "reed",
        "glen",
        "cliff",
        "sunny",
        "honey",
        "star",
        "river",
        "storm",
        "rain",
        "autumn",
        "winter",
        "iris",
        "ivy",
        "holly",
        "amber",
        "ruby",
        "pearl",
        "crystal",
        "faith",
        "angel",
        "baby",
        "sandy",
        "rusty",
        "buck",
        "buddy",
        "bud",
        "penny",
        "hazel",
        "olive",
        "violet",
        "lily",
        "daisy",
    ]
)

ORG_SUFFIXES = frozenset(
    [
        "inc",
        "inc.",
        "incorporated",
        "llc",
        "ltd",
        "ltd.",
        "corp",
        "corp.",
        "corporation",
        "company",
        "co",
        "co.",
        "group",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "bv",
        "nv",
        "pty",
        "limited",
        "partners",
        "associates",
        "holdings",
        "industries",
        "enterprises",
        "technologies",
        "technology",
        "tech",
        "systems",
        "solutions",
        "software",
        "labs",
        "laboratories",
        "research",
        "consulting",
        "services",
        "media",
        "networks",
        "bank",
        "capital",
        "ventures",
        "foundation",
        "institute",
        "university",
        "college",
        "hospital",
        "clinic",
        "studios",
        "studio",
        "agency",
        "logistics",
    ]
)

PARTICLES = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "da",
        "di",
        "du",
        "del",
        "della",
        "la",
        "le",
        "dos",
        "das",
        "bin",
        "ibn",
        "al",
        "el",
        "st",
        "st.",
    ]
)


@dataclass(frozen=True)
class Lexicon:
    first_names: frozenset[str]  # lowercased
    last_names: frozenset[str]
    zipf: dict[str, float]  # lowercased word -> Zipf frequency, for words with Zipf >= 1
    street_suffixes: frozenset[str] = frozenset()  # "avenue", "circles", "straße", "vägen" (lowercased)
    # All of Faker's suffixes, everyday words included ("valley", "landing"): evidence only after a
    # house number and a name ("3 Woodward Valley").
    street_suffixes_all: frozenset[str] = frozenset()
    street_prefixes: frozenset[str] = frozenset()  # "rue", "calle", "jalan", "ul." (lowercased)
    company_suffixes: tuple[str, ...] = ()  # "GmbH & Co. KG", "Sp. z o.o.", "e figli", "Inc." (as written)
    company_prefixes: tuple[str, ...] = ()  # "Grupa", "Fundacja", "PT", "UD"
    countries: frozenset[str] = frozenset()  # "Cyprus", "South Africa" (Faker's English country names)

    def is_name(self, word: str) -> bool:
        w = word.lower()
        return w in self.first_names or w in self.last_names

    def frequency(self, word: str) -> float:
        return self.zipf.get(word.lower(), 0.0)


def _is_latin(name: str) -> bool:
    return all(ord(c) < 0x250 or c in "'-. ’" for c in name)


def _faker_names() -> tuple[set[str], set[str]]:
    from faker.providers import person

    first: set[str] = set()
    last: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        for attr, into in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("first_names_nonbinary", first),
            ("first_romanized_names", first),
            ("last_names", last),
            ("last_names_male", last),
            ("last_names_female", last),
            ("last_romanized_names", last),
        ):
            values = getattr(provider, attr, None)
            if isinstance(values, (list, tuple, dict, set, frozenset)):
                for v in values:
                    # Multi-word entries ("de la Cruz") contribute their capitalised parts.
                    for part in str(v).replace("-", " ").split():
                        if len(part) > 1 and _is_latin(part) and part[0].isupper():
                            into.add(part.lower())
    return first, last


def _faker_street_words() -> tuple[set[str], set[str]]:
    """Street suffixes ("Circles", "straße") and prefixes ("rue", "Alameda") of every Faker locale."""
    from faker.providers import address

    suffixes: set[str] = set()
    prefixes: set[str] = set()
    for mod in pkgutil.iter_modules(address.__path__):
        provider = importlib.import_module(f"faker.providers.address.{mod.name}").Provider
        for attr, value in vars(provider).items():
            if not isinstance(value, (list, tuple, dict, set, frozenset)) or not attr.startswith("street_"):
                continue
            into = suffixes if "suffix" in attr else prefixes if "prefix" in attr else None
            if into is None:
                continue
            for v in value:
                v = str(v).strip().lower()
                if v and _is_latin(v) and " " not in v:
                    into.add(v)
    return suffixes, prefixes


def _faker_company_words() -> tuple[set[str], set[str]]:
    """Legal-form suffixes ("GmbH", "s.r.l.", "e figli") and prefixes ("Grupa", "PT") of every Faker locale."""
    from faker.providers import company

    suffixes: set[str] = set()
    prefixes: set[str] = set()
    for mod in pkgutil.iter_modules(company.__path__):
        provider = importlib.import_module(f"faker.providers.company.{mod.name}").Provider
        for attr, value in vars(provider).items():
            if not isinstance(value, (list, tuple, dict, set, frozenset)):
                continue
            into = suffixes if "suffix" in attr else prefixes if "prefix" in attr else None
            if into is None:
                continue
            for v in value:
                v = str(v).strip()
                if len(v) >= 2 and _is_latin(v) and any(c.isalpha() for c in v):
                    into.add(v)
    # Legal forms that Faker writes into its name formats rather than its suffix lists: the
    # Slovenian sole trader ("Bruno Mihelič s.p."), the Hungarian partnership ("Balog és Társa Bt.").
    suffixes |= {"s.p.", "S.P.", "Bt.", "e.K.", "és Társa", "és társa"}
    return suffixes, prefixes


def _faker_countries() -> frozenset[str]:
    from faker.providers.address.en import Provider

    return frozenset(c for c in Provider.countries if _is_latin(c))


_STREET_EVERYDAY = frozenset(
    ["street", "road", "avenue", "lane", "drive", "court", "place", "way", "square", "boulevard", "terrace"]
)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    import wordfreq

    first, last = _faker_names()
    never = {w for w in NEVER_NAMES}
    first -= never
    last -= never
    # The raw frequency table (one dict) is much faster than zipf_frequency() per word.
    zipf = {w: math.log10(f) + 9.0 for w, f in wordfreq.get_frequency_dict("en").items() if f >= 1e-8}
    suffixes, prefixes = _faker_street_words()
    # Faker's lists hold a few everyday English words ("back", "park"): those need other evidence.
    suffixes_all = frozenset(suffixes)
    suffixes = {w for w in suffixes if zipf.get(w, 0.0) < 4.0 or w in _STREET_EVERYDAY}
    prefixes = {w for w in prefixes if zipf.get(w, 0.0) < 4.0 or w in _STREET_EVERYDAY}
    company_suffixes, company_prefixes = _faker_company_words()
    # Prefixes that are everyday words ("Club", "Royal", "Holding") would turn "Club Med" into a cue.
    company_prefixes = {p for p in company_prefixes if zipf.get(p.lower(), 0.0) < 4.0}
    return Lexicon(
        company_suffixes=tuple(sorted(company_suffixes, key=len, reverse=True)),
        company_prefixes=tuple(sorted(company_prefixes, key=len, reverse=True)),
        first_names=frozenset(first),
        last_names=frozenset(last),
        zipf=zipf,
        street_suffixes=frozenset(suffixes),
        street_suffixes_all=suffixes_all,
        street_prefixes=frozenset(prefixes),
        countries=_faker_countries(),
    )
