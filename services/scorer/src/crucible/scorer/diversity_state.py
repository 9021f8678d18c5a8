"""The diversity counts as versioned state, so that a record's decision does not depend on crash history.

A record is scored against snapshot `v` of the running distribution, never against counts that move
while a batch runs. At a batch boundary the kept records' observations make snapshot `v+1`; the sink
writes it, with "record r was scored against v" for each new record, in the transaction that persists
the batch's other side outputs (before the worker acks). So:
- a batch that fails before that transaction (a crash, a failed publish) leaves no trace: its records
  are scored again against the same snapshot;
- a batch redelivered after it (a crash between persist and ack) finds its records' versions and is
  scored against those snapshots again, and its observations are not counted twice;
- a restart loads the newest snapshot instead of re-deriving counts from the curated store.
Replicas share the snapshots: a replica whose `v+1` is already taken rebases its observations on the
newest snapshot (counts add up in any order). Snapshots older than `KEEP_SNAPSHOTS` versions are pruned;
a record redelivered after that long is scored against the newest one (and logged).

`DiversityLedger.in_memory` keeps the same semantics without a registry (offline scoring, benches).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crucible.common.registry import DiversityDecision, DiversitySnapshot, Registry
from crucible.scorer.diversity import RunningDistribution
from crucible.scorer.policy import DiversityPolicy

log = logging.getLogger(__name__)

KEEP_SNAPSHOTS = 500
_CACHED = 16


@dataclass
class Proposal:
    """A batch's outcome, waiting for the sink: new decisions (record id -> version) and observations."""

    base: int
    decisions: dict[str, int]
    observed: list[tuple[str, dict[str, str]]]


@dataclass
class DiversityLedger:
    policy: DiversityPolicy
    registry: Registry | None
    version: int
    current: RunningDistribution
    pending: Proposal | None = None
    _snapshots: OrderedDict[int, RunningDistribution] = field(default_factory=OrderedDict)
    _decided: dict[str, int] = field(default_factory=dict)  # in memory only (no registry)

    @classmethod
    def in_memory(cls, distribution: RunningDistribution) -> DiversityLedger:
        return cls(distribution.policy, None, 0, distribution)

    @classmethod
    def load(
        cls, registry: Registry, policy: DiversityPolicy, seed: Callable[[], RunningDistribution]
    ) -> DiversityLedger:
        """The newest snapshot; on a fresh registry, version 0 from `seed()` (written once)."""
        with registry.session() as s:
            row = s.scalars(select(DiversitySnapshot).order_by(DiversitySnapshot.version.desc()).limit(1)).first()
            if row is not None:
                return cls(policy, registry, row.version, RunningDistribution.from_json(policy, row.state))
        seeded = seed()
        try:
            with registry.session() as s:
                s.add(DiversitySnapshot(version=0, state=seeded.to_json()))
        except IntegrityError:  # another replica seeded it first: use theirs
            return cls.load(registry, policy, seed)
        return cls(policy, registry, 0, seeded)

    # -- used by the core, before and after scoring a batch --------------------------------------

    def basis(self, record_ids: Sequence[str]) -> dict[str, RunningDistribution]:
        """For each record already scored once, the snapshot it was scored against."""
        if self.registry is None:
            versions = {r: self._decided[r] for r in record_ids if r in self._decided}
        else:
            with self.registry.session() as s:
                rows = s.execute(
                    select(DiversityDecision.record_id, DiversityDecision.version).where(
                        DiversityDecision.record_id.in_(list(record_ids))
                    )
                )
                versions = {rid: int(v) for rid, v in rows}
        return {rid: self.snapshot(v) for rid, v in versions.items()}

    def propose(self, decisions: Iterable[str], observed: list[tuple[str, Mapping[str, str]]]) -> None:
        """The batch's new records were scored against `current`; `observed` are the kept ones'.
        Without a registry this settles at once; with one, the sink's `commit` settles it."""
        new = dict.fromkeys(decisions, self.version)
        self.pending = Proposal(self.version, new, [(c, dict(x)) for c, x in observed])
        if self.registry is None:
            self._decided.update(self.pending.decisions)
            self._advance(self.version + 1, self.current.plus(self.pending.observed))

    # -- used by the sink, inside its transaction ------------------------------------------------

    def commit(self, session: Session) -> Callable[[], None] | None:
        """Write the pending snapshot and decisions in `session`; returns what to run once the
        transaction has committed (advance to the new snapshot). None when nothing is pending."""
        p, self.pending = self.pending, None
        if p is None or self.registry is None:
            return None
        for rid, version in p.decisions.items():
            session.merge(DiversityDecision(record_id=rid, version=version))
        base_version, base = p.base, self.current if p.base == self.version else self.snapshot(p.base)
        while True:
            new = base.plus(p.observed)
            try:
                with session.begin_nested():
                    session.add(DiversitySnapshot(version=base_version + 1, state=new.to_json()))
                break
            except IntegrityError:  # another replica wrote that version: add ours to the newest
                newest = session.scalar(select(func.max(DiversitySnapshot.version)))
                base_version = int(newest or 0)
                row = session.get(DiversitySnapshot, base_version)
                base = RunningDistribution.from_json(self.policy, row.state if row else {})
        cutoff = base_version + 1 - KEEP_SNAPSHOTS
        session.execute(delete(DiversitySnapshot).where(DiversitySnapshot.version < cutoff))
        session.execute(delete(DiversityDecision).where(DiversityDecision.version < cutoff))
        version = base_version + 1
        return lambda: self._advance(version, new)

    # -- snapshots -------------------------------------------------------------------------------

    def snapshot(self, version: int) -> RunningDistribution:
        if version == self.version:
            return self.current
        if version in self._snapshots:
            self._snapshots.move_to_end(version)
            return self._snapshots[version]
        row = None
        if self.registry is not None:
            with self.registry.session() as s:
                row = s.get(DiversitySnapshot, version)
        if row is None:
            log.warning("diversity snapshot %d is gone (pruned): scoring against %d", version, self.version)
            return self.current
        dist = RunningDistribution.from_json(self.policy, row.state)
        self._snapshots[version] = dist
        while len(self._snapshots) > _CACHED:
            self._snapshots.popitem(last=False)
        return dist

    def _advance(self, version: int, dist: RunningDistribution) -> None:
        self._snapshots[self.version] = self.current
        while len(self._snapshots) > _CACHED:
            self._snapshots.popitem(last=False)
        self.version, self.current = version, dist
