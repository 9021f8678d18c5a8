"""Organisations and workplaces: the cues that introduce them and the words that end their names.

People name an employer, a school, a clinic, a church or a club in many more ways than "I work at":
a promotion, a shift, an interview, an offer, a class, an appointment, a membership. So a
capitalised run is an organisation when the words just before it hold such a cue (employment,
study, care or membership, as a verb or a noun) and end in a preposition ("... a cashier at",
"interview with", "admitted to"), or when its last word is a designator ("Elementary", "Credit
Union", "Hospital", "Insurance", "LLC"). A designator keeps the whole run together: "Riverside
Medical Center" is one organisation, never "Riverside" left in the text and "Medical Center"
read as a person.

About 560 lines, most of them the cue, designator and trade-word lists and the patterns compiled from them:
data kept beside the few functions that read it (`cue_before` and the designator tests).
"""

from __future__ import annotations

import re
from functools import lru_cache

import regex

from crucible.scrubber.lexicon import ORG_SUFFIXES

# Last words of organisation names (lower-cased), on top of the legal forms in ORG_SUFFIXES.
DESIGNATORS = ORG_SUFFIXES | frozenset(
    [
        "elementary",
        "school",
        "academy",
        "preschool",
        "kindergarten",
        "daycare",
        "montessori",
        "seminary",
        "credit",
        "insurance",
        "assurance",
        "mutual",
        "federal",
        "trust",
        "church",
        "chapel",
        "cathedral",
        "parish",
        "mosque",
        "synagogue",
        "temple",
        "ministries",
        "fellowship",
        "tabernacle",
        "congregation",
        "club",
        "association",
        "society",
        "league",
        "council",
        "federation",
        "chamber",
        "guild",
        "lodge",
        "legion",
        "center",
        "centre",
        "medical",
        "health",
        "healthcare",
        "hospitals",
        "hospice",
        "pharmacy",
        "dental",
        "dentistry",
        "orthodontics",
        "pediatrics",
        "physiotherapy",
        "rehab",
        "infirmary",
        "realty",
        "construction",
        "builders",
        "contractors",
        "plumbing",
        "roofing",
        "landscaping",
        "motors",
        "automotive",
        "auto",
        "electric",
        "energy",
        "utilities",
        "foods",
        "farms",
        "bakery",
        "cafe",
        "café",
        "restaurant",
        "diner",
        "grill",
        "bistro",
        "pizzeria",
        "brewery",
        "brewing",
        "distillery",
        "winery",
        "market",
        "supermarket",
        "grocery",
        "grocers",
        "mart",
        "stores",
        "outlet",
        "airlines",
        "airways",
        "transit",
        "transport",
        "trucking",
        "freight",
        "shipping",
        "express",
        "couriers",
        "pharmaceuticals",
        "telecom",
        "communications",
        "wireless",
        "manufacturing",
        "hotel",
        "hotels",
        "inn",
        "resort",
        "casino",
        "salon",
        "spa",
        "fitness",
        "gym",
        "library",
        "museum",
        "theatre",
        "theater",
        "publishing",
        "press",
        "productions",
        "entertainment",
        "records",
        "firm",
        "law",
        "attorneys",
        "lawyers",
        "accounting",
        "cpas",
        "department",
        "ministry",
        "bureau",
        "agency",
        "authority",
        "commission",
        "charity",
        "charities",
        "foundation",
        "fund",
        "co-op",
        "cooperative",
    ]
)
# The trade a firm names itself after, last ("Harbor Point Lending", "Northgate Analytics", "Atlas
# Van Lines"). Everyday phrases end in them too ("Mortgage Payments", "Civil Engineering"), so they
# end a name only after two words or after one that is not an everyday word (names.py).
TRADE_TAILS = frozenset(
    [
        "care",
        "service",
        "security",
        "finance",
        "financial",
        "lending",
        "loans",
        "mortgage",
        "payments",
        "bancorp",
        "investments",
        "advisors",
        "advisory",
        "properties",
        "analytics",
        "insights",
        "network",
        "consultants",
        "lines",
        "movers",
        "staffing",
        "securities",
        "ratings",
        "schools",
        "tutoring",
        "brands",
        "apparel",
        "outfitters",
        "supply",
        "supplies",
        "electronics",
        "therapeutics",
        "diagnostics",
        "biotech",
        "engineering",
        "architects",
        "cleaning",
        "catering",
        "tribune",
        "herald",
        "gazette",
    ]
)

