"""The installed services, as their packages register them: the `crucible.services` entry-point
group. The one place that loads entry points; it imports nothing of the kernel, so any module
may ask it (the runtime, for the policy sections of the installed services) without a cycle.
`services.discover_services()` checks and orders what it loads.

A service package declares, in its pyproject.toml:

    [project.entry-points."crucible.services"]
    scrubber = "crucible.scrubber.service:SPEC"
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

ENTRY_POINT_GROUP = "crucible.services"


class ServiceLoadError(RuntimeError):
    """An installed service's entry point cannot be imported (a broken install)."""


def load_entry_points() -> list[tuple[str, str, Any]]:
    """(entry point name, its value, the loaded object) for every installed service."""
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded.append((ep.name, ep.value, ep.load()))
        except Exception as exc:
            raise ServiceLoadError(f"service plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}") from exc
    return loaded


def resolve_target(target: str) -> Any:
    """The object a `"package.module:attribute"` string names, imported now."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"target must be 'module:attribute', got {target!r}")
    return getattr(import_module(module_name), attr)


def installed_policy_models() -> dict[str, type[BaseModel]]:
    """Each installed service's policy section model by section name (for `config.load_policy`):
    its own section (named after it) and any further ones it declares (`policy_sections`); a spec
    may name a model as `"module:Class"` (imported here, not when the spec loads)."""
    models = {}
    for _, _, spec in load_entry_points():
        model = getattr(spec, "policy_model", None)
        if model is not None:
            models[spec.name] = resolve_target(model) if isinstance(model, str) else model
        for section, extra in (getattr(spec, "policy_sections", None) or {}).items():
            models[section] = resolve_target(extra) if isinstance(extra, str) else extra
    return models
