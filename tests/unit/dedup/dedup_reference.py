"""The clustering rule of `crucible.dedup.index`, transcribed one record at a time with plain
dicts: the reference the vectorised `MemoryIndex` must equal."""

from __future__ import annotations

from crucible.dedup.index import Decision, IndexBatch
from crucible.dedup.params import DedupParams


class SequentialIndex:
    def __init__(self, params: DedupParams) -> None:
        self.params = params
        self.decisions: dict[str, Decision] = {}
        self.order: dict[str, int] = {}
        self.sigs: dict[str, object] = {}
        self.exact: dict[int, str] = {}
        self.bands: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.decisions)

    def assign(self, batch: IndexBatch) -> list[Decision]:
        out = []
        for i, rid in enumerate(batch.record_ids):
            if rid in self.decisions:
                out.append(self.decisions[rid])
                continue
            self.order[rid] = len(self.order)
            self.sigs[rid] = batch.signatures[i]
            key = int(batch.exact_keys[i])
            if key in self.exact:  # rule 2
                first = self.exact[key]
                decision = Decision(self.decisions[first].cluster_id, first, 1.0, True)
            else:
                self.exact[key] = rid
                keys = [int(k) for k in batch.band_keys[i]]
                best, best_matches = None, -1
                for cand in sorted({self.bands[k] for k in keys if k in self.bands}, key=self.order.__getitem__):
                    matches = int((self.sigs[cand] == batch.signatures[i]).sum())  # type: ignore[operator]
                    if matches >= self.params.min_matches and matches > best_matches:  # rule 3
                        best, best_matches = cand, matches
                for k in keys:  # rule 4
                    self.bands.setdefault(k, rid)
                if best is None:
                    decision = Decision(rid, "", 1.0, False)
                else:
                    decision = Decision(
                        self.decisions[best].cluster_id, best, best_matches / self.params.num_perm, False
                    )
            self.decisions[rid] = decision
            out.append(decision)
        return out