# Heads that take "of" + a place or name ("University of Oregon", "Bank of America").
OF_HEADS = (
    "University|College|Bank|Church|Institute|Hospital|School|Academy|Department|Society|Association|Museum|"
    "Bureau|Ministry|Council|Board|Federation|Union|League|Chamber|Cathedral|Basilica|Diocese|Archdiocese|"
    "Sisters|Knights|Daughters|Friends|Boys|Girls|Bank|Office|Division|City|County|State|Town|Village"
)
_CAPWORD = r"\p{Lu}[\p{L}\p{M}'’&-]*"
OF_ORG = regex.compile(rf"(?<![\p{{L}}\p{{M}}])(?:{_CAPWORD} )*(?:{OF_HEADS}) of (?:the )?{_CAPWORD}(?: {_CAPWORD})*")
# A plain search for the head is far cheaper than OF_ORG's scan from every capital. No "\b" in
# front: a pattern that opens with an assertion is tried at every position, one that opens with
# literal words skips to their first letters in C (measured: 4.9 -> 0.9 us a text holding " of ").
# A gate only needs to pass wherever OF_ORG can match, and OF_ORG tests what stands before.
_OF_GATE = re.compile(rf"(?:{OF_HEADS}) of ")
# "City of", "State of", "County of" only count after an employment cue ("I work for the City of Austin").
_PLACE_HEADS = frozenset({"City", "County", "State", "Town", "Village", "Office", "Division", "Board"})

