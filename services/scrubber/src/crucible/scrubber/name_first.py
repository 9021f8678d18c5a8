"""Names that English uses above all as names ("john", "sarah", "smith"), derived from spaCy's
tagger once and kept as data.

wordfreq counts words in lower case, so a name people use often ("john": Zipf 5.4, "sarah": 4.5)
looks as frequent as an everyday word ("will": 6.5, "grace": 4.6). The rules for messages typed
without capitals read a high frequency as "an everyday word", so they refused the commonest names
of all: "i miss sarah so much" and "we went to the park with mary dörschner" kept them.

Which frequent listed names are names above all is what a tagger trained on cased text knows:
spaCy's `en_core_web_sm` reads a word through its lower-cased form too, so in neutral lower-case
frames ("i saw john yesterday") it still tags the name a proper noun and a PERSON, while "will",
"mark", "rose", "grace" and "hope" come out as verbs and nouns. A listed name is *name-first* when
at least 3 of the 4 frames tag it PROPN and at least 2 mark it a PERSON entity, and no frame reads
it as a date ("june") or a place ("york"); surname particles ("van") never are.

spaCy is a bench dependency, not the scrubber's at run time: `crucible scrubber derive-name-words`
writes the list to `data/name_first_words.txt`, and a test derives it again and compares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

# Found through the package, not beside this module: compiled (native.py), the module lies in _native/
NAME_FIRST_FILE = Path(str(files("crucible.scrubber") / "data" / "name_first_words.txt"))
# Listed names at least this frequent are the ones the lower-case rules refuse as everyday words;
# rarer ones need no list.
CANDIDATE_MIN_ZIPF = 4.3
FRAMES = (
    "i saw {w} yesterday",
    "{w} said it was fine",
    "i miss {w} so much",
    "we went with {w} and his wife",
)
_MIN_PROPN = 3
_MIN_PERSON = 2
_REFUSED_ENTITIES = frozenset({"DATE", "TIME", "GPE", "LOC", "NORP", "FAC"})
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "du", "la", "le", "del", "dos", "ter", "ten"})


def is_name_first(tags: Iterable[tuple[str, str]]) -> bool:
    """`tags`: (part of speech, entity type or "") of the word in each frame."""
    tags = list(tags)
    if any(ent in _REFUSED_ENTITIES for _, ent in tags):
        return False
    proper = sum(pos == "PROPN" for pos, _ in tags)
    return proper >= _MIN_PROPN and sum(ent == "PERSON" for _, ent in tags) >= _MIN_PERSON


def derive(candidates: Iterable[str], model: str) -> list[str]:
    """Tag every candidate in every frame with spaCy `model`; the name-first ones, sorted."""
    import spacy

    nlp = spacy.load(model, exclude=["parser", "lemmatizer"])
    words = sorted({w for w in candidates if w.isalpha() and w.islower() and w not in _PARTICLES})
    texts = [(w, frame.format(w=w)) for w in words for frame in FRAMES]
    tags: dict[str, list[tuple[str, str]]] = {w: [] for w in words}
    for (w, _), doc in zip(texts, nlp.pipe(t for _, t in texts), strict=True):
        tok = next((t for t in doc if t.text == w), None)
        tags[w].append(("", "") if tok is None else (tok.pos_, tok.ent_type_))
    return [w for w in words if is_name_first(tags[w])]


def candidates_from(
    first_names: Iterable[str], last_names: Iterable[str], frequency: Callable[[str], float]
) -> list[str]:
    """The listed names frequent enough to be refused as everyday words."""
    return sorted({w for w in (*first_names, *last_names) if frequency(w) >= CANDIDATE_MIN_ZIPF})


@lru_cache(maxsize=1)
def name_first_words() -> frozenset[str]:
    """The stored list (one word a line, "#" lines are comments); empty if the file is missing."""
    if not NAME_FIRST_FILE.exists():
        return frozenset()
    lines = NAME_FIRST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def write(words: Iterable[str], path: Path = NAME_FIRST_FILE) -> None:
    header = (
        "# Listed names that English uses above all as names, one a line (`crucible scrubber derive-name-words`;\n"
        "# see name_first.py). Derived from Faker's name lists, wordfreq and spaCy's en_core_web_sm; no benchmark.\n"
    )
    path.write_text(header + "".join(f"{w}\n" for w in words), encoding="utf-8")
