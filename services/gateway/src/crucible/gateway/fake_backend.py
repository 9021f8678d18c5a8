"""A fake TGI backend for the benchmark and for fault injection in tests: it answers every
request after a fixed delay with a fixed text, and can fail on purpose (HTTP 500, or an SSE
error event after a 200). It is a test double, never a serving path.

Written on bare asyncio (HTTP/1.1 keep-alive, Content-Length bodies) so that it costs far less
CPU than the gateway it is used to measure.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass


@dataclass
class FakeBehaviour:
    delay_seconds: float = 0.02
    text: str = "You two could try a short walk together tonight."
    tokens: int = 8
    error_rate: float = 0.0  # share of requests answered with HTTP 500
    midstream_error_rate: float = 0.0  # share of streams that send an error event after some tokens
    seed: int = 0
    # Like TGI: a negative temperature is the client's error (422 TGI / 400 OpenAI routes); with
    # `close_after_client_error` the connection is then dropped without notice, as some servers do.
    close_after_client_error: bool = False


def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    reason = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        422: "Unprocessable Entity",
        500: "Internal Server Error",
    }.get(status, "OK")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class FakeBackend:
    def __init__(self, behaviour: FakeBehaviour | None = None) -> None:
        self.behaviour = behaviour or FakeBehaviour()
        self.requests = 0
        self.last_parameters: dict | None = None
        self._rng = random.Random(self.behaviour.seed)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FakeBackend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    def _words(self) -> list[str]:
        words = self.behaviour.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                refused = await self._handle(method, path, body, writer)
                await writer.drain()
                if refused and self.behaviour.close_after_client_error:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handle(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True when it was refused as the client's error."""
        b = self.behaviour
        if method == "GET":
            if path in ("/health", "/v1/models"):
                writer.write(_response(200, b"{}"))
            elif path == "/info":
                writer.write(_response(200, json.dumps({"model_id": "fake"}).encode()))
            else:
                writer.write(_response(404, b"{}"))
            return False
        self.requests += 1
        payload = json.loads(body or b"{}")
        self.last_parameters = payload.get("parameters")
        temperature = (payload.get("parameters") or payload).get("temperature")
        if isinstance(temperature, int | float) and temperature < 0:
            if path.startswith("/v1/"):
                err = {"object": "error", "message": "temperature must be non-negative", "type": "BadRequestError"}
                writer.write(_response(400, json.dumps(err).encode()))
            else:
                err = {
                    "error": "Input validation error: `temperature` must be strictly positive",
                    "error_type": "validation",
                }
                writer.write(_response(422, json.dumps(err).encode()))
            return True
        if b.delay_seconds:
            await asyncio.sleep(b.delay_seconds)
        if b.error_rate and self._rng.random() < b.error_rate:
            writer.write(_response(500, json.dumps({"error": "injected", "error_type": "generation"}).encode()))
            return False
        if path == "/v1/chat/completions":
            await self._chat(payload, writer)
        elif path == "/v1/completions":
            await self._completion(payload, writer)
        elif path == "/generate_stream" or (path == "/" and payload.get("stream")):
            await self._stream(writer)
        elif path in ("/generate", "/"):
            out = {
                "generated_text": b.text,
                "details": {
                    "finish_reason": "length",
                    "generated_tokens": b.tokens,
                    "seed": None,
                    "prefill": [],
                    "tokens": [
                        {"id": i + 1, "text": w, "logprob": 0.0, "special": False} for i, w in enumerate(self._words())
                    ],
                },
            }
            data = json.dumps([out] if path == "/" else out).encode()
            writer.write(_response(200, data))
        else:
            writer.write(_response(404, b"{}"))
        return False

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
            b"connection: keep-alive\r\n\r\n"
        )
        words = self._words()
        fail_at = len(words) // 2 if self._rng.random() < self.behaviour.midstream_error_rate else -1
        for i, word in enumerate(words):
            if i == fail_at:
                event = {"error": "injected mid-stream failure", "error_type": "generation"}
                writer.write(_chunk(b"data:" + json.dumps(event).encode() + b"\n\n"))
                break
            last = i == len(words) - 1
            event = {
                "index": i + 1,
                "token": {"id": i + 1, "text": word, "logprob": 0.0, "special": False},
                "top_tokens": None,
                "generated_text": self.behaviour.text if last else None,
                "details": {"finish_reason": "length", "generated_tokens": len(words), "seed": None} if last else None,
            }
            writer.write(_chunk(b"data:" + json.dumps(event).encode() + b"\n\n"))
        writer.write(b"0\r\n\r\n")

    async def _completion(self, payload: dict, writer: asyncio.StreamWriter) -> None:
        """OpenAI `/v1/completions` (what vLLM and SGLang serve), plain or streamed."""
        if not payload.get("stream"):
            out = {
                "id": "fake",
                "object": "text_completion",
                "model": payload.get("model", ""),
                "choices": [{"index": 0, "text": self.behaviour.text, "finish_reason": "length", "logprobs": None}],
                "usage": {"prompt_tokens": 4, "completion_tokens": self.behaviour.tokens},
            }
            writer.write(_response(200, json.dumps(out).encode()))
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
            b"connection: keep-alive\r\n\r\n"
        )
        words = self._words()
        for i, word in enumerate(words):
            finish = "length" if i == len(words) - 1 else None
            chunk = {
                "id": "fake",
                "object": "text_completion",
                "choices": [{"index": 0, "text": word, "finish_reason": finish}],
            }
            writer.write(_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n"))
        writer.write(_chunk(b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")

    async def _chat(self, payload: dict, writer: asyncio.StreamWriter) -> None:
        text = self.behaviour.text
        if not payload.get("stream"):
            out = {
                "id": "fake",
                "object": "chat.completion",
                "created": 0,
                "model": payload.get("model", "tgi"),
                "system_fingerprint": "fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "length",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": 4,
                    "completion_tokens": self.behaviour.tokens,
                    "total_tokens": 4 + self.behaviour.tokens,
                },
            }
            writer.write(_response(200, json.dumps(out).encode()))
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
            b"connection: keep-alive\r\n\r\n"
        )
        words = self._words()
        for i, word in enumerate(words):
            last = i == len(words) - 1
            chunk = {
                "id": "fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": payload.get("model", "tgi"),
                "system_fingerprint": "fake",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": word},
                        "logprobs": None,
                        "finish_reason": "length" if last else None,
                    }
                ],
            }
            writer.write(_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n"))
        writer.write(_chunk(b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")


async def _serve_forever(port: int, delay: float) -> None:
    backend = await FakeBackend(FakeBehaviour(delay_seconds=delay)).start(port)
    print(backend.port, flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """`python -m crucible.gateway.fake_backend --port N --delay S` (the benchmark's backend)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args()

    asyncio.run(_serve_forever(args.port, args.delay))


if __name__ == "__main__":
    main()