_EMPLOY = (
    r"work|works|worked|working|job|jobs|shift|shifts|promot\w*|interview\w*|hired|hire|employ\w*|intern\w*|"
    r"volunteer\w*|position|role|career|offer|contract|boss|manager|supervisor|colleagues?|co-?workers?|staff|"
    r"team|office|employer|company|fired|quit|laid off|let go|resign\w*|appl(?:y|ied|ying)|application|"
    r"onboarding|orientation|raise|salary|paycheck|gig|cashier|nurse|teacher|engineer|clerk|barista|"
    r"server|waiter|waitress|driver|accountant|receptionist|technician|analyst|developer|cook|chef|"
    r"secretary|janitor|custodian|stocker|associate|agent|rep|representative|director|administrator|"
    # starting, leaving and moving inside an employer ("I start at", "retired from", "transferred to")
    r"start|starts|started|starting|retir\w*|transfer\w*|relocat\w*|recruit\w*|redundan\w*|sacked|"
    r"trainee|training|apprentic\w*|placement|stint|tenure|payroll|pension|freelanc\w*|consult\w*|temping|"
    # occupations ("a mechanic at", "the pharmacist at", "a paralegal for")
    r"mechanic|pharmacist|paralegal|bartender|dishwasher|lifeguard|tutor|instructor|librarian|surgeon|"
    r"physician|dentist|architect|designer|programmer|scientist|researcher|officer|electrician|plumber|"
    r"carpenter|welder|foreman|banker|teller|broker|auditor|lawyer|attorney|pilot|nanny|caregiver|housekeeper|"
    r"dispatcher|courier|cleaner|salesman|saleswoman|employees?|workers?|worker|"
    # pay and the places a job is done ("the pay at", "overtime at", "I clean offices for")
    r"pay|wages?|overtime|offices|"
    # the work itself and the terms it is done on ("clocking in at", "waiting tables at", "stocking
    # shelves at", "I deliver for", "a temp at", "on probation at", "six years at")
    r"clock\w*|tables|shelves|stocking|restock\w*|burgers|counter|register|audit|phones|deliver\w*|"
    r"bartend\w*|tend|serving|waitressing|bussing|temp|temps|corporate|full-?time|part-?time|probation\w*|"
    r"overnights?|years|months"
)
_STUDY = (
    r"stud(?:y|ies|ied|ying|ent|ents)|enroll\w*|enrol\w*|attend\w*|graduat\w*|class(?:es)?|course\w*|degree|"
    r"semester|teach\w*|professor|lecturer|major\w*|tuition|admission\w*|accepted|school|freshman|sophomore|"
    r"alumni|alum|campus|dorm|grade|phd|masters|mba|diploma|scholarship|exams?|homework|principal|dean|"
    r"classmates?|undergrad\w*|postgrad\w*|grad|faculty|lectures?|thesis|dissertation|postdoc|fellowship|"
    r"residency|kindergarten|preschool"
)
_CARE = (
    r"patient|admitted|treated|treatment|appointment|surgery|ward|therapy|discharged|hospitali[sz]ed|"
    r"check-?up|doctors?|nurses|ER|clinic|seen|referred|prescription|scan|tests?|rehab|stay|"
    r"born|birth|delivered|physio\w*|vaccin\w*|chemo\w*|x-rays?|mri|biopsy|operation|icu|diagnos\w*|"
    r"pediatrician|paediatrician|midwife|maternity|inpatient|outpatient|consultation"
)
_MEMBER = (
    r"member\w*|joined|join|belong\w*|congregation|parish|church|club|league|donat\w*|bank|banking|"
    r"account|insured|insurance|customer|policy|loan|mortgage|pastor|priest|minister|coach|"
    r"subscri\w*|signed|gym|volunteers|parishioners?|enlisted|sorority|fraternity|savings|checking|"
    r"deposits?|overdraft|premiums?|claims?|policyholder"
)
# A company in business news or a customer's account ("the CEO of", "shares of", "a customer of").
_BUSINESS = (
    r"ceo|cfo|cto|founder|co-?founder|president|chairman|chairwoman|executive|executives|employees?|"
    r"customers?|clients?|shares?|stocks?|stake|invest\w*|acqui\w*|merg\w*|subsidiary|partnered|partnership|"
    r"owned|sponsor\w*|vendor|supplier|contractor|startup|start-up|spokes\w*|headquarters|subscription|"
    r"order|orders|delivery|refund|warranty|support|membership|loyalty|account|card"
)
_PREP = r"at|for|with|by|from|to|of|into|through"
_CUE_WORD = re.compile(rf"(?:{_EMPLOY}|{_STUDY}|{_CARE}|{_MEMBER}|{_BUSINESS}|laid)", re.IGNORECASE)
_PREPS = frozenset(_PREP.split("|"))
_CLAUSE_WORD = re.compile(r"[\w'’-]+")
# Characters that end a clause: a cue is read only after the last of them.
_CLAUSE_END_CHARS = '.!?;:\n"“”()'
# A cue word may stand at most five words before the preposition ("a cashier at", "my second
# interview at", "I just got a promotion at").
_CUE_REACH = 6
_CUE_CACHE: dict[str, bool] = {}
# "my first day at", "her last week at": a first or last day somewhere is a job's or a school's.
_DAYS = frozenset({"day", "days", "week", "weeks", "month", "shift", "year", "semester", "term"})
_FIRST_LAST = frozenset({"first", "last", "final"})


def _is_cue_word(word: str) -> bool:
    hit = _CUE_CACHE.get(word)
    if hit is None:
        if len(_CUE_CACHE) > 100_000:
            _CUE_CACHE.clear()
        hit = _CUE_CACHE[word] = _CUE_WORD.fullmatch(word) is not None
    return hit


