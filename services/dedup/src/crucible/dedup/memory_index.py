"""The in-memory dedup index (the default). Pure: plain data structures, no I/O.

It survives a restart through snapshots the shell writes to the artifact store:
`take_journal()` returns what was indexed since the last call as one self-contained segment
(`to_segment_bytes`), and `load_segment` replays segments in order at start-up.
"""

from __future__ import annotations

import io
import json

import numpy as np

from crucible.dedup.index import Decision, IndexBatch, best_candidate
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
        self._exact: dict[int, int] = {}
        self._bands: dict[int, int] = {}
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

    def decision_for(self, record_id: str) -> Decision | None:
        pos = self._pos.get(record_id)
        return None if pos is None else self.decision(pos)

    def assign(self, batch: IndexBatch) -> list[Decision]:
        # New records get consecutive positions and their signatures are stored up front, so a
        # record can match an earlier one of the same batch; the per-record loop is plain Python
        # over dicts and lists (numpy only to compare a signature with its few candidates).
        ids, pos_of = self.ids, self._pos
        base = len(ids)
        new_rows: list[int] = []
        for i, record_id in enumerate(batch.record_ids):
            if record_id not in pos_of:
                pos_of[record_id] = base + len(new_rows)
                ids.append(record_id)
                new_rows.append(i)
        if new_rows:
            self._sigs.extend(batch.signatures[new_rows])
            self._xkeys.extend(batch.exact_keys[new_rows])
            self._bkeys.extend(batch.band_keys[new_rows])
        sigs = self._sigs.data
        exact_keys = batch.exact_keys.tolist()
        all_band_keys = batch.band_keys.tolist()
        exact_index, bands = self._exact, self._bands
        min_matches, num_perm = self._min_matches, self.params.num_perm
        clusters: list[int] = []
        dups: list[int] = []
        sims: list[float] = []
        flags: list[bool] = []
        out: list[Decision] = []
        for i, record_id in enumerate(batch.record_ids):
            pos = pos_of[record_id]
            if pos < base or (pos - base < len(new_rows) and new_rows[pos - base] != i):
                out.append(self._stored_decision(pos, base, clusters, dups, sims, flags))
                continue
            key = exact_keys[i]
            dup = exact_index.get(key, -1)
            sim, exact = 1.0, dup >= 0
            if not exact:
                exact_index[key] = pos
                # One pass claims the free band keys and collects the holders of the others.
                candidates = None
                for k in all_band_keys[i]:
                    holder = bands.setdefault(k, pos)
                    if holder == pos:
                        continue
                    if candidates is None:
                        candidates = {holder}
                    else:
                        candidates.add(holder)
                if candidates:
                    order = sorted(candidates)
                    matches = (sigs[order] == sigs[pos]).sum(axis=1).tolist()
                    best = best_candidate(matches, order, min_matches)
                    if best is not None:
                        dup, sim = order[best], matches[best] / num_perm
            if dup < 0:
                cluster = pos
            elif dup < base:
                cluster = int(self._cluster.data[dup])
            else:
                cluster = clusters[dup - base]
            clusters.append(cluster)
            dups.append(dup)
            sims.append(sim)
            flags.append(exact)
            out.append(Decision(ids[cluster], "" if dup < 0 else ids[dup], sim, exact))
        self._cluster.extend(np.array(clusters, dtype=np.int64))
        self._dup.extend(np.array(dups, dtype=np.int64))
        self._sim.extend(np.array(sims, dtype=np.float32))
        self._exact_flag.extend(np.array(flags, dtype=np.bool_))
        return out

    def _stored_decision(
        self, pos: int, base: int, clusters: list[int], dups: list[int], sims: list[float], flags: list[bool]
    ) -> Decision:
        """A record id seen before (earlier batch, or earlier in this batch)."""
        if pos < base:
            return self.decision(pos)
        k = pos - base
        dup = dups[k]
        return Decision(self.ids[clusters[k]], "" if dup < 0 else self.ids[dup], sims[k], flags[k])

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
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=np.array(json.dumps({"layout": self.params.layout(), "start": start, "end": end})),
            ids=np.array(self.ids[start:end], dtype=str),
            sigs=self._sigs.view()[start:end],
            xkeys=self._xkeys.view()[start:end],
            bkeys=self._bkeys.view()[start:end],
            cluster=self._cluster.view()[start:end],
            dup=self._dup.view()[start:end],
            sim=self._sim.view()[start:end],
            exact_flag=self._exact_flag.view()[start:end],
        )
        return buf.getvalue()

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
        exact_index, bands = self._exact, self._bands
        flags = self._exact_flag.view()[have:end].tolist()
        xkeys = self._xkeys.view()[have:end].tolist()
        bkeys = self._bkeys.view()[have:end].tolist()
        for offset in range(end - have):
            if flags[offset]:
                continue
            pos = have + offset
            exact_index.setdefault(xkeys[offset], pos)
            for k in bkeys[offset]:
                bands.setdefault(k, pos)
        self._journal_start = len(self.ids)
        return end - have
