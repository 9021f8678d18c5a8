"""`crucible bench dedup`: throughput against datasketch in the same run, quality against
brute-force exact Jaccard, memory per indexed record.

- Throughput: normalisation + signatures + LSH query/insert for every record of the generated
  corpus, ours (numpy signatures + `MemoryIndex`) and datasketch (`MinHash` fed the same
  shingles, SHA-1 per shingle as its default, + `MinHashLSH` with the same threshold, num_perm
  and bands x rows). Both single-threaded; records per wall second and per CPU second of this
  process (the machine is shared, CPU seconds are the steadier figure).
- Quality, on the first 5,000 records (a fresh index): recall over records that have an
  earlier record with exact J >= 0.90; precision = flagged records whose exact J with their
  `duplicate_of` is >= 0.80. Exact J comes from a sparse matrix product over the shingle sets.
- Memory: tracemalloc of the index after indexing every record (ids included), and the same
  for datasketch's MinHashLSH with its MinHash objects dropped.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from typing import Any

import numpy as np

from crucible.dedup.banding import band_keys, candidate_probability
from crucible.dedup.core import Preparer, exact_keys
from crucible.dedup.corpus import EDIT_LEVELS, generate
from crucible.dedup.index import IndexBatch
from crucible.dedup.memory_index import MemoryIndex
from crucible.dedup.normalise import normalise_codes, normalise_text
from crucible.dedup.params import DedupParams
from crucible.dedup.signature import MinHasher, shingle_hash32, shingles

BATCH = 1024


class _Clock:
    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> _Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def _ours(ids: list[str], texts: list[str], params: DedupParams) -> tuple[dict[str, float], list[Any]]:
    hasher = MinHasher(params.num_perm, params.seed)
    index = MemoryIndex(params)
    parts = {k: _Clock() for k in ("normalise", "signature", "bands", "index")}
    total = _Clock()
    decisions: list[Any] = []
    with total:
        for lo in range(0, len(texts), BATCH):
            with parts["normalise"]:
                codes, lengths = normalise_codes(texts[lo : lo + BATCH])
                keys = exact_keys(codes, lengths)
            with parts["signature"]:
                sigs = hasher.signatures_from_codes(codes, lengths)
            with parts["bands"]:
                bkeys = band_keys(sigs, params.bands, params.rows)
            with parts["index"]:
                decisions.extend(index.assign(IndexBatch(ids[lo : lo + BATCH], keys, sigs, bkeys)))
    n = len(texts)
    return {
        "records_per_s": n / total.wall,
        "records_per_cpu_s": n / total.cpu,
        "breakdown_cpu_us_per_record": {k: round(c.cpu / n * 1e6, 2) for k, c in parts.items()},
    }, decisions


def _datasketch(ids: list[str], texts: list[str], params: DedupParams) -> tuple[dict[str, float], Any]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm, params=(params.bands, params.rows))
    clock = _Clock()
    flagged = 0
    with clock:
        for rid, text in zip(ids, texts, strict=True):
            m = MinHash(num_perm=params.num_perm, seed=params.seed)
            m.update_batch([s.encode("utf-8") for s in shingles(normalise_text(text))])
            if lsh.query(m):
                flagged += 1
            lsh.insert(rid, m)
    n = len(texts)
    return {"records_per_s": n / clock.wall, "records_per_cpu_s": n / clock.cpu, "records": n}, lsh


def _exact_jaccard(texts: list[str]) -> np.ndarray:
    """Dense (n, n) exact Jaccard of the normalised texts' 5-gram sets."""
    from scipy import sparse

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, t in enumerate(texts):
        for s in set(shingles(normalise_text(t))):
            rows.append(i)
            cols.append(vocab.setdefault(s, len(vocab)))
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), len(vocab)))
    inter = (x @ x.T).toarray()
    size = np.asarray(x.sum(axis=1)).ravel()
    union = size[:, None] + size[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / union, 1.0)
    return jac


def _quality(ids: list[str], texts: list[str], params: DedupParams, planted_edits: dict[int, int]) -> dict[str, Any]:
    prep = Preparer(params)
    index = MemoryIndex(params)
    decisions = []
    for lo in range(0, len(texts), BATCH):
        decisions.extend(index.assign(prep.prepare(ids[lo : lo + BATCH], texts[lo : lo + BATCH])))
    jac = _exact_jaccard(texts)
    pos = {rid: i for i, rid in enumerate(ids)}
    earlier_max = np.array([jac[i, :i].max() if i else 0.0 for i in range(len(texts))])
    should = earlier_max >= 0.90
    flagged = np.array([bool(d.duplicate_of) for d in decisions])
    true_flags = np.array(
        [bool(d.duplicate_of) and jac[i, pos[d.duplicate_of]] >= 0.80 for i, d in enumerate(decisions)]
    )
    by_edits: dict[str, Any] = {}
    for k in EDIT_LEVELS:
        members = [i for i, e in planted_edits.items() if e == k and i < len(texts)]
        if members:
            by_edits[str(k)] = {
                "records": len(members),
                "flagged": round(float(flagged[members].mean()), 4),
                "mean_exact_jaccard_with_source": round(float(np.mean([earlier_max[i] for i in members])), 4),
            }
    return {
        "sample": len(texts),
        "recall": round(float(flagged[should].mean()), 4) if should.any() else None,
        "recall_denominator": int(should.sum()),
        "precision": round(float(true_flags[flagged].mean()), 4) if flagged.any() else None,
        "flagged": int(flagged.sum()),
        "records_with_earlier_j_ge_threshold": int((earlier_max >= params.threshold).sum()),
        "by_planted_edits": by_edits,
    }