# "in" introduces a company only after money put into it ("shares in", "invested in", "a stake in").
ORG_IN_CUE = re.compile(r"\b(?:shares?|stocks?|stake|invest\w*|equity|position)\s+in\s+(?:the\s+)?$", re.IGNORECASE)
# A cue verb whose object is the organisation itself ("I quit Walmart", "she attends Lincoln High").
ORG_OBJECT_CUE = re.compile(r"\b(?:quit|attends?|attended|attending|left)\s+(?:the\s+)?$", re.IGNORECASE)
CUE_ENDS = frozenset({"at", "for", "with", "by", "from", "to", "of", "into", "through", "the"})
OBJECT_ENDS = frozenset({"quit", "attend", "attends", "attended", "attending", "left", "the"})
# Prepositions that also introduce people ("an interview with Sarah", "my shift for Tom"): after
# these, a run that reads as a first name (and surname) stays a person.
PERSON_PREPS = frozenset({"with", "for", "by", "to", "from"})
_CUE_END_PAIRS = frozenset(w[-2:] for w in CUE_ENDS | OBJECT_ENDS | {"in"})
# Words before a designator-ended name that belong to it: "St. Luke's Hospital", "Children's".
# A number that starts a name right after a workplace preposition: "I work for 48 Factoring Inc".
_BACK = regex.compile(r"(?:(?<=\b(?:at|for|with|by|from) )\d{1,4} )?(?:(?:St|Mt|Ft)\. |\p{Lu}[\p{L}\p{M}]*['’]s )*$")


def cue_before(text: str, start: int) -> str | None:
    """The preposition (or verb) that introduces an organisation right before `start`, if the
    clause before it holds an employment, study, care or membership cue."""
    tail = text[max(0, start - 16) : start].rstrip(" ,")
    # Asked for most capitalised runs, and most words before one end in no cue word's last two
    # letters: those are turned away before the last word is cut out.
    if tail[-2:].lower() not in _CUE_END_PAIRS:
        return None
    last = tail[max(tail.rfind(" "), tail.rfind("\n")) + 1 :].lower()
    if last not in CUE_ENDS and last not in OBJECT_ENDS and last != "in":
        return None
    window = text[max(0, start - 80) : start]
    if last in CUE_ENDS:
        # where the clause starts: after the last clause-ending character (one rfind per character
        # is cheaper than collecting every match of a character-class pattern)
        cut = max([window.rfind(c) for c in _CLAUSE_END_CHARS]) + 1
        words = _CLAUSE_WORD.findall(window[cut:].lower())
        if words and words[-1] == "the":
            words.pop()
        if len(words) >= 2 and words[-1] in _PREPS:
            prep = words[-1]
            for k in range(len(words) - 2, max(-1, len(words) - 2 - _CUE_REACH), -1):
                if _is_cue_word(words[k]) or (words[k] in _DAYS and k > 0 and words[k - 1] in _FIRST_LAST):
                    strong = prep in PERSON_PREPS and any(w in STRONG_WORDS for w in words[k:])
                    return "strong" if strong else prep
    if last == "in" and ORG_IN_CUE.search(window):
        return "in"
    if last in OBJECT_ENDS and ORG_OBJECT_CUE.search(window):
        return "object"
    return None


# Designators that name an organisation only with the word before them ("European Union" is
# not an employer; "Credit Union" is).
_PAIRED = {"union": frozenset({"credit", "federal", "workers", "teachers", "students", "student"})}


# Both halves of a coined brand name are everyday words ("Hellowallet", "Opencounter").
_BRAND_PART_ZIPF = 3.5


@lru_cache(maxsize=65536)
def _coined(low: str, zipf_id: int) -> bool:
    zipf = _ZIPF[zipf_id]
    return any(
        zipf.get(low[:k], 0.0) >= _BRAND_PART_ZIPF and zipf.get(low[k:], 0.0) >= _BRAND_PART_ZIPF
        for k in range(3, len(low) - 2)
    )


_ZIPF: dict[int, dict[str, float]] = {}


def is_coined_brand(word: str, zipf: dict[str, float]) -> bool:
    """A single unknown word made of two everyday English words reads as a brand, not a surname."""
    low = word.lower()
    if not low.isalpha() or len(low) < 8:
        return False
    _ZIPF.setdefault(id(zipf), zipf)
    return _coined(low, id(zipf))


