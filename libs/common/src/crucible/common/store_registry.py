"""Every subject store of this installation: the kernel's (`review`, `feedback`, `runs`, `bus`) and each
installed service's (`ServiceSpec.subject_stores`), in order. Apart from `subject_stores` so
the store types never depend on service discovery."""

from __future__ import annotations

from crucible.common.feedback_subject_store import FEEDBACK_STORE
from crucible.common.services import discover_services
from crucible.common.stream_privacy import BUS_STORE
from crucible.common.subject_stores import REVIEW_STORE, RUNS_STORE, SubjectStore


def all_stores() -> list[SubjectStore]:
    """The kernel's stores and every installed service's, in order."""
    stores = [REVIEW_STORE, FEEDBACK_STORE, RUNS_STORE, BUS_STORE]
    for spec in discover_services().values():
        stores.extend(spec.stores())
    names = [s.name for s in stores]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"subject stores registered twice: {duplicates}")
    return sorted(stores, key=lambda s: (s.order, s.name))