def _memory(ids: list[str], texts: list[str], params: DedupParams) -> dict[str, Any]:
    prep = Preparer(params)
    batches = [prep.prepare(ids[lo : lo + BATCH], texts[lo : lo + BATCH]) for lo in range(0, len(texts), BATCH)]
    id_bytes = sum(sys.getsizeof(i) for i in ids)  # the ids exist before tracing; the index holds them
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    index = MemoryIndex(params)
    for b in batches:
        index.assign(b)
    gc.collect()
    ours = tracemalloc.get_traced_memory()[0] - base + id_bytes
    tracemalloc.stop()
    del index

    from datasketch import MinHash, MinHashLSH

    hasher = MinHasher(params.num_perm, params.seed)
    minhashes = []
    for b in batches:
        for rid, sig in zip(b.record_ids, b.signatures, strict=True):
            minhashes.append(
                (rid, MinHash(num_perm=params.num_perm, seed=params.seed, hashvalues=sig, scheme="affine32"))
            )
    del hasher
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm, params=(params.bands, params.rows))
    for rid, m in minhashes:
        lsh.insert(rid, m)
    gc.collect()
    theirs = tracemalloc.get_traced_memory()[0] - base + id_bytes
    tracemalloc.stop()
    return {
        "bytes_per_indexed_record": round(ours / len(ids), 1),
        "datasketch_lsh_bytes_per_indexed_record": round(theirs / len(ids), 1),
        "note": "ours keeps the signature (for confirmation) and decisions; datasketch's LSH keeps band keys only",
    }


def _oracle(texts: list[str], params: DedupParams) -> dict[str, Any]:
    from datasketch import MinHash

    hasher = MinHasher(params.num_perm, params.seed)
    norm = [normalise_text(t) for t in texts]
    sigs = hasher.signatures(norm)
    equal = 0
    for t, s in zip(norm, sigs, strict=True):
        m = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=shingle_hash32, scheme="affine32")
        m.update_batch(shingles(t))
        equal += bool((m.hashvalues == s).all())
    return {"records": len(texts), "signatures_equal_to_datasketch": equal}


def run_bench(quick: bool = False) -> dict[str, Any]:
    """Dedup throughput vs datasketch (same run), recall/precision vs exact Jaccard, memory."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import datasketch  # noqa: F401
        import scipy  # noqa: F401
    except ImportError as err:
        raise RuntimeError(
            f"the dedup bench compares against datasketch: pip install 'crucible-dedup[reference]' ({err})"
        ) from None
    params = DedupParams.for_threshold()
    n = 3000 if quick else 20000
    sample = 1000 if quick else 5000
    texts, planted = generate(n)
    ids = [f"rec-{i:07d}" for i in range(n)]
    planted_edits = {p.index: p.edits for p in planted}

    # Warm-up, untimed: the punctuation table, the permutations, and numba compiling (or loading
    # from its disk cache) the normalise, signature and key-table loops.
    MemoryIndex(params).assign(Preparer(params).prepare(ids[:8], texts[:8]))
    ours, _ = _ours(ids, texts, params)
    n_ds = 2000 if quick else n
    theirs, _ = _datasketch(ids[:n_ds], texts[:n_ds], params)
    quality = _quality(ids[:sample], texts[:sample], params, planted_edits)
    memory = _memory(ids, texts, params)
    oracle = _oracle(texts[:200], params)
    speedup_cpu = ours["records_per_cpu_s"] / theirs["records_per_cpu_s"]
    speedup_wall = ours["records_per_s"] / theirs["records_per_s"]
    return {
        "corpus": {
            "records": n,
            "mean_chars": round(sum(map(len, texts)) / n, 1),
            "planted_duplicates": len(planted),
            "edit_levels": list(EDIT_LEVELS),
        },
        "params": {
            "threshold": params.threshold,
            "num_perm": params.num_perm,
            "bands": params.bands,
            "rows": params.rows,
            "candidate_probability_at": {
                str(s): round(candidate_probability(s, params.bands, params.rows), 4)
                for s in (0.5, 0.7, 0.8, 0.85, 0.9, 0.95)
            },
        },
        "throughput": {
            "crucible": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in ours.items()},
            "datasketch": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in theirs.items()},
            "speedup_cpu": round(speedup_cpu, 2),
            "speedup_wall": round(speedup_wall, 2),
        },
        "quality": quality,
        "memory": memory,
        "oracle": oracle,
        "targets": {
            "speedup_ge_10x": speedup_cpu >= 10,
            "records_per_cpu_s_ge_20000": ours["records_per_cpu_s"] >= 20000,
            "recall_ge_0.95": (quality["recall"] or 0) >= 0.95,
            "precision_ge_0.95": (quality["precision"] or 0) >= 0.95,
        },
        "quick": quick,
        # The machine is shared: its load during the run says how far the absolute figures
        # (not the same-run ratios) are from a quiet core.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
