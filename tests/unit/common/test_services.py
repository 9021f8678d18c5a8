"""Service discovery and deferred entry points."""

import sys

import pytest

from crucible.common.services import deferred, discover_services


def test_deferred_imports_its_target_only_when_called() -> None:
    sys.modules.pop("colorsys", None)
    fn = deferred("colorsys:rgb_to_hsv", doc="Convert a colour.")
    assert "colorsys" not in sys.modules
    assert fn.__doc__ == "Convert a colour."
    assert fn(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules


def test_deferred_rejects_a_target_without_attribute() -> None:
    with pytest.raises(ValueError, match="module:function"):
        deferred("colorsys")


def test_a_missing_target_fails_loudly_on_call() -> None:
    with pytest.raises(ModuleNotFoundError):
        deferred("crucible.no_such_module:run")()


def test_every_installed_service_names_importable_entry_points() -> None:
    specs = discover_services()
    assert {"extractor", "scrubber", "scorer", "dedup", "dataset", "trainer", "evaluator", "gateway"} <= set(specs)
    for spec in specs.values():
        for name, bench in spec.benches.items():
            assert bench.__doc__, f"bench {name} of {spec.name} has no one-line help"
