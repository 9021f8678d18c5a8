"""Hyper-parameter search, shared by `crucible scorer search` and `crucible train --search`.

- The study: Optuna, TPE with a fixed seed and a median pruner, stored in the registry database
  (Optuna's RDB storage on the registry's SQLAlchemy URL). Optuna keeps its own alembic version table,
  which would collide with the registry's `alembic_version`, so its tables live apart: on PostgreSQL in a
  schema of their own (`optuna`, or `<registry schema>_optuna` when the registry URL names a search path);
  on SQLite, whose only namespaces are files, in `<registry file>.optuna.db` beside the registry's file.
- The record: the study and every trial (params, values, state, intermediate values) as JSON in the
  artifact store.
- The proposal: the best trial's settings as a unified diff of the policy YAML section, printed. The
  policy file is never written: a person applies the diff, so nothing changes silently.

Optuna is imported inside the functions (commands that never search do not pay for it).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import yaml

from crucible.common.errors import UsageError

DEFAULT_SCHEMA = "optuna"


def storage_target(registry_url: str) -> tuple[str, str | None]:
    """(the SQLAlchemy URL of the study storage, the PostgreSQL schema to create first or None)."""
    from sqlalchemy.engine import make_url

    url = make_url(registry_url)
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        if not db or db == ":memory:":
            return "sqlite:///:memory:", None
        return str(url.set(database=f"{db.removesuffix('.db')}.optuna.db")), None
    if url.get_backend_name() == "postgresql":
        options = url.query.get("options", "")
        options = options if isinstance(options, str) else " ".join(options)
        schema = DEFAULT_SCHEMA
        for part in unquote(options).replace("-c ", "-c").split():
            if part.startswith("-csearch_path="):
                schema = f"{part.removeprefix('-csearch_path=').split(',')[0].strip()}_{DEFAULT_SCHEMA}"
        kept = " ".join(p for p in unquote(options).replace("-c ", "-c").split() if not p.startswith("-csearch_path="))
        new_options = f"{kept} -csearch_path={schema}".strip()
        return url.update_query_dict({"options": new_options}).render_as_string(hide_password=False), schema
    return registry_url, None  # another server database: Optuna's tables beside the registry's


def search_runtime() -> Any:
    """The runtime from the environment, with an unreachable registry database as one clear line."""
    import sqlalchemy as sa

    from crucible.common.cli_support import runtime_from_env
    from crucible.common.config import load_settings
    from crucible.common.redaction import redact_url

    try:
        return runtime_from_env()
    except sa.exc.OperationalError as err:
        url = redact_url(load_settings().resolved_database_url())
        reason = str(err.orig if getattr(err, "orig", None) else err).splitlines()[0]
        raise UsageError(f"cannot reach the registry database at {url}: {reason}") from None


def open_storage(registry_url: str) -> Any:
    """Optuna's RDB storage for the registry at `registry_url`; a clear error when it cannot be reached."""
    import optuna
    import sqlalchemy as sa

    target, schema = storage_target(registry_url)
    try:
        if schema is not None:
            engine = sa.create_engine(registry_url)
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            finally:
                engine.dispose()
        return optuna.storages.RDBStorage(target, engine_kwargs={"pool_pre_ping": True})
    except sa.exc.SQLAlchemyError as err:
        from crucible.common.redaction import redact_url

        reason = str(err.orig if getattr(err, "orig", None) else err).splitlines()[0]
        raise UsageError(f"cannot open the study storage at {redact_url(target)}: {reason}") from None


def create_study(
    storage: Any,
    name: str,
    *,
    direction: str,
    seed: int,
    n_startup_trials: int = 4,
    n_warmup_steps: int = 1,
    load_if_exists: bool = False,
) -> Any:
    """A study with a seeded TPE sampler (same seed, same trials -> same parameters) and a median pruner
    (a trial stops when its intermediate value is worse than the median of earlier trials at that step)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # progress is ours (one line per trial)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=n_warmup_steps)
    try:
        return optuna.create_study(
            storage=storage,
            study_name=name,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=load_if_exists,
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise UsageError(f"a study named {name!r} exists already; give another --study name") from None


def check_trials(n: int) -> int:
    if n < 1:
        raise UsageError(f"the number of trials must be at least 1, got {n}")
    return n


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def study_record(study: Any, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The study as JSON: direction, every trial's number, state, params, value, intermediate values,
    user attributes and times, and the best trial (None when no trial completed)."""
    import optuna

    trials = []
    for t in study.trials:
        trials.append(
            {
                "number": t.number,
                "state": t.state.name,
                "params": dict(t.params),
                "value": _number(t.value),
                "intermediate_values": {str(k): _number(v) for k, v in sorted(t.intermediate_values.items())},
                "user_attrs": dict(t.user_attrs),
                "seconds": round(t.duration.total_seconds(), 3) if t.duration else None,
            }
        )
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = None
    if complete:
        b = study.best_trial
        best = {"number": b.number, "params": dict(b.params), "value": _number(b.value), "user_attrs": b.user_attrs}
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    return {
        "study": study.study_name,
        "direction": study.direction.name.lower(),
        "states": states,
        "best": best,
        "trials": trials,
        **dict(extra or {}),
    }


def write_study(artifacts: Any, prefix: str, record: Mapping[str, Any]) -> str:
    """Store the study record at `<prefix>/<study>/study.json`; returns its URI."""
    key = f"{prefix.rstrip('/')}/{record['study']}/study.json"
    artifacts.write_json(key, dict(record))
    return artifacts.uri(key)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def policy_file_label(source: str) -> str:
    """How the diff names the policy: its file, or `crucible.yaml` when the defaults are in force."""
    return "crucible.yaml" if source == "defaults" else source


def policy_diff(
    section: Sequence[str],
    current: Mapping[str, Any],
    proposed: Mapping[str, Any],
    *,
    source: str = "crucible.yaml",
    label: str = "proposed",
) -> str:
    """A unified diff of a policy section's searched keys: `section` is the path of the section
    (`["trainer"]`, `["scorer", "safety_head"]`), `current` the values in force, `proposed` the new ones
    (only keys of `current` are shown). Empty when nothing would change."""

    def render(values: Mapping[str, Any]) -> list[str]:
        doc: dict[str, Any] = {k: _plain(values[k]) for k in sorted(current)}
        for name in reversed(section):
            doc = {name: doc}
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).splitlines(keepends=True)

    after = {**current, **{k: v for k, v in proposed.items() if k in current}}
    if all(after[k] == current[k] for k in current):
        return ""
    return "".join(difflib.unified_diff(render(current), render(after), f"{source} (in force)", f"{source} ({label})"))