def has_designator(word: str, before: str = "") -> bool:
    low = word.lower()
    if low in _PAIRED:
        return before.lower() in _PAIRED[low]
    return low.rstrip(".") in DESIGNATORS or low in DESIGNATORS


# After the name: employment nouns that make it an employer ("her Uber resignation letter", "my
# Walmart shift", "the Avalara office").
WORKPLACE_AFTER = re.compile(
    r" (?:office|offices|headquarters|hq|branch|store|factory|warehouse|plant|staff|employees|resignation|"
    r"layoffs?|shift|shifts|job|internship|interview|badge|uniform|paycheck|payroll|hr|ceo|cfo|founders?|"
    r"co-?founders?|coworkers|colleagues|recruiter|hiring|onboarding|stock|shares|share price|announced|"
    r"reported|spokesperson|spokesman|spokeswoman|executives|customer service|customers|subscription|"
    r"app|website|account|loyalty card|headquarters)\b",
    re.IGNORECASE,
)
# After a possessive, the employer's own departments and people ("Certara's HR department", "Bright
# Horizons's night shift", "Acme's recruiter"). A person has staff and an office ("Dr. Kay's
# staff"), not these; a run that reads as a person or follows a person cue stays a person.
POSSESSIVE_WORKPLACE = re.compile(
    r"['’]s (?:(?:night|day|morning|evening|late|early|weekend|corporate|regional|main|head) )?(?:hr|human "
    r"resources|payroll|recruiters?|recruiting|hiring|layoffs?|workforce|warehouse|factory|"
    r"plant|headquarters|hq|head office|corporate office|shifts?|break ?room|customer service|management|"
    r"ceo|cfo|founders?|co-?founders?|stock|shares|share price)\b",
    re.IGNORECASE,
)
# An occupation after the name: "a Walmart cashier", "Google engineers", "the Allianz songwriter".
OCCUPATION_AFTER = re.compile(
    r" (?:engineers?|developers?|designers?|programmers?|scientists?|researchers?|analysts?|consultants?|"
    r"accountants?|lawyers?|attorneys?|nurses?|cashiers?|drivers?|pilots?|mechanics?|technicians?|managers?|"
    r"directors?|interns?|contractors?|workers?|staffers?|reporters?|journalists?|editors?|writers?|"
    r"songwriters?|salespeople|salesperson|representatives?|officials?|teachers?|professors?|baristas?|"
    r"clerks?|receptionists?|executives?)\b",
    re.IGNORECASE,
)
# News-style mentions: an organisation as the subject of a reporting verb ("General Electric said",
# "IBM announced") or the owner of a business noun ("Acme's CEO", "Contoso's shares"). Used for
# runs that the name lists cannot call a name (everyday words, acronyms); a run that reads as a
# person stays a person ("Anna said").
NEWS_AFTER = re.compile(
    r" (?:said|says|announced|announces|reported|reports|confirmed|confirms|denied|denies|disclosed|stated|"
    r"declined to comment|told reporters|unveiled|launched|warned)\b"
    r"|['’]s (?:ceo|cfo|cto|chief executive|founders?|co-?founders?|shares|stock|share price|headquarters|hq|"
    r"spokes(?:person|man|woman)|board|chairman|chairwoman|president|employees|staff|customers|quarterly|"
    r"annual report|earnings|revenue|profits?)\b",
    re.IGNORECASE,
)
# Dotted acronyms ("U.N.", "N.A.S.A."); the capital-word scanner sees them as single initials.
DOTTED_ACRONYM = re.compile(r"(?<![\w.])(?:[A-Z]\.){2,4}(?![\w])")
_DOTTED_GATE = re.compile(r"[A-Z]\.[A-Z]\.")
# Dotted abbreviations that name a country or a time, not an organisation.
_DOTTED_NOT_ORGS = frozenset(
    {"U.S.", "U.K.", "U.S.A.", "E.U.", "A.M.", "P.M.", "D.C.", "B.C.", "A.D.", "P.S.", "R.I.P."}
)
# All-capital words that are everyday chat, not organisations ("OK", "TV", "ASAP").
NOT_ORG_ACRONYMS = frozenset(
    {
        "OK",
        "TV",
        "ASAP",
        "FYI",
        "LOL",
        "OMG",
        "BTW",
        "AM",
        "PM",
        "ID",
        "DM",
        "PS",
        "ETA",
        "DIY",
        "IMO",
        "TBH",
        "IDK",
        "RSVP",
        "USA",
        "US",
        "UK",
        "EU",
        "CEO",
        "CFO",
        "HR",
        "IT",
        "PR",
        "GPS",
        "PDF",
        "FAQ",
        "ER",
        "ICU",
        "I",
        "A",
    }
)


