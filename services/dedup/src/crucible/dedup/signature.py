"""MinHash signatures of character 5-gram sets, vectorised over a whole batch with numpy.

The scheme is datasketch's "affine32" bit for bit, so datasketch is the oracle in the tests:
each 5-gram is hashed to 32 bits (`shingle_hash32`), pre-mixed with the MurmurHash3
finalizer, then permuted by `a_k * h + b_k mod 2^32` (odd `a_k`, drawn exactly as
datasketch draws them from `seed`), and the signature is the minimum per permutation.
`datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash32, scheme="affine32")` updated
with `shingles(text)` has the same `hashvalues` as `signatures([text])[0]`.

What makes it fast: one pass over the concatenated code points of the batch computes every
5-gram hash at once (a polynomial over 5 shifted views), and `np.minimum.reduceat` takes the
per-record minimum of the permuted hashes, so there is no Python loop per shingle or per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from crucible.dedup.normalise import encode_codes

SHINGLE = 5  # the definition: character 5-grams
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's "no value" for an empty set
_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the 5-gram polynomial
_P_POWERS = [np.uint64(pow(0x9E3779B97F4A7C15, SHINGLE - 1 - i, 1 << 64)) for i in range(SHINGLE)]
# Permuted hashes are materialised this many shingles at a time (x num_perm x 4 bytes).
_CHUNK_SHINGLES = 16384


def shingles(text: str) -> list[str]:
    """The character 5-grams of a normalised text; a shorter non-empty text is one shingle."""
    if not text:
        return []
    if len(text) < SHINGLE:
        return [text]
    return [text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)]


def shingle_hash32(shingle: str | bytes) -> int:
    """The reference (pure Python) hash of one shingle; `signatures` computes the same vectorised.

    Code points are shifted by one so that the zero padding of a short shingle never equals
    a real character."""
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    codes = [ord(ch) + 1 for ch in shingle] + [0] * (SHINGLE - len(shingle))
    h = 0
    for c in codes:
        h = (h * 0x9E3779B97F4A7C15 + c) % (1 << 64)
    return (h ^ (h >> 32)) & 0xFFFFFFFF


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters for (num_perm, seed): odd `a`, any `b`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def shingle_hashes(codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every record's 5-gram hashes (uint32, concatenated) and the count per record, from the
    records' code points (`normalise_codes`)."""
    n = lengths.astype(np.int64)
    counts = np.where(n >= SHINGLE, n - (SHINGLE - 1), (n > 0).astype(np.int64))
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.uint32), counts
    # Code points shifted by one (0 is the padding of a short text). The polynomial runs over
    # five shifted views of the whole batch at once; a 5-gram crossing into the next record is
    # computed too but never gathered.
    shifted = np.empty(codes.size + SHINGLE - 1, dtype=np.uint64)
    shifted[: codes.size] = codes
    shifted[: codes.size] += np.uint64(1)
    shifted[codes.size :] = 0
    m = codes.size
    h = shifted[:m] * _P_POWERS[0]
    for i in range(1, SHINGLE):
        h += shifted[i : m + i] * _P_POWERS[i]
    char_first = np.zeros(len(n), dtype=np.int64)
    np.cumsum(n[:-1], out=char_first[1:])
    first = np.zeros(len(n), dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    out = h[np.repeat(char_first - first, counts) + np.arange(total)]
    short = np.flatnonzero((n > 0) & (n < SHINGLE))
    if short.size:
        # A text shorter than 5 characters is one shingle, zero-padded: recompute those.
        out[first[short]] = [_short_hash(codes[a : a + k]) for a, k in zip(char_first[short], n[short], strict=True)]
    return ((out ^ (out >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32), counts


def _short_hash(code: np.ndarray) -> int:
    h = 0
    for c in [*(int(x) + 1 for x in code), *([0] * (SHINGLE - len(code)))]:
        h = (h * 0x9E3779B97F4A7C15 + c) % (1 << 64)
    return h


@dataclass(frozen=True)
class MinHasher:
    """Signatures for one (num_perm, seed); the permutation parameters are drawn once."""

    num_perm: int = 128
    seed: int = 1
    a: np.ndarray = field(init=False, repr=False, compare=False)
    b: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        a, b = permutations(self.num_perm, self.seed)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), num_perm) uint32 MinHash signatures of already normalised texts' 5-gram sets.
        An empty text gets datasketch's empty signature (every slot 2^32-1)."""
        return self.signatures_from_codes(*encode_codes(list(texts)))

    def signatures_from_codes(self, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Signatures from the code points and lengths `normalise_codes` returns."""
        n_texts = len(lengths)
        hashes, counts = shingle_hashes(codes, lengths)
        # Permutations along the rows and shingles along the columns: numpy's inner loops
        # then run over long contiguous rows, several times faster than the (shingle,
        # permutation) layout for both the affine step and reduceat.
        out = np.full((self.num_perm, n_texts), EMPTY, dtype=np.uint32)
        if hashes.size:
            mixed = _fmix32(hashes)
            rows = np.flatnonzero(counts)
            bounds = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(counts[rows], out=bounds[1:])
            dense = len(rows) == n_texts
            a = self.a[:, None]
            b = self.b[:, None]
            buf = np.empty(self.num_perm * min(_CHUNK_SHINGLES, hashes.size), dtype=np.uint32)
            lo = 0  # index into rows
            while lo < len(rows):
                # Whole records until the chunk is full (at least one record).
                hi = max(int(np.searchsorted(bounds, bounds[lo] + _CHUNK_SHINGLES, side="right")) - 1, lo + 1)
                s, e = int(bounds[lo]), int(bounds[hi])
                if self.num_perm * (e - s) > buf.size:
                    buf = np.empty(self.num_perm * (e - s), dtype=np.uint32)
                view = buf[: self.num_perm * (e - s)].reshape(self.num_perm, e - s)
                np.multiply(a, mixed[None, s:e], out=view)
                view += b
                mins = np.minimum.reduceat(view, bounds[lo:hi] - s, axis=1)
                if dense:
                    out[:, lo:hi] = mins
                else:
                    out[:, rows[lo:hi]] = mins
                lo = hi
        return np.ascontiguousarray(out.T)
