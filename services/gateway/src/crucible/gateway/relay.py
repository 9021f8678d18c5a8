"""A bare relay: the benchmark's baseline for what a proxy costs.

A grpc.aio `ModelGateway.Generate` servicer and a Starlette `/generate` route, each making the
same backend call as the gateway (aiohttp, keep-alive pool, orjson) and nothing else: no routing,
no validation, no metrics, no guard. `crucible bench gateway` runs it in the gateway's place and
compares CPU per request. A benchmark baseline, never a serving path.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aiohttp
import grpc
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crucible.v1 import gateway_pb2, gateway_pb2_grpc


class _Relay(gateway_pb2_grpc.ModelGatewayServicer):
    def __init__(self, session: aiohttp.ClientSession, backend: str) -> None:
        self.session = session
        self.backend = backend

    async def Generate(self, request: gateway_pb2.GenerateRequest, context: Any) -> gateway_pb2.GenerateResponse:
        body = {"inputs": request.inputs, "parameters": {"max_new_tokens": request.parameters.max_new_tokens}}
        async with self.session.post(f"{self.backend}/generate", data=orjson.dumps(body)) as r:
            out = orjson.loads(await r.read())
        return gateway_pb2.GenerateResponse(generated_text=out.get("generated_text", ""))


def build(backend: str) -> tuple[Starlette, _Relay]:
    """The relay's HTTP app and gRPC servicer over one backend session (call in a running loop)."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=512, limit_per_host=512, keepalive_timeout=60.0),
        headers={"content-type": "application/json"},
        skip_auto_headers=("User-Agent",),
    )

    async def generate(request: Request) -> Response:
        async with session.post(f"{backend}/generate", data=await request.body()) as r:
            return Response(await r.read(), status_code=r.status, media_type="application/json")

    async def health(_: Request) -> Response:
        return Response(b"")

    app = Starlette(routes=[Route("/generate", generate, methods=["POST"]), Route("/health", health)])
    return app, _Relay(session, backend)


async def serve(backend: str, http_port: int, grpc_port: int) -> None:
    import uvicorn

    app, servicer = build(backend)
    server = grpc.aio.server()
    gateway_pb2_grpc.add_ModelGatewayServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    await server.start()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=http_port, log_level="warning", lifespan="off", access_log=False
    )
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--stable", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    a = parser.parse_args()
    asyncio.run(serve(a.stable, a.http_port, a.grpc_port))
