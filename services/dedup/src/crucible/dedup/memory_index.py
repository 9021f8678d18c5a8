"""The in-memory dedup index (the default). Pure: plain data structures, no I/O.

It survives a restart through snapshots the shell writes to the artifact store:
`take_journal()` returns what was indexed since the last call as one self-contained segment
(`to_segment_bytes`), and `load_segment` replays segments in order at start-up.
"""

from __future__ import annotations

import io
import json

import numpy as np

from crucible.dedup.index import Decision, IndexBatch
from crucible.dedup.key_table import KeyTable
from crucible.dedup.params import DedupParams


class SnapshotMismatch(ValueError):
    """A stored index was built with another signature/band layout."""


class _Grow:
    """An append-only numpy array with amortised doubling (rows of a fixed shape)."""

    def __init__(self, dtype: type, width: int | None = None) -> None:
        self.width = width
        shape = (16,) if width is None else (16, width)
        self.data = np.empty(shape, dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        if need > len(self.data):
            cap = max(need, 2 * len(self.data))
            grown = np.empty((cap, *self.data.shape[1:]), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : need] = values
        self.size = need

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class MemoryIndex:
    def __init__(self, params: DedupParams) -> None:
        self.params = params
        self._min_matches = params.min_matches
        self.ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._sigs = _Grow(np.uint32, params.num_perm)
        self._cluster = _Grow(np.int64)
        self._dup = _Grow(np.int64)  # -1: first of its cluster
        self._sim = _Grow(np.float32)
        self._exact_flag = _Grow(np.bool_)
        # Each record's exact key and band keys, so a snapshot can rebuild the claims by replay.
        self._xkeys = _Grow(np.uint64)
        self._bkeys = _Grow(np.uint64, params.bands)
        self._exact = KeyTable()
        self._bands = KeyTable()
        self._journal_start = 0

    def __len__(self) -> int:
        return len(self.ids)

    def decision(self, pos: int) -> Decision:
        dup = int(self._dup.data[pos])
        return Decision(
            cluster_id=self.ids[int(self._cluster.data[pos])],
            duplicate_of="" if dup < 0 else self.ids[dup],
            similarity=float(self._sim.data[pos]),
            exact=bool(self._exact_flag.data[pos]),
        )

    def assign(self, batch: IndexBatch) -> list[Decision]:
        """The rule of `index.py`, computed for the whole batch with array operations.

        Sequential semantics are kept exactly: a key's holder is the earlier holder in the
        table, else the first record of the batch that has it, so record j only ever sees
        records before it; candidates are confirmed all at once, and clusters are resolved by
        following `duplicate_of` (always an earlier record) until it reaches a first record."""
        ids, pos_of = self.ids, self._pos
        base = len(ids)
        new_rows: list[int] = []
        for i, record_id in enumerate(batch.record_ids):
            if record_id not in pos_of:
                pos_of[record_id] = base + len(new_rows)
                ids.append(record_id)
                new_rows.append(i)
        m = len(new_rows)
        if m:
            rows = np.asarray(new_rows, dtype=np.int64)
            self._sigs.extend(batch.signatures[rows])
            self._xkeys.extend(batch.exact_keys[rows])
            self._bkeys.extend(batch.band_keys[rows])
            self._decide(base, m)
        return self._decisions(np.fromiter((pos_of[r] for r in batch.record_ids), dtype=np.int64))

    def _decisions(self, positions: np.ndarray) -> list[Decision]:
        ids = self.ids
        clusters = self._cluster.data[positions].tolist()
        dups = self._dup.data[positions].tolist()
        sims = self._sim.data[positions].tolist()
        flags = self._exact_flag.data[positions].tolist()
        return [
            Decision(ids[c], "" if d < 0 else ids[d], s, f)
            for c, d, s, f in zip(clusters, dups, sims, flags, strict=True)
        ]

    def _decide(self, base: int, m: int) -> None:
        pos = np.arange(base, base + m, dtype=np.int64)
        dup = np.full(m, -1, dtype=np.int64)
        sim = np.ones(m, dtype=np.float32)
        # Exact duplicates: the first holder of the same normalised text.
        holder = self._exact.claim(self._xkeys.data[base : base + m], pos)
        exact = holder != pos
        dup[exact] = holder[exact]
        # Near duplicates: the holders of each record's band keys are its candidates. Exact
        # duplicates claim nothing (their band keys are their first holder's, held already).
        rest = np.flatnonzero(~exact)
        if rest.size:
            bands = self._bkeys.data[base : base + m][rest]
            owners = self._bands.claim(bands.reshape(-1), np.repeat(pos[rest], bands.shape[1])).reshape(bands.shape)
            j_idx, b_idx = np.nonzero(owners != pos[rest][:, None])
            if j_idx.size:
                cand_row = rest[j_idx]
                cand = owners[j_idx, b_idx]
                pair = np.unique(cand_row * (base + m) + cand)
                cand_row, cand = pair // (base + m), pair % (base + m)
                sigs = self._sigs.data
                matches = (sigs[cand] == sigs[base + cand_row]).sum(axis=1)
                ok = matches >= self._min_matches
                cand_row, cand, matches = cand_row[ok], cand[ok], matches[ok]
                # Per record: most matching slots, then the earliest candidate.
                order = np.lexsort((cand, -matches, cand_row))
                cand_row, cand, matches = cand_row[order], cand[order], matches[order]
                first = np.ones(cand_row.size, dtype=bool)
                first[1:] = cand_row[1:] != cand_row[:-1]
                dup[cand_row[first]] = cand[first]
                sim[cand_row[first]] = matches[first] / self.params.num_perm
        # Clusters: a first record is its own; a duplicate takes its duplicate_of's, which is
        # earlier (already stored, or earlier in this batch: resolved in a few passes).
        cluster = np.where(dup < 0, pos, -1)
        older = (dup >= 0) & (dup < base)
        cluster[older] = self._cluster.data[dup[older]]
        pending = np.flatnonzero(cluster < 0)
        while pending.size:
            took = cluster[dup[pending] - base]
            done = took >= 0
            cluster[pending[done]] = took[done]
            pending = pending[~done]
        self._cluster.extend(cluster)
        self._dup.extend(dup)
        self._sim.extend(sim)
        self._exact_flag.extend(exact)

    def without(self, removed: set[str]) -> MemoryIndex:
        """A new index holding every record but `removed` (forgotten subjects), and no reference
        to them: in a cluster that a removed record led, the earliest remaining record leads it
        now (first of its cluster) and the others whose duplicate_of was removed become its
        duplicates (similarity as estimated against the removed record, not exact); clusters
        follow duplicate_of again and the key claims are replayed. Returns `self` when none of
        `removed` is here."""
        if not any(rid in self._pos for rid in removed):
            return self
        n = len(self.ids)
        kept = np.fromiter((rid not in removed for rid in self.ids), dtype=bool, count=n)
        old = np.flatnonzero(kept)
        new_of_old = np.full(n, -1, dtype=np.int64)
        new_of_old[old] = np.arange(old.size, dtype=np.int64)
        dup = self._dup.view()[old]
        old_cluster = self._cluster.view()[old]
        new_dup = np.where(dup >= 0, new_of_old[np.maximum(dup, 0)], -1)
        sim = self._sim.view()[old].copy()
        exact = self._exact_flag.view()[old].copy()
        leaders: dict[int, int] = {}
        for i in np.flatnonzero((dup >= 0) & (new_dup < 0)).tolist():  # orphans, earliest first
            leader = leaders.setdefault(int(old_cluster[i]), i)
            exact[i] = False
            if leader == i:
                sim[i] = 1.0
            else:
                new_dup[i] = leader
        cluster = np.empty(old.size, dtype=np.int64)
        for i, d in enumerate(new_dup.tolist()):  # duplicate_of is always an earlier record
            cluster[i] = i if d < 0 else cluster[d]
        segment = _segment(
            self.params, 0, old.size, [self.ids[i] for i in old.tolist()],
            sigs=self._sigs.view()[old], xkeys=self._xkeys.view()[old], bkeys=self._bkeys.view()[old],
            cluster=cluster, dup=new_dup, sim=sim, exact_flag=exact,
        )  # fmt: skip
        fresh = MemoryIndex(self.params)
        fresh.load_segment(segment)
        return fresh

    # --- snapshots -------------------------------------------------------------------------
    # A segment holds records [start, end) with their keys and decisions. Loading replays the
    # claims in position order (first holder wins, exact duplicates claim nothing), which
    # rebuilds exactly the tables `assign` built.

    def journal(self) -> tuple[int, int, bytes] | None:
        """What was indexed since the last `mark_persisted`, as one segment (start, end, bytes).
        Nothing is forgotten until the shell confirms the write, so a failed write is retried
        with the next batch."""
        start, end = self._journal_start, len(self.ids)
        if start == end:
            return None
        return start, end, self._segment_bytes(start, end)

    def mark_persisted(self, end: int) -> None:
        if end > len(self.ids) or end < self._journal_start:
            raise ValueError(f"cannot mark {end} persisted: index holds {len(self.ids)}")
        self._journal_start = end

    def to_snapshot_bytes(self) -> bytes:
        """The whole index as one segment starting at 0 (for compaction)."""
        return self._segment_bytes(0, len(self.ids))

    def _segment_bytes(self, start: int, end: int) -> bytes:
        return _segment(
            self.params, start, end, self.ids[start:end],
            sigs=self._sigs.view()[start:end], xkeys=self._xkeys.view()[start:end],
            bkeys=self._bkeys.view()[start:end], cluster=self._cluster.view()[start:end],
            dup=self._dup.view()[start:end], sim=self._sim.view()[start:end],
            exact_flag=self._exact_flag.view()[start:end],
        )  # fmt: skip

    def load_segment(self, data: bytes) -> int:
        """Append a segment written by `journal`/`to_snapshot_bytes`. Records this index already
        holds are skipped; a gap or another layout is an error. Returns records added."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta["layout"] != self.params.layout():
                raise SnapshotMismatch(
                    f"stored dedup index has layout {meta['layout']}, this process uses {self.params.layout()}; "
                    "delete the snapshot (dedup/index/) or restore the previous num_perm/seed/bands"
                )
            start, end = int(meta["start"]), int(meta["end"])
            have = len(self.ids)
            if end <= have:
                return 0
            if start > have:
                raise ValueError(f"dedup snapshot segment {start}-{end} does not follow position {have}")
            skip = have - start  # overlap with what is already loaded (a base written mid-journal)
            ids = [str(x) for x in z["ids"][skip:]]
            self.ids.extend(ids)
            for offset, record_id in enumerate(ids):
                self._pos[record_id] = have + offset
            for name, grow in (
                ("sigs", self._sigs),
                ("xkeys", self._xkeys),
                ("bkeys", self._bkeys),
                ("cluster", self._cluster),
                ("dup", self._dup),
                ("sim", self._sim),
                ("exact_flag", self._exact_flag),
            ):
                grow.extend(z[name][skip:])
        flags = self._exact_flag.view()[have:end]
        pos = np.arange(have, end, dtype=np.int64)
        self._exact.claim(self._xkeys.view()[have:end], pos)
        firsts = ~flags
        bands = self._bkeys.view()[have:end][firsts]
        self._bands.claim(bands.reshape(-1), np.repeat(pos[firsts], bands.shape[1]))
        self._journal_start = len(self.ids)
        return end - have


def _segment(params: DedupParams, start: int, end: int, ids: list[str], **arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(
        buf,
        meta=np.array(json.dumps({"layout": params.layout(), "start": start, "end": end})),
        ids=np.array(ids, dtype=str),
        **arrays,
    )
    return buf.getvalue()
