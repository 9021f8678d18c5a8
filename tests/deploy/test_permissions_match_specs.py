"""The chart's NATS permission table says what the services' specs say, no more and no less.

Each service declares what it touches on the bus (`ServiceSpec.consumes`/`produces` for its
stage, `events` for the control-plane events it consumes under which durable, `publishes` for
the events it announces); `deploy/helm/crucible/values.yaml` grants it by hand. A durable renamed
in `subjects`, an event a service starts publishing, or a row edited in the chart fails here
instead of as a permissions error in production."""

from __future__ import annotations

from typing import Any

from crucible.common import subjects
from crucible.common.services import ServiceSpec, discover_services

# Rows of the table that are not services: the operators' CLI user.
NOT_SERVICES = {"admin"}


def expected_row(spec: ServiceSpec) -> dict[str, set[Any]]:
    """What the spec needs: {"publish": subjects, "consume": {(stream, durable)}}."""
    publish: set[str] = {subjects.event(name) for name in spec.publishes}
    consume: set[tuple[str, str]] = set()
    if spec.produces:
        publish.add(subjects.records(spec.produces))
    if spec.build_stage is not None and spec.consumes:
        consume.add((subjects.stream_for(subjects.records(spec.consumes)), subjects.durable(spec.name)))
    consume.update((subjects.STREAM_EVENTS, handler.durable) for handler in spec.events.values())
    if consume:  # a stage's poison records, a failed event handler (the extractor's unmappable rows too)
        publish.add(subjects.dlq(spec.name))
    return {"publish": publish, "consume": consume}


def on_the_bus(spec: ServiceSpec) -> bool:
    return bool(spec.produces or spec.consumes or spec.events or spec.publishes)


def test_the_permission_table_matches_the_specs(values: dict[str, Any]) -> None:
    table = values["natsPermissions"]
    specs = {name: spec for name, spec in discover_services().items() if on_the_bus(spec)}
    assert set(table) - NOT_SERVICES == set(specs), "a row without a service, or a service without a row"
    for name, spec in specs.items():
        want = expected_row(spec)
        row = table[name]
        assert set(row["publish"]) == want["publish"], name
        assert {(c["stream"], c["durable"]) for c in row["consume"]} == want["consume"], name


def test_every_event_durable_is_named_in_subjects() -> None:
    named = {value for key, value in vars(subjects).items() if key.isupper() and isinstance(value, str)}
    for spec in discover_services().values():
        for event, handler in spec.events.items():
            assert handler.durable in named, f"{spec.name} consumes {event} as {handler.durable!r}, not from subjects"
