"""Issue 25 item 6: NATS over TLS with an nkey user (no password anywhere), through the same
`Bus.connect` every service uses, against a real nats-server configured for both."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import socket
import subprocess
import time
from pathlib import Path

import nkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crucible.common.bus import Bus
from crucible.common.config import BusPolicy, Settings
from crucible.common.embedded import find_nats_server, free_port
from crucible.common.nats_auth import NatsSecurity, connect_options


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_nkey_nats(tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = tmp_path / "svc.nk"
    seed_file.write_bytes(seed)
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(
        f'listen: "127.0.0.1:{port}"\n'
        f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        f'tls {{ cert_file: "{cert}", key_file: "{key}" }}\n'
        "authorization { users: [ { nkey: " + public + ', permissions: { publish: { allow: [">"] }, '
        'subscribe: { allow: ["_INBOX_svc.>", "crucible.>"] } } } ] }\n'
    )
    proc = subprocess.Popen([find_nats_server(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode())
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"nats://localhost:{port}", cert, seed_file
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_service_connects_over_tls_as_an_nkey_user(tls_nkey_nats, monkeypatch) -> None:
    url, ca, seed_file = tls_nkey_nats
    # The settings a pod gets from its environment (a mounted Secret), as Runtime.connect reads them.
    monkeypatch.setenv("CRUCIBLE_NATS_TLS_CA", str(ca))
    monkeypatch.setenv("CRUCIBLE_NATS_NKEY", str(seed_file))
    monkeypatch.setenv("CRUCIBLE_NATS_INBOX_PREFIX", "_INBOX_svc")
    security = Settings().nats_security()

    async def go() -> bytes:
        bus = await Bus.connect(url, BusPolicy(), name="svc", security=security)
        try:
            assert bus.nc.connected_url.scheme in ("tls", "nats") and bus.nc._inbox_prefix == bytearray(b"_INBOX_svc")
            await bus.publish("crucible.records.raw", b"over tls", msg_id="t1", timeout=5)
            sub = await bus.js.pull_subscribe("crucible.records.raw", durable="svc", stream="RAW")
            [msg] = await sub.fetch(1, timeout=5)
            await msg.ack_sync(timeout=5)
            return msg.data
        finally:
            await bus.close()

    assert asyncio.run(go()) == b"over tls"


@pytest.mark.parametrize("missing", ["ca", "nkey"])
def test_without_the_ca_or_the_nkey_the_server_refuses(tls_nkey_nats, missing: str) -> None:
    import nats

    url, ca, seed_file = tls_nkey_nats
    security = NatsSecurity(
        tls_ca_file=None if missing == "ca" else ca,
        nkey_seed_file=None if missing == "nkey" else seed_file,
        inbox_prefix="_INBOX_svc",
    )
    options = connect_options(url, security)
    if missing == "ca":
        import ssl

        options["tls"] = ssl.create_default_context()  # the system CAs do not know this server

    async def go() -> None:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=3, **options)
        await nc.close()

    with pytest.raises(Exception):
        asyncio.run(go())


def test_connect_options_carry_creds_files_and_client_certificates(tmp_path) -> None:
    for name in ("svc.creds", "ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("x")
    security = NatsSecurity(creds_file=tmp_path / "svc.creds", inbox_prefix="_INBOX_svc")
    options = connect_options("nats://nats:4222", security)
    assert options["user_credentials"] == str(tmp_path / "svc.creds")
    assert options["inbox_prefix"] == "_INBOX_svc"
    assert connect_options("nats://crucible-gateway:pw@nats:4222", None)["inbox_prefix"] == "_INBOX_crucible-gateway"
    assert connect_options("nats://nats:4222", None) == {"inbox_prefix": "_INBOX"}
    with pytest.raises(ValueError, match="both"):
        NatsSecurity(tls_cert_file=tmp_path / "client.pem")
    with pytest.raises(ValueError, match="does not exist"):
        NatsSecurity(creds_file=tmp_path / "absent.creds")
