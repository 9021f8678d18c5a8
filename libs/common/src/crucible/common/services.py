"""`ServiceSpec`, what a service offers the platform, and `discover_services()`: each service
registers its spec in the `crucible.services` entry-point group (`plugins.py`), so the CLI and
`crucible run` find services without importing them statically (`crucible.common` never
imports a service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from crucible.common.plugins import load_entry_points, resolve_target

if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel

    from crucible.common.runtime import Runtime
    from crucible.common.stage import StageBlock
    from crucible.common.subject_stores import SubjectStore

C = TypeVar("C")


@dataclass(frozen=True)
class EventHandler(Generic[C]):
    """One event a service consumes: `ServiceSpec.events[event_name]`, run by `events.EventConsumer`.

    - `durable`: the consumer's name, from `subjects` (the chart's permissions name it too);
    - `handle(context, payload)`: the work; raising means "retry later";
    - `ack_wait`: seconds JetStream waits for an ack before redelivering (the handler keeps
      the event in progress every third of it, so this bounds a silent crash, not a long job);
    - `deliver_new_only`: a new consumer starts at the stream's end, not its first event;
    - `enabled(runtime)`: whether to consume at all under this policy (default: always).
    """

    durable: str
    handle: Callable[[C, bytes], Awaitable[None]]
    ack_wait: float = 300.0
    deliver_new_only: bool = False
    enabled: Callable[[Runtime], bool] | None = None

    def is_enabled(self, runtime: Runtime) -> bool:
        return self.enabled is None or bool(self.enabled(runtime))


@dataclass(frozen=True)
class ServiceSpec:
    """What a service offers the platform. Every field but `name` and `version` is optional.

    - `build_stage` + `consumes` (+ `produces`): a data-plane stage run by the common worker;
      `build_stage(runtime)` returns the core and its sink together (`StageBlock`), once per worker.
    - `events`: control-plane events the service consumes, `{event name: EventHandler}`, each
      run by the kernel (`events.EventConsumer`: one drain, one readiness, one retry policy).
    - `lifespan(runtime)`: an async context manager around the service's consumers (e.g. the
      gateway's HTTP and gRPC servers): entered before they subscribe, left after they drain;
      its value is what the handlers get (without one, the runtime).
    - `publishes`: control-plane event names the service publishes (`"rollout.>"` for a family).
      With `consumes`/`produces`/`events` it is what the chart's NATS permissions must grant.
    - `serve`: any other long-running loop (the dataset's automatic builds), cancelled on stop.
    - `register_cli`: adds the service's own commands to `crucible` (e.g. `crucible scrub`).
    - `benches`: `crucible bench <name>` callables returning a JSON-able dict.
    - `run_summary`: adds service-specific figures to `crucible run`'s summary.
    - `subject_stores`: the stores of personal data the service keeps, for forget, export and
      retention (`subject_stores.SubjectStore`) (or `"package.module:NAME"`,
      imported only by `stores()`: a store's module loads SQLAlchemy).
    - `policy_model`: the service's policy section, as `"package.module:Class"` so that loading
      the spec (which `crucible --help` does for every service) never imports pydantic;
      `policy_class()` imports it. A class is accepted too.

    A spec module imports nothing heavy at module level (no torch, numpy, SQLAlchemy, NATS,
    protobuf, pydantic): name callables with `deferred(...)` or import inside the function.
    `tests/unit/common/test_cli_imports.py` guards this.
    """

    name: str
    version: str
    description: str = ""
    order: int = 100  # position in `crucible run` (pipeline order)
    consumes: str | None = None  # subject suffix, e.g. "records.raw"
    produces: str | None = None
    policy_model: type[BaseModel] | str | None = None
    # Further top-level policy sections the service owns, {section: model or "module:Class"}
    # (e.g. the trainer's `training`).
    policy_sections: Mapping[str, type[BaseModel] | str] = field(default_factory=dict)
    build_stage: Callable[[Runtime], StageBlock] | None = None
    events: Mapping[str, EventHandler[Any]] = field(default_factory=dict)
    lifespan: Callable[[Runtime], AbstractAsyncContextManager[Any]] | None = None
    publishes: tuple[str, ...] = ()
    serve: Callable[[Runtime], Awaitable[None]] | None = None
    register_cli: Callable[[typer.Typer], None] | None = None
    benches: Mapping[str, Callable[..., dict[str, Any]]] = field(default_factory=dict)
    run_summary: Callable[[Runtime, str], dict[str, Any]] | None = None
    subject_stores: tuple[SubjectStore | str, ...] = ()
    # Other (optional) hooks, by name, for `crucible run` orchestration
    # (e.g. "extract": start an extraction; "after_drain": build a dataset).
    hooks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def policy_class(self) -> type[BaseModel] | None:
        """The policy section's model, imported now when `policy_model` names it."""
        if isinstance(self.policy_model, str):
            model: type[BaseModel] = resolve_target(self.policy_model)
            return model
        return self.policy_model

    def stores(self) -> list[SubjectStore]:
        """The subject stores, imported now where they are named."""
        return [resolve_target(s) if isinstance(s, str) else s for s in self.subject_stores]


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
            resolved.append(resolve_target(target))
        return resolved[0](*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = f"deferred({target})"
    call.__doc__ = doc
    return call


def discover_services() -> dict[str, ServiceSpec]:
    """Installed services by name, in pipeline order. A broken plugin is an error, not a skip."""
    specs: list[ServiceSpec] = []
    for name, value, spec in load_entry_points():
        if not isinstance(spec, ServiceSpec):
            raise TypeError(f"entry point {name} = {value} is not a ServiceSpec")
        specs.append(spec)
    specs.sort(key=lambda s: (s.order, s.name))
    return {s.name: s for s in specs}
