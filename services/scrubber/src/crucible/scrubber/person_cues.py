"""The words before a name that make it a person's: relations ("my sister", "her ex"), titles
("Dr.", "Mrs"), greetings and naming verbs ("hi", "named"). Read by the capitalised-run rules
(`names.py`) and by the lower-case ones (`lower_names.py`), which is why they live apart."""

from __future__ import annotations

import re

_RELATIONS = (
    r"sister|brother|sis|bro|mom|mum|mother|dad|father|son|daughter|husband|wife|hubby|boyfriend|girlfriend|bf|gf|"
    r"fianc[eé]e?|partner|spouse|friend|bestie|buddy|pal|boss|manager|supervisor|coworker|co-worker|colleague|"
    r"roommate|flatmate|neighbou?r|therapist|counsel+or|doctor|cousin|aunt|uncle|grandma|grandpa|grandmother|"
    r"grandfather|niece|nephew|ex|date|crush|kid|child|baby|stepson|stepdaughter|in-law|mother-in-law|"
    r"father-in-law|teacher|coach|pastor|priest|rabbi|imam|lawyer"
)
PERSON_CUE = re.compile(
    rf"(?:\b(?:my|our|his|her|their|your|the)\s+(?:(?:ex|step|best|new|old|late|former|little|big|older|younger|"
    rf"half|twin)[- ]?)?(?:{_RELATIONS})(?:,)?|\b(?:named|called|name is|name's|names are|dear|hi|hello|hey|"
    rf"mr|mrs|ms|miss|mx|dr|prof|sir|madam)\.?,?)\s+$",
    re.IGNORECASE,
)
# The last word before a run decides whether a cue regex can match at all (a set lookup is far
# cheaper than searching the window with the full pattern).
PERSON_CUE_ENDS = frozenset(
    {w for w in _RELATIONS.replace("\\", "").replace("(", "|").replace(")", "|").split("|") if w.isalpha()}
    | {"in-law", "mother-in-law", "father-in-law", "co-worker", "fiance", "fiancee", "fiancé", "fiancée"}
    | {"counselor", "counsellor", "neighbor", "neighbour"}
    | {"named", "called", "is", "name's", "are", "dear", "hi", "hello", "hey"}
    | {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"}
)
