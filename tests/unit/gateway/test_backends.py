"""The backend client is swappable: the same gateway calls drive an OpenAI-compatible server
(vLLM/SGLang shape) and come back in TGI's shapes."""

import asyncio

import pytest

from crucible.gateway.backends import make_backend
from crucible.gateway.fake_backend import FakeBackend, FakeBehaviour
from crucible.gateway.state import BackendSpec
from crucible.gateway.transport import BackendError, new_http_client

TEXT = FakeBehaviour().text


def test_openai_compatible_backend_speaks_tgi_shapes():
    async def go():
        fake = await FakeBackend(FakeBehaviour(delay_seconds=0)).start()
        client = new_http_client(10)
        try:
            backend = make_backend(BackendSpec("m", fake.url, kind="openai"), client)
            out = await backend.generate("hi", {"max_new_tokens": 8})
            events = [e async for e in backend.generate_stream("hi", {"max_new_tokens": 8})]
            chat = await backend.chat({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
            healthy = await backend.health()
        finally:
            await client.close()
            await fake.stop()
        return out, events, chat, healthy

    out, events, chat, healthy = asyncio.run(go())
    assert out["generated_text"] == TEXT
    assert out["details"] == {
        "finish_reason": "length",
        "generated_tokens": 8,
        "seed": None,
        "prefill": [],
        "tokens": [],
    }
    assert "".join(e["token"]["text"] for e in events) == TEXT
    assert events[-1]["generated_text"] == TEXT and events[-1]["details"]["finish_reason"] == "length"
    assert chat["choices"][0]["message"]["content"] == TEXT and healthy


@pytest.mark.parametrize("kind", ["tgi", "openai"])
def test_failures_raise_backend_error(kind):
    async def go():
        fake = await FakeBackend(FakeBehaviour(delay_seconds=0, error_rate=1.0)).start()
        client = new_http_client(10)
        try:
            backend = make_backend(BackendSpec("m", fake.url, kind=kind), client)
            with pytest.raises(BackendError) as err:
                await backend.generate("hi", {"max_new_tokens": 8})
            assert "500" in str(err.value)
            await fake.stop()
            with pytest.raises(BackendError):  # connection refused
                await backend.generate("hi", {"max_new_tokens": 8})
        finally:
            await client.close()

    asyncio.run(go())


def test_sse_error_event_after_200_is_a_mid_stream_error():
    async def go():
        fake = await FakeBackend(FakeBehaviour(delay_seconds=0, midstream_error_rate=1.0)).start()
        client = new_http_client(10)
        got = []
        try:
            backend = make_backend(BackendSpec("m", fake.url), client)
            with pytest.raises(BackendError) as err:
                async for event in backend.generate_stream("hi", {"max_new_tokens": 8}):
                    got.append(event)
        finally:
            await client.close()
            await fake.stop()
        return got, err.value

    got, error = asyncio.run(go())
    assert got and error.mid_stream and "injected mid-stream failure" in str(error)
