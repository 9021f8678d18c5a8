"""HTTP front end speaking TGI's protocol (and OpenAI's chat), so existing clients work unchanged.

Routes (shapes from TGI's router): `POST /generate`, `POST /generate_stream` (SSE), `POST /`
(the compatibility route the Hugging Face clients use: a JSON list, or SSE when `"stream": true`),
`GET /health`, `GET /info`, `POST /v1/chat/completions` (streaming too), `GET /metrics`.
Gateway additions: `POST /feedback` (`{"response_id", "rating", "advice_accepted", "text",
"positive_outcome", "action_taken"}` -> `{"accepted"}` or `{"accepted": false, "reason"}`) and
`GET /rollout` (figures; the rollout id only with the admin token). A request with
`X-Crucible-No-Log: 1` (or `"no_log": true` in the body) is never published as an interaction.

Sticky assignment needs a user id: the `X-Crucible-User` header (or OpenAI's `user` field).
Every answer carries `X-Crucible-Response-Id` (quote it in `/feedback`) and `X-Crucible-Variant`;
the OpenAI `id` field is the response id too.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as Path

from crucible.gateway import __version__
from crucible.gateway.client_auth import ClientAuth, RequireClientToken
from crucible.gateway.feedback_desk import UNAUTHENTICATED, FeedbackInput
from crucible.gateway.http_dispatch import Endpoint, JSONBody, PostRoutes, header
from crucible.gateway.interactions import OPT_OUT_HEADER, note_opt_out
from crucible.gateway.responses import Route, Served
from crucible.gateway.router import Router
from crucible.gateway.transport import BackendError

USER_HEADER = "x-crucible-user"
VERSION = __version__


def _error(status: int, message: str, error_type: str = "generation") -> JSONResponse:
    return JSONBody({"error": message, "error_type": error_type}, status_code=status)


def _tgi_error(exc: BackendError) -> JSONResponse:
    """TGI's error shape; a client's own error keeps its status and type (422 `validation`)."""
    return _error(exc.status, str(exc), exc.error_type if exc.client_error else _server_error_type(exc.status))


def _server_error_type(status: int) -> str:
    return {429: "overloaded", 503: "unavailable", 504: "timeout"}.get(status, "generation")


def _openai_error(exc: BackendError) -> JSONResponse:
    """OpenAI's error shape: `invalid_request_error` for the client's own errors (the SDKs raise
    BadRequestError / UnprocessableEntityError and do not retry them)."""
    kind = "invalid_request_error" if exc.client_error else _server_error_type(exc.status) + "_error"
    body = {"error": {"message": str(exc), "type": kind, "param": None, "code": str(exc.status)}}
    return JSONBody(body, status_code=exc.status)


def _headers(route: Route) -> dict[str, str]:
    return {
        "x-crucible-response-id": route.response_id,
        "x-crucible-variant": route.variant,
        "x-crucible-model": route.model,
    }


_USER_KEY = USER_HEADER.encode("latin-1")
_OPT_OUT_KEY = OPT_OUT_HEADER.encode("latin-1")


def _sse(obj: Any) -> bytes:
    return b"data:" + orjson.dumps(obj) + b"\n\n"


def _client_body(body: dict[str, Any], wants_details: bool) -> dict[str, Any]:
    return body if wants_details else {"generated_text": body.get("generated_text", "")}


async def _first_then_rest(
    stream: AsyncIterator[tuple[Route, dict[str, Any]]],
) -> tuple[Route, dict[str, Any], AsyncIterator[tuple[Route, dict[str, Any]]]]:
    """Pull the first event before answering, so a backend that fails at once (after the canary
    retry) becomes a proper HTTP error instead of a 200 with an error event."""
    route, first = await stream.__anext__()
    return route, first, stream


def _optional_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def create_app(
    gateway: Router,
    rollout_status: Callable[[], Awaitable[dict[str, Any]]],
    *,
    admin_token: str | None = None,
    clients: ClientAuth | None = None,
) -> Any:
    """The ASGI app. Plain Starlette: a proxy's cost is its CPU per request, and every handler
    takes the raw `Request` and returns a `Response`, so a framework's dependency solving, body
    limits and exit stacks per request would be pure overhead (issue 17 measures it against a
    bare relay); the POST routes skip even Starlette's stack (`PostRoutes`). Spans per request
    only when traces are exported (`http_tracing.py`)."""
    paths: list[Path] = []
    posts: dict[str, Endpoint] = {}
    started_at = time.time()

    def post(path: str) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            paths.append(Path(path, endpoint, methods=["POST"]))
            posts[path] = endpoint
            return endpoint

        return register

    def get(path: str) -> Callable[[Callable[[], Awaitable[Any]]], Callable[[], Awaitable[Any]]]:
        """A GET route whose handler takes nothing and returns a Response or a JSON-able value."""

        def register(handler: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
            async def endpoint(_: Request) -> Response:
                out = await handler()
                return out if isinstance(out, Response) else JSONBody(out)

            paths.append(Path(path, endpoint, methods=["GET"]))
            return handler

        return register

    async def tgi_generate(payload: dict[str, Any], user: str) -> tuple[Served | None, Response | None]:
        """(served, None) or (None, an error response)."""
        try:
            return await gateway.generate(payload.get("inputs"), payload.get("parameters"), user), None
        except BackendError as exc:
            return None, _tgi_error(exc)

    async def tgi_stream(payload: dict[str, Any], user: str) -> Response:
        params = payload.get("parameters")
        wants_details = isinstance(params, dict) and bool(params.get("details"))
        try:
            route, first, rest = await _first_then_rest(gateway.generate_stream(payload.get("inputs"), params, user))
        except BackendError as exc:
            return _tgi_error(exc)
        except StopAsyncIteration:
            return _error(502, "the backend closed the stream without a token")

        def shape(event: dict[str, Any]) -> dict[str, Any]:
            if not wants_details and event.get("details") is not None:
                event = {**event, "details": None}
            return event

        async def body() -> AsyncIterator[bytes]:
            yield _sse(shape(first))
            try:
                async for _, event in rest:
                    yield _sse(shape(event))
            except BackendError as exc:
                yield _sse({"error": str(exc), "error_type": "generation"})

        return StreamingResponse(body(), media_type="text/event-stream", headers=_headers(route))

    async def openai_stream(
        stream: AsyncIterator[tuple[Route, dict[str, Any]]], payload: dict[str, Any], count_key: str
    ) -> Response:
        """Relay an OpenAI stream with the response id as `id`; the usage chunk (the gateway always
        asks the backend for one) reaches only clients that asked with `stream_options`."""
        options = payload.get("stream_options")
        wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        try:
            route, first, rest = await _first_then_rest(stream)
        except BackendError as exc:
            return _openai_error(exc)
        except StopAsyncIteration:
            return _openai_error(BackendError("the backend closed the stream without a chunk"))

        def shape(event: dict[str, Any]) -> dict[str, Any]:
            return {**event, "id": route.response_id, "model": route.model}

        async def body() -> AsyncIterator[bytes]:
            usage_sent = False
            pieces = 0
            try:
                async for _, event in _chain(first, rest):
                    if event.get("usage") and not event.get("choices"):
                        if wants_usage:
                            usage_sent = True
                            yield _sse(shape(event))
                        continue
                    pieces += 1 if (event.get("choices") or [{}])[0].get(count_key) else 0
                    yield _sse(shape(event))
            except BackendError as exc:
                yield _sse({"error": {"message": str(exc), "type": "server_error"}})
                return
            if wants_usage and not usage_sent:  # a backend without usage chunks: counted chunks
                usage = {"prompt_tokens": 0, "completion_tokens": pieces, "total_tokens": pieces}
                yield _sse(shape({"object": first.get("object", ""), "choices": [], "usage": usage}))
            yield b"data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream", headers=_headers(route))

    def user_of(request: Request, body: dict[str, Any] | None = None) -> str:
        return header(request, _USER_KEY) or str((body or {}).get("user") or "")

    limit = gateway.policy.limits.max_body_bytes

    async def read_json(request: Request) -> dict[str, Any] | Response:
        """The JSON object body, or the error response (413 over the size limit, never read whole)."""
        declared = header(request, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            gateway.refuse(BackendError("too large", status=413, client_error=True))
            return _error(413, f"the body is {declared} bytes; the limit is {limit}", "validation")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                gateway.refuse(BackendError("too large", status=413, client_error=True))
                return _error(413, f"the body is over the limit of {limit} bytes", "validation")
        try:
            data = orjson.loads(raw)
        except ValueError:  # orjson.JSONDecodeError too
            data = None
        if not isinstance(data, dict):
            return _error(422, "the body must be a JSON object", "validation")
        note_opt_out(header(request, _OPT_OUT_KEY), data)
        return data

    @post("/generate")
    async def generate(request: Request) -> Response:
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        served, failed = await tgi_generate(payload, user_of(request))
        if served is None:
            return failed
        wants_details = bool((payload.get("parameters") or {}).get("details"))
        return JSONBody(_client_body(served.body, wants_details), headers=_headers(served.route))

    @post("/generate_stream")
    async def generate_stream(request: Request) -> Response:
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        return await tgi_stream(payload, user_of(request))

    @post("/")
    async def compat(request: Request) -> Response:
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        if payload.get("stream"):
            return await tgi_stream(payload, user_of(request))
        served, failed = await tgi_generate(payload, user_of(request))
        if served is None:
            return failed
        wants_details = bool((payload.get("parameters") or {}).get("details"))
        return JSONBody([_client_body(served.body, wants_details)], headers=_headers(served.route))

    @get("/health")
    async def health() -> Response:
        backend = gateway.backends.get("stable")
        if backend is not None and await backend.health():
            return Response(status_code=200)
        return _error(503, "stable backend unavailable", "unhealthy")

    @get("/info")
    async def info() -> dict[str, Any]:
        stable = gateway.state.stable
        return {
            "model_id": stable.model if stable else "",
            "model_sha": None,
            "model_dtype": "unknown",
            "model_device_type": "gateway",
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 512,
            "max_best_of": 1,
            "max_stop_sequences": 4,
            "max_input_tokens": 4096,
            "max_total_tokens": 8192,
            "validation_workers": 1,
            "max_client_batch_size": 1,
            "router": "crucible-gateway",
            "version": VERSION,
            "sha": None,
            "docker_label": None,
        }

    async def openai_call(request: Request, answer: Any, stream: Any, count_key: str) -> Response:
        """An OpenAI route: one answer, or a stream; the response id is the answer's `id`."""
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        user = user_of(request, payload)
        if payload.get("stream"):
            return await openai_stream(stream(payload, user), payload, count_key)
        try:
            served = await answer(payload, user)
        except BackendError as exc:
            return _openai_error(exc)
        body = {**served.body, "id": served.route.response_id, "model": served.route.model}
        return JSONBody(body, headers=_headers(served.route))

    @post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await openai_call(request, gateway.chat, gateway.chat_stream, "delta")

    @post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await openai_call(request, gateway.complete, gateway.complete_stream, "text")

    @get("/v1/models")
    async def models() -> dict[str, Any]:
        """What a client may name: the stable and canary variants' models (and what serves)."""
        created = int(started_at)
        names = list(dict.fromkeys(b.spec.model for b in gateway.backends.values()))
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": created, "owned_by": "crucible"} for n in names],
        }

    clients = clients or ClientAuth({})

    @post("/feedback")
    async def feedback(request: Request) -> Response:
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        authorization = request.headers.get("authorization", "")
        if gateway.policy.feedback.require_client_token and clients.client_of(authorization) is None:
            gateway.desk.refuse(UNAUTHENTICATED)
            return JSONBody({"accepted": False, "reason": UNAUTHENTICATED}, status_code=401)
        try:
            verdict = await gateway.desk.submit(
                FeedbackInput(
                    response_id=str(payload.get("response_id", "")),
                    rating=int(payload.get("rating", 0)),
                    advice_accepted=bool(payload.get("advice_accepted", False)),
                    text=str(payload.get("text", "")),
                    positive_outcome=_optional_bool(payload.get("positive_outcome")),
                    action_taken=_optional_bool(payload.get("action_taken")),
                    user_id=request.headers.get(USER_HEADER) or str(payload.get("user") or ""),
                ),
                clients.caller(authorization, request.client.host if request.client else ""),
            )
        except (TypeError, ValueError) as exc:
            return _error(422, str(exc), "validation")
        body: dict[str, Any] = {"accepted": verdict.accepted}
        if not verdict.accepted:
            body["reason"] = verdict.reason
        return JSONBody(body, status_code=429 if verdict.reason == "rate_limited" else 200)

    async def rollout(request: Request) -> Response:
        """Figures for anyone; the rollout id only for the admin token's holder."""
        status = await rollout_status()
        given = request.headers.get("authorization", "")
        if (
            admin_token
            and given.startswith("Bearer ")
            and hmac.compare_digest(given[7:].encode(), admin_token.encode())
        ):
            return JSONBody(status)
        return JSONBody({k: v for k, v in status.items() if k != "rollout_id"})

    paths.append(Path("/rollout", rollout, methods=["GET"]))

    @get("/metrics")
    async def prometheus_metrics() -> Response:
        gateway.settle()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app: Any = PostRoutes(Starlette(routes=paths), posts)
    # Outermost last, as Starlette's `add_middleware` stacks them: tracing sees the 401s too.
    if gateway.policy.feedback.require_client_token_for_generation:
        app = RequireClientToken(app, clients=clients)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from crucible.gateway.http_tracing import TracingMiddleware

        app = TracingMiddleware(app)
    return app


async def _chain(
    first: dict[str, Any], rest: AsyncIterator[tuple[Route, dict[str, Any]]]
) -> AsyncIterator[tuple[None, dict[str, Any]]]:
    yield None, first
    async for _, event in rest:
        yield None, event
