"""`PostRoutes` (http_dispatch.py) answers exactly as the Starlette app it short-cuts would."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from crucible.gateway.http_dispatch import JSONBody, PostRoutes


async def _echo(request: Request) -> Response:
    body = await request.body()
    if body == b"boom":
        raise RuntimeError("boom")
    return JSONBody({"got": body.decode(), "user": request.headers.get("x-user", "")}, headers={"x-a": "1"})


def _apps() -> tuple[Any, Any]:
    plain = Starlette(routes=[Route("/echo", _echo, methods=["POST"])])
    fast = PostRoutes(Starlette(routes=[Route("/echo", _echo, methods=["POST"])]), {"/echo": _echo})
    return plain, fast


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/echo", b"hi"), ("GET", "/echo", b""), ("POST", "/echo/", b"hi"), ("POST", "/nope", b"")],
)
def test_same_answer_as_starlette(method: str, path: str, body: bytes) -> None:
    plain, fast = _apps()
    answers = []
    for app in (plain, fast):
        with TestClient(app) as client:
            r = client.request(method, path, content=body, headers={"x-user": "u1"}, follow_redirects=False)
            answers.append((r.status_code, r.content, sorted(r.headers.items())))
    assert answers[0] == answers[1]


def test_an_escaping_exception_is_a_500_and_still_raised() -> None:
    plain, fast = _apps()
    for app in (plain, fast):
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.post("/echo", content=b"boom")
            assert (r.status_code, r.text) == (500, "Internal Server Error")
        with TestClient(app) as client, pytest.raises(RuntimeError, match="boom"):
            client.post("/echo", content=b"boom")


def test_json_response_headers_match_starlettes_own() -> None:
    from starlette.responses import JSONResponse

    ours = JSONBody({"a": "é", "b": [1, 2]}, status_code=201, headers={"X-Crucible-Variant": "stable"})
    theirs = JSONResponse({"a": "é", "b": [1, 2]}, status_code=201, headers={"X-Crucible-Variant": "stable"})
    assert (ours.status_code, ours.body, ours.raw_headers) == (theirs.status_code, theirs.body, theirs.raw_headers)


def test_header_reads_what_starlettes_headers_read() -> None:
    from crucible.gateway.http_dispatch import header

    raw = [(b"x-crucible-user", b"u\xe91"), (b"content-length", b"12"), (b"x-crucible-user", b"second")]
    request = Request({"type": "http", "headers": raw})
    for name in ("x-crucible-user", "content-length", "x-crucible-no-log"):
        assert header(request, name.encode()) == request.headers.get(name)