def find_dotted_orgs(text: str) -> list[tuple[int, int]]:
    """ "The U.N. office", "the F.B.I. said": a dotted acronym with a workplace noun or reporting verb
    after it, or a workplace cue before it."""
    if _DOTTED_GATE.search(text) is None:
        return []
    out = []
    for m in DOTTED_ACRONYM.finditer(text):
        if m.group() in _DOTTED_NOT_ORGS:
            continue
        end = m.end()
        if (
            WORKPLACE_AFTER.match(text, end) is not None
            or NEWS_AFTER.match(text, end) is not None
            or cue_before(text, m.start()) is not None
        ):
            out.append((m.start(), end))
    return out


# A name that is the subject of a sentence about a company ("Verdafero is the brainchild of ...",
# "Acme was founded in 1999", "Acme is a startup").
SUBJECT_ORG = re.compile(
    r" (?:is|was|has been) (?:(?:the|a|an|our|my) )?(?:\w+ )?(?:brainchild|company|startup|start-up|firm|"
    r"business|employer|nonprofit|non-profit|charity|corporation|brand|manufacturer|retailer|provider|"
    r"founded|headquartered|incorporated|hiring)\b"
    r"| (?:offered|gave) me (?:a|an|the) (?:[\w-]+ ){0,2}(?:job|position|role|shift|contract|promotion|raise)\b"
    r"| (?:hired|promoted|fired|interviewed|rejected|laid off|let go of) me\b",
    re.IGNORECASE,
)
# "I've been at X for two years": a stay counted in years or months at a place is a job or a school.
TENURE_AFTER = re.compile(
    r" for (?:almost |over |nearly |about |like )?(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"several|many|a few|a couple of) (?:years?|months?)\b",
    re.IGNORECASE,
)
# Nouns after which "with" introduces an employer, not a person ("a job with Little Caesars").
STRONG_WORDS = frozenset(
    [
        "job",
        "jobs",
        "position",
        "career",
        "contract",
        "internship",
        "employment",
        "employed",
        "hired",
        "gig",
        "apprenticeship",
        "paycheck",
        "salary",
        "payslip",
        "paystub",
        "offer",
    ]
)
# People listed after a plural relation ("our 3 founders: Eklund, Michael and Hodge").
PEOPLE_LIST_CUE = re.compile(
    r"\b(?:founders|co-?founders|friends|parents|kids|children|sons|daughters|siblings|sisters|brothers|"
    r"cousins|grandparents|roommates|neighbou?rs|colleagues|coworkers|co-workers|guests|teachers|doctors)\b"
    r"[^.!?\n]{0,20}[:,]?\s*$",
    re.IGNORECASE,
)


def extend_back(text: str, start: int) -> int:
    """Move an organisation's start back over "St. " and possessive words ("St. Jude Children's")."""
    m = _BACK.search(text, max(0, start - 40), start)
    return m.start() if m is not None and m.start() < start else start


def find_of_orgs(text: str, cued_only: bool = False) -> list[tuple[int, int]]:
    """(start, end) of "University of Oregon"-shaped names; "City of X" only after a workplace cue."""
    if " of " not in text or _OF_GATE.search(text) is None:
        return []
    out = []
    for m in OF_ORG.finditer(text):
        head = m.group().split(" of ", 1)[0].split()[-1]
        if head in _PLACE_HEADS and cue_before(text, m.start()) is None:
            continue
        out.append((m.start(), m.end()))
    return out
