"""The diversity counts as versioned state, so that a record's decision does not depend on crash history.

A record is scored against snapshot `v` of the running distribution, never against counts that move
while a batch runs. At a batch boundary the kept records' observations make snapshot `v+1`; the sink
writes it, with "record r was scored against v" for each new record, in the transaction that persists
the batch's other side outputs (before the worker acks). So:
- a batch that fails before that transaction (a crash, a failed publish) leaves no trace: its records
  are scored again against the same snapshot;
- a batch redelivered after it (a crash between persist and ack) finds its records' versions and is
  scored against those snapshots again, and its observations are not counted twice;
- a restart loads the newest snapshot instead of re-deriving counts from the curated store;
- a record's observation is counted once, whatever arrives again: a second copy after a nats-server
  restart, or a later version of it (context `revision`), which is scored afresh (`decision_key`).
Replicas share the snapshots: a replica whose `v+1` is already taken rebases its observations on the
newest snapshot (counts add up in any order). Snapshots older than `KEEP_SNAPSHOTS` versions are pruned;
a record redelivered after that long is scored against the newest one (and logged).

`DiversityLedger.in_memory` keeps the same semantics without a registry (offline scoring, benches).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crucible.common.registry import DiversityDecision, DiversitySnapshot, Registry
from crucible.scorer.diversity import RunningDistribution
from crucible.scorer.policy import DiversityPolicy
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)

KEEP_SNAPSHOTS = 500
_CACHED = 16


def decision_key(record: records_pb2.Record) -> str:
    """A record's decision is kept per version of it: a later version (context `revision`, e.g. an
    interaction with its late feedback merged) is scored afresh; a redelivery of one is not."""
    revision = record.context.get("revision")
    return f"{record.record_id}@{revision}" if revision else record.record_id


@dataclass(frozen=True)
class Decided:
    key: str
    record_id: str
    observed: bool  # its observation went into the counts (counted once per record id)


@dataclass
class Proposal:
    """A batch's outcome, waiting for the sink: its new decisions and the observations they add."""

    base: int
    decisions: list[Decided]
    observed: list[tuple[str, dict[str, str]]]


@dataclass
class Basis:
    """What the ledger already knows of a batch: the snapshot of each version scored before, and the
    record ids whose observation is already in the counts."""

    snapshots: dict[str, RunningDistribution]
    observed: set[str]


@dataclass
class DiversityLedger:
    policy: DiversityPolicy
    registry: Registry | None
    version: int
    current: RunningDistribution
    pending: Proposal | None = None
    _snapshots: OrderedDict[int, RunningDistribution] = field(default_factory=OrderedDict)
    # Without a registry: the decisions in memory.
    _versions: dict[str, int] = field(default_factory=dict)
    _observed_ids: set[str] = field(default_factory=set)

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

    def basis(self, records: Sequence[records_pb2.Record]) -> Basis:
        keys = [decision_key(r) for r in records]
        ids = list({r.record_id for r in records})
        if self.registry is None:
            versions = {k: self._versions[k] for k in keys if k in self._versions}
            observed = {rid for rid in ids if rid in self._observed_ids}
        else:
            with self.registry.session() as s:
                rows = s.execute(
                    select(
                        DiversityDecision.key,
                        DiversityDecision.record_id,
                        DiversityDecision.version,
                        DiversityDecision.observed,
                    ).where(or_(DiversityDecision.key.in_(keys), DiversityDecision.record_id.in_(ids)))
                ).all()
            wanted = set(keys)
            versions = {key: int(v) for key, _, v, _ in rows if key in wanted}
            observed = {rid for _, rid, _, seen in rows if seen}
        return Basis({k: self.snapshot(v) for k, v in versions.items()}, observed)

    def propose(self, decisions: Sequence[Decided], observed: list[tuple[str, Mapping[str, str]]]) -> None:
        """The batch's new decisions were taken against `current`; `observed` are what they add.
        Without a registry this settles at once; with one, the sink's `commit` settles it."""
        self.pending = Proposal(self.version, list(decisions), [(c, dict(x)) for c, x in observed])
        if self.registry is None:
            for d in decisions:
                self._versions[d.key] = self.version
                if d.observed:
                    self._observed_ids.add(d.record_id)
            self._advance(self.version + 1, self.current.plus(self.pending.observed))

    # -- used by the sink, inside its transaction ------------------------------------------------

    def commit(self, session: Session) -> Callable[[], None] | None:
        """Write the pending snapshot and decisions in `session`; returns what to run once the
        transaction has committed (advance to the new snapshot). None when nothing is pending."""
        p, self.pending = self.pending, None
        if p is None or self.registry is None:
            return None
        for d in p.decisions:
            session.merge(DiversityDecision(key=d.key, record_id=d.record_id, version=p.base, observed=d.observed))
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
