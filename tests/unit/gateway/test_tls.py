"""gRPC over TLS when a certificate is configured (a self-signed one made here)."""

import asyncio
import datetime as dt

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crucible.gateway.fake_backend import FakeBackend, FakeBehaviour
from crucible.gateway.grpc_server import start_grpc_server
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.state import BackendSpec
from crucible.gateway.store import MemoryStore
from crucible.v1 import gateway_pb2, gateway_pb2_grpc


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_grpc_serves_tls_with_a_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)

    async def go():
        backend = await FakeBackend(FakeBehaviour(delay_seconds=0)).start()
        gateway = Router(GatewayPolicy(), MemoryStore())
        await gateway.start()
        rollout = RolloutController(gateway)
        await rollout.configure_stable(BackendSpec("base", backend.url))
        server, port = await start_grpc_server(
            gateway, rollout, host="127.0.0.1", port=0, admin_token=None, tls_cert=cert, tls_key=key
        )
        try:
            creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
            opts = (("grpc.ssl_target_name_override", "localhost"),)
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=opts) as ch:
                out = await gateway_pb2_grpc.ModelGatewayStub(ch).Generate(gateway_pb2.GenerateRequest(inputs="hi"))
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as plain:
                try:
                    await gateway_pb2_grpc.ModelGatewayStub(plain).Generate(
                        gateway_pb2.GenerateRequest(inputs="hi"), timeout=3
                    )
                    plaintext_refused = False
                except grpc.aio.AioRpcError:
                    plaintext_refused = True
            return out, plaintext_refused
        finally:
            await server.stop(None)
            await gateway.close()
            await backend.stop()

    out, plaintext_refused = asyncio.run(go())
    assert out.generated_text == FakeBehaviour().text
    assert plaintext_refused


def test_http_serves_tls_with_the_same_certificate(tmp_path):
    """With CRUCIBLE_GATEWAY_HTTP_TLS, one certificate pair: the HTTP port speaks TLS only too."""
    import httpx

    from crucible.gateway.server import start_gateway

    cert, key = _self_signed(tmp_path)

    async def go():
        backend = await FakeBackend(FakeBehaviour(delay_seconds=0)).start()
        gateway = Router(GatewayPolicy(), MemoryStore())
        await gateway.start()
        rollout = RolloutController(gateway)
        await rollout.configure_stable(BackendSpec("base", backend.url))
        running = await start_gateway(
            rollout, admin_token=None, tls_cert=cert, tls_key=key, http_tls=True, run_loop=False
        )
        try:
            import ssl

            ctx = ssl.create_default_context(cafile=str(cert))
            async with httpx.AsyncClient(verify=ctx) as client:
                secure = await client.post(f"https://localhost:{running.http_port}/generate", json={"inputs": "hi"})
            async with httpx.AsyncClient() as plain:
                try:
                    await plain.post(f"http://127.0.0.1:{running.http_port}/generate", json={"inputs": "hi"})
                    plaintext_refused = False
                except httpx.HTTPError:
                    plaintext_refused = True
            return secure, plaintext_refused
        finally:
            await running.stop()
            await backend.stop()

    secure, plaintext_refused = asyncio.run(go())
    assert secure.status_code == 200 and secure.json()["generated_text"] == FakeBehaviour().text
    assert plaintext_refused
