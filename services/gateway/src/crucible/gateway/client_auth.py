"""Optional client credentials: `Authorization: Bearer <token>` (HTTP header or gRPC metadata),
matched against `CRUCIBLE_GATEWAY_CLIENT_TOKENS` (`name=token,...`). Policy says whether feedback
(`gateway.feedback.require_client_token`) and generation (`..._for_generation`) need one.

The caller's name (a matched credential) or address is the key of the feedback rate limit. mTLS
per client is not offered here: where clients hold certificates, the mesh or ingress verifies them
and the gateway sees a bearer token or nothing.
"""

from __future__ import annotations

import hmac
from typing import Any


class ClientAuth:
    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]

    def client_of(self, authorization: str) -> str | None:
        """The client name a bearer credential belongs to, or None (no credential, or a wrong one).
        Every token is compared in constant time, so timing says nothing about which one nearly matched."""
        if not authorization.startswith("Bearer "):
            return None
        given = authorization[7:].strip().encode()
        found = None
        for name, token in self._tokens:
            if hmac.compare_digest(given, token):
                found = name
        return found

    def caller(self, authorization: str, address: str) -> str:
        """The rate-limit key: `client:<name>` for a valid credential, else `ip:<address>`."""
        name = self.client_of(authorization) if authorization else None
        return f"client:{name}" if name else f"ip:{address}"


def peer_address(grpc_peer: str) -> str:
    """`ipv4:1.2.3.4:5678` / `ipv6:[::1]:5678` -> the address without the port."""
    kind, _, rest = grpc_peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1 : rest.find("]")]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


_UNAUTHENTICATED_BODY = (
    b'{"error":"a client token is required (Authorization: Bearer <token>)","error_type":"unauthenticated"}'
)
GENERATION_PATHS = frozenset({"/generate", "/generate_stream", "/", "/v1/chat/completions", "/v1/completions"})


class RequireClientToken:
    """ASGI middleware, installed only when policy requires a client token for generation (so the
    default path pays nothing): 401 on the generation routes without a known bearer token."""

    def __init__(self, app: Any, clients: ClientAuth) -> None:
        self.app, self.clients = app, clients

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in GENERATION_PATHS and scope.get("method") == "POST":
            authorization = next((v.decode() for k, v in scope["headers"] if k == b"authorization"), "")
            if self.clients.client_of(authorization) is None:
                body = _UNAUTHENTICATED_BODY
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
