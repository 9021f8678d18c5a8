"""The scrubber's redaction tallies as a subject store: they name records by id (counts only,
never values), so forget drops a forgotten person's ids from them, and retention deletes the
tallies of runs older than `privacy.retention.run_log_days` (they feed run summaries only)."""

from __future__ import annotations

import datetime as dt

from crucible.common.runtime import Runtime
from crucible.common.subject_stores import ForgetRequest, RetentionRequest, SubjectStore
from crucible.scrubber.tally import PREFIX


def _forget(runtime: Runtime, request: ForgetRequest) -> dict[str, int]:
    store, removed = runtime.artifacts, request.record_ids
    entries = files = 0
    for key in store.list(PREFIX):
        if not key.endswith(".json") or not any(rid in store.read_text(key) for rid in removed):
            continue
        tally = store.read_json(key)
        before = sum(len(v) for v in tally.values())
        tally = {part: {rid: v for rid, v in ids.items() if rid not in removed} for part, ids in tally.items()}
        entries += before - sum(len(v) for v in tally.values())
        files += 1
        if any(tally.values()):
            store.write_json(key, tally)
        else:
            store.delete(key)
    return {"tally_entries": entries, "tally_files": files}


def _run_started(run_id: str) -> dt.datetime | None:
    try:  # run ids start with their UTC start time (runtime.new_run_id)
        return dt.datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _retention(runtime: Runtime, request: RetentionRequest) -> dict[str, int]:
    cutoff = request.cutoff(request.policy.run_log_days)
    runs = {key[len(PREFIX) + 1 :].split("/", 1)[0] for key in runtime.artifacts.list(PREFIX)}
    old = sorted(r for r in runs if (started := _run_started(r)) is not None and started < cutoff)
    if not request.dry_run:
        for run_id in old:
            runtime.artifacts.delete(f"{PREFIX}/{run_id}")
    return {"tally_runs": len(old)}


STORE = SubjectStore(name="scrubber", order=30, forget=_forget, retention=_retention)
