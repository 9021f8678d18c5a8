"""The serving path's ASGI pieces, cheaper than Starlette's general ones and tested against them.

A proxy's cost is its CPU per request (issue 17): `PostRoutes` calls the POST handlers without
Starlette's middleware stack and router, `JSONBody` renders with orjson and builds its headers
directly, `header` reads a request header straight from the ASGI scope. Each answers byte for byte
what the Starlette piece it replaces would (tests/unit/gateway/test_post_routes.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

Endpoint = Callable[[Request], Awaitable[Response]]


class JSONBody(JSONResponse):
    """Starlette's JSONResponse rendered by orjson (the same compact UTF-8 JSON, a fraction of the
    CPU), its headers built directly (the same list Starlette's `init_headers` builds: the given
    headers, then content-length and content-type)."""

    def __init__(self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.background = None
        self.body = orjson.dumps(content)
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []
        raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
        raw.append((b"content-type", b"application/json"))
        self.raw_headers = raw

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def header(request: Request, name: bytes) -> str | None:
    """The first value of a header (`name` in lower case, as ASGI gives names): what Starlette's
    `request.headers.get` returns, without building a `Headers` and encoding the name per lookup."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class PostRoutes:
    """The POST routes (generation and feedback: the serving path) called directly; everything
    else, and any path Starlette would rewrite (a root path, a trailing slash), through Starlette.

    Starlette's middleware stack, router and exception wrapper cost ~7 µs per request, a sixth of
    the gateway's own CPU per request (measured in-process against a bare Starlette relay, issue
    17); the handlers take a `Request` and return a `Response` either way. An exception escaping a
    handler answers 500 `Internal Server Error` and propagates to the server, as Starlette's
    ServerErrorMiddleware does."""

    def __init__(self, app: Starlette, posts: dict[str, Endpoint]) -> None:
        self.app = app
        self.posts = posts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        endpoint = (
            self.posts.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path")
            else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            response = await endpoint(Request(scope, receive))
            await response(scope, receive, tracked_send)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
