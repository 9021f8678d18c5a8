"""MinHash signatures of character 5-gram sets, for a whole batch in one compiled loop.

The scheme is datasketch's "affine32" bit for bit, so datasketch is the oracle in the tests:
each 5-gram is hashed to 32 bits (`shingle_hash32`), pre-mixed with the MurmurHash3
finalizer, then permuted by `a_k * h + b_k mod 2^32` (odd `a_k`, drawn exactly as
datasketch draws them from `seed`), and the signature is the minimum per permutation.
`datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash32, scheme="affine32")` updated
with `shingles(text)` has the same `hashvalues` as `signatures([text])[0]`.

What makes it fast: one compiled loop (numba) over the concatenated code points of the batch
hashes each 5-gram and folds it into the running minimum of every permutation, so nothing of
size `num_perm x shingles` is ever materialised (in numpy that was three memory-bound passes,
~15 us of a record's ~30 us).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from crucible.dedup.compiled import compiled
from crucible.dedup.normalise import encode_codes

SHINGLE = 5  # the definition: character 5-grams
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's "no value" for an empty set
_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the 5-gram polynomial
# Typed constants for the compiled kernel (a plain int would turn uint64 arithmetic into float).
_ZERO64, _ONE64, _HALF, _MASK32 = np.uint64(0), np.uint64(1), np.uint64(32), np.uint64(0xFFFFFFFF)
_SH16, _SH13 = np.uint64(16), np.uint64(13)
_FMIX1, _FMIX2 = np.uint64(0x85EBCA6B), np.uint64(0xC2B2AE35)


def shingles(text: str) -> list[str]:
    """The character 5-grams of a normalised text; a shorter non-empty text is one shingle."""
    if not text:
        return []
    if len(text) < SHINGLE:
        return [text]
    return [text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)]


def shingle_hash32(shingle: str | bytes) -> int:
    """The reference (pure Python) hash of one shingle; `signatures` computes the same, compiled.

    Code points are shifted by one so that the zero padding of a short shingle never equals
    a real character."""
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    codes = [ord(ch) + 1 for ch in shingle] + [0] * (SHINGLE - len(shingle))
    h = 0
    for c in codes:
        h = (h * 0x9E3779B97F4A7C15 + c) % (1 << 64)
    return (h ^ (h >> 32)) & 0xFFFFFFFF


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters for (num_perm, seed): odd `a`, any `b`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _minhash_rows(codes: np.ndarray, lengths: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Fill `out[r]` with the MinHash of record r's 5-grams (`out` starts at EMPTY).

    Plain Python, run through `compiled` (numba): per shingle, the polynomial hash of
    `shingle_hash32`, the MurmurHash3 finalizer, then the running minimum of all permutations.
    Fused like this the permuted values never leave registers; as numpy passes they were
    `num_perm x shingles` uint32 temporaries written and read three times. numba widens
    arithmetic to 64 bits, so every 32-bit result is truncated explicitly."""
    pos = 0
    for r in range(lengths.size):
        n = lengths[r]
        row = out[r]
        for i in range(max(n - (SHINGLE - 1), 1) if n > 0 else 0):
            h = _ZERO64
            for j in range(SHINGLE):
                # A shorter text is one shingle, zero-padded (real code points are shifted by one).
                c = np.uint64(codes[pos + i + j]) + _ONE64 if i + j < n else _ZERO64
                h = h * _P + c
            x = (h ^ (h >> _HALF)) & _MASK32
            x ^= x >> _SH16
            x = (x * _FMIX1) & _MASK32
            x ^= x >> _SH13
            x = (x * _FMIX2) & _MASK32
            x ^= x >> _SH16
            for k in range(a.size):
                row[k] = min(row[k], np.uint32(a[k] * x + b[k]))
        pos += n


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
        out = np.full((len(lengths), self.num_perm), EMPTY, dtype=np.uint32)
        compiled(_minhash_rows)(
            np.ascontiguousarray(codes, dtype=np.uint32),
            np.ascontiguousarray(lengths, dtype=np.int64),
            self.a,
            self.b,
            out,
        )
        return out
