"""Service discovery: each service registers a `ServiceSpec` in the `crucible.services`
entry-point group, so the CLI and `crucible run` find services without importing them
statically (`crucible.common` never imports a service).

A service package declares, in its pyproject.toml:

    [project.entry-points."crucible.services"]
    scrubber = "crucible.scrubber.service:SPEC"
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from crucible.common.stage import StageBlock

if TYPE_CHECKING:
    import typer

    from crucible.common.runtime import Runtime

ENTRY_POINT_GROUP = "crucible.services"


@dataclass(frozen=True)
class ServiceSpec:
    """What a service offers the platform. Every field but `name` and `version` is optional.

    - `build_stage` + `consumes` (+ `produces`): a data-plane stage run by the common worker;
      `build_stage(runtime)` returns the core and its sink together (`StageBlock`), once per worker.
    - `serve`: a long-running control-plane loop (trainer, evaluator, gateway).
    - `register_cli`: adds the service's own commands to `crucible` (e.g. `crucible scrub`).
    - `benches`: `crucible bench <name>` callables returning a JSON-able dict.
    - `run_summary`: adds service-specific figures to `crucible run`'s summary.
    """

    name: str
    version: str
    description: str = ""
    order: int = 100  # position in `crucible run` (pipeline order)
    consumes: str | None = None  # subject suffix, e.g. "records.raw"
    produces: str | None = None
    policy_model: type[BaseModel] | None = None
    build_stage: Callable[[Runtime], StageBlock] | None = None
    serve: Callable[[Runtime], Awaitable[None]] | None = None
    register_cli: Callable[[typer.Typer], None] | None = None
    benches: Mapping[str, Callable[..., dict[str, Any]]] = field(default_factory=dict)
    run_summary: Callable[[Runtime, str], dict[str, Any]] | None = None
    # Other (optional) hooks, by name, for `crucible run` orchestration
    # (e.g. "extract": start an extraction; "after_drain": build a dataset).
    hooks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


def deferred(target: str, doc: str | None = None) -> Callable[..., Any]:
    """A callable that imports `"package.module:function"` on first call and forwards to it.

    Services name their CLI and bench entry points this way so that discovering every
    service (which `crucible --help` does) never imports torch, Presidio or transformers.
    `doc` becomes the callable's docstring (the bench's one-line help)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"deferred target must be 'module:function', got {target!r}")
    resolved: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not resolved:
            resolved.append(getattr(import_module(module_name), attr))
        return resolved[0](*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = f"deferred({target})"
    call.__doc__ = doc
    return call


class ServiceLoadError(RuntimeError):
    """An installed service's entry point cannot be imported (a broken install)."""


def discover_services() -> dict[str, ServiceSpec]:
    """Installed services by name, in pipeline order. A broken plugin is an error, not a skip."""
    specs: list[ServiceSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as exc:
            raise ServiceLoadError(f"service plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}") from exc
        if not isinstance(spec, ServiceSpec):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not a ServiceSpec")
        specs.append(spec)
    specs.sort(key=lambda s: (s.order, s.name))
    return {s.name: s for s in specs}


def installed_policy_models(specs: Mapping[str, ServiceSpec] | None = None) -> dict[str, type[BaseModel]]:
    """Each installed service's policy section model by section name (for `load_policy`)."""
    specs = discover_services() if specs is None else specs
    return {s.name: s.policy_model for s in specs.values() if s.policy_model is not None}
