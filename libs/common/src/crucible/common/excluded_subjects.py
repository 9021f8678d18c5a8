"""Who must never flow through Crucible again: forgotten subjects and the opt-out list, by digest.

`ExcludedSubjects` is the cheap check every producer asks per record or per interaction
(`excludes(token)`: one hash and one set lookup). Its set is loaded from the registry, refreshed
every `refresh_seconds`, and updated at once by the `subject.optout` / `subject.forget` events
(`apply_optout_event`, `apply_forget_event`), so a change reaches a running gateway without a
restart. The extractor loads it once per run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from crucible.common.privacy_keys import subject_digest
from crucible.common.registry import ForgottenSubject, OptedOutSubject, Registry
from crucible.v1 import events_pb2


def excluded_digests(registry: Registry) -> set[str]:
    """Every forgotten or opted-out subject's digest."""
    with registry.session() as session:
        forgotten = set(session.scalars(select(ForgottenSubject.subject_digest)))
        opted_out = set(session.scalars(select(OptedOutSubject.subject_digest)))
    return forgotten | opted_out


def forgotten_digests(registry: Registry, digests: Iterable[str] | None = None) -> set[str]:
    """The forgotten subjects' digests (only those among `digests` when given)."""
    query = select(ForgottenSubject.subject_digest)
    if digests is not None:
        wanted = sorted(set(digests))
        if not wanted:
            return set()
        query = query.where(ForgottenSubject.subject_digest.in_(wanted))
    with registry.session() as session:
        return set(session.scalars(query))


_SEEN_MAX = 100_000


class ExcludedSubjects:
    """A cached set of excluded subject digests (thread-safe; the gateway asks from many tasks)."""

    def __init__(self, registry: Registry | None, refresh_seconds: float = 60.0) -> None:
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self._digests: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        # token -> excluded, for the current list (a person writes many records); emptied on change.
        self._seen: dict[str, bool] = {}

    @classmethod
    def of(cls, digests: Iterable[str]) -> ExcludedSubjects:
        """A fixed set (tests, one extraction run)."""
        out = cls(None)
        out._digests = frozenset(digests)
        out._loaded_at = float("inf")
        return out

    def refresh(self) -> None:
        if self.registry is None:
            return
        digests = frozenset(excluded_digests(self.registry))
        with self._lock:
            if digests != self._digests:
                self._seen = {}
            self._digests = digests
            self._loaded_at = time.monotonic()

    def excludes(self, subject_token: str) -> bool:
        """True when records and interactions of this subject must not be published."""
        if not subject_token:
            return False
        if time.monotonic() - self._loaded_at > self.refresh_seconds:
            self.refresh()
        digests, seen = self._digests, self._seen
        if not digests:
            return False
        hit = seen.get(subject_token)
        if hit is None:
            if len(seen) > _SEEN_MAX:
                seen.clear()
            hit = seen[subject_token] = subject_digest(subject_token) in digests
        return hit

    def apply_optout_event(self, payload: bytes) -> None:
        event = events_pb2.SubjectOptOut.FromString(payload)
        with self._lock:
            if event.opted_out:
                self._digests = self._digests | {event.subject_digest}
            else:
                self._digests = self._digests - {event.subject_digest}
            self._seen = {}
        # A removal may concern someone who is also forgotten: the registry has the last word.
        if not event.opted_out:
            self.refresh()

    def apply_forget_event(self, payload: bytes) -> None:
        token = events_pb2.SubjectForget.FromString(payload).subject_token
        if token:
            with self._lock:
                self._digests = self._digests | {subject_digest(token)}
                self._seen = {}

    def __len__(self) -> int:
        return len(self._digests)


# --- the gateway's seam ---------------------------------------------------------------------
# The gateway (and any other producer of interactions or feedback) asks, before publishing an
# interaction: `interaction_allowed(runtime, subject_token)`. One cached list per process,
# refreshed every minute and at once by `subject.optout` / `subject.forget`, when the service
# declares `EventHandler(<its durable>, on_optout_event)` / `EventHandler(<durable>, on_forget_event)`
# (the handler may be given the runtime or any context with a `.runtime`).

_SHARED: dict[int, ExcludedSubjects] = {}
_SHARED_LOCK = threading.Lock()


def shared_excluded(registry: Registry) -> ExcludedSubjects:
    """The process-wide cached list for a registry."""
    with _SHARED_LOCK:
        found = _SHARED.get(id(registry))
        if found is None or found.registry is not registry:
            found = _SHARED[id(registry)] = ExcludedSubjects(registry)
        return found


def interaction_allowed(runtime: Any, subject_token: str) -> bool:
    """False when the subject opted out or was forgotten: their interaction must not be published."""
    return not shared_excluded(runtime.registry).excludes(subject_token)


async def on_optout_event(context: Any, payload: bytes) -> None:
    runtime = getattr(context, "runtime", context)
    shared_excluded(runtime.registry).apply_optout_event(payload)


async def on_forget_event(context: Any, payload: bytes) -> None:
    runtime = getattr(context, "runtime", context)
    shared_excluded(runtime.registry).apply_forget_event(payload)
