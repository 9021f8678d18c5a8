"""Training-file formats: one JSON object per line, one file per split and format.

- chat:     {"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}  (OpenAI fine-tuning)
- alpaca:   {"instruction", "input", "output"}
- sharegpt: {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}
- seed:     {"instruction", "input", "output", "metadata": {...}}  (the seeds' processed_data schema)

Every example ends with the last assistant turn that follows a user turn; later turns are cut.
The app's "partner" turns speak on the user side, so they are user messages marked "[Partner]".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from crucible.v1 import records_pb2

# Context keys copied into the prompt's input: non-identifying, and useful to the model.
PROMPT_CONTEXT_KEYS = (
    "relationship_stage",
    "relationship_type",
    "love_language",
    "topic",
    "activity_type",
    "quiz_name",
    "culture",
    "language",
)
_ROLE_LABELS = {"user": "User", "assistant": "Coach", "partner": "Partner"}


def dialogue(record: records_pb2.Record) -> list[tuple[str, str]]:
    """(role, text) pairs with role user/assistant, ending on the final assistant reply."""
    turns: list[tuple[str, str]] = []
    for turn in record.turns:
        text = turn.text.strip()
        if not text or turn.role == "system":
            continue
        if turn.role == "partner":
            turns.append(("user", f"[Partner] {text}"))
        elif turn.role == "assistant":
            turns.append(("assistant", text))
        else:
            turns.append(("user", text))
    while turns and turns[-1][0] != "assistant":
        turns.pop()
    # A reply with no question before it teaches nothing: start at the first user turn.
    while turns and turns[0][0] != "user":
        turns.pop(0)
    return turns


def context_line(context: Mapping[str, str]) -> str:
    parts = []
    for key in PROMPT_CONTEXT_KEYS:
        value = context.get(key, "").strip()
        if value:
            parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def instruction_parts(turns: Sequence[tuple[str, str]], context: Mapping[str, str]) -> tuple[str, str, str]:
    """(instruction, input, output): the last user message(s), the context plus earlier turns, the reply."""
    # The trailing run of assistant turns is the reply; the run of user turns before it, the instruction.
    end = len(turns)
    while end > 0 and turns[end - 1][0] == "assistant":
        end -= 1
    start = end
    while start > 0 and turns[start - 1][0] == "user":
        start -= 1
    output = "\n\n".join(text for _, text in turns[end:])
    instruction = "\n".join(text for _, text in turns[start:end])
    earlier = turns[:start]
    pieces = []
    ctx = context_line(context)
    if ctx:
        pieces.append(f"Context: {ctx}")
    if earlier:
        pieces.append("Earlier in the conversation:\n" + "\n".join(f"{_label(r)}: {t}" for r, t in earlier))
    return instruction, "\n\n".join(pieces), output


def _label(role: str) -> str:
    return _ROLE_LABELS.get(role, role.title())


def complexity(turns: Sequence[tuple[str, str]]) -> int:
    """1-5: grows with the number of turns and the length of the reply (seed metadata field)."""
    reply_words = len(turns[-1][1].split())
    score = 1 + min(len(turns) // 4, 2) + (1 if reply_words > 60 else 0) + (1 if reply_words > 150 else 0)
    return min(score, 5)


@dataclass(frozen=True, slots=True)
class Example:
    """A record reduced to what the formats need, computed once per record for every format."""

    turns: list[tuple[str, str]]
    instruction: str
    input: str
    output: str
    metadata: dict[str, Any]


def to_example(record: records_pb2.Record) -> Example:
    turns = dialogue(record)
    context = dict(record.context)  # one copy out of the protobuf map: many lookups follow
    instruction, input_, output = instruction_parts(turns, context)
    created = record.created_at.ToJsonString() if record.HasField("created_at") else ""
    return Example(
        turns=turns,
        instruction=instruction,
        input=input_,
        output=output,
        metadata={
            "category": record.category,
            "quality_score": round(record.quality.total, 4),
            "relationship_stage": context.get("relationship_stage", ""),
            "complexity": complexity(turns),
            "created_at": created,
            "source": "synthetic" if record.source.table == "synthetic" else "user_generated",
            "record_id": record.record_id,
        },
    )


def _chat(ex: Example, system_prompt: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}]
    messages += [{"role": role, "content": text} for role, text in ex.turns]
    return {"messages": messages}


def _alpaca(ex: Example, system_prompt: str) -> dict[str, Any]:
    return {"instruction": ex.instruction, "input": ex.input, "output": ex.output}


_SHAREGPT_NAMES = {"user": "human", "assistant": "gpt"}


def _sharegpt(ex: Example, system_prompt: str) -> dict[str, Any]:
    conversations = [{"from": "system", "value": system_prompt}]
    conversations += [{"from": _SHAREGPT_NAMES[role], "value": text} for role, text in ex.turns]
    return {"conversations": conversations}


def _seed(ex: Example, system_prompt: str) -> dict[str, Any]:
    return {"instruction": ex.instruction, "input": ex.input, "output": ex.output, "metadata": ex.metadata}


RENDERERS: dict[str, Callable[[Example, str], dict[str, Any]]] = {
    "chat": _chat,
    "alpaca": _alpaca,
    "sharegpt": _sharegpt,
    "seed": _seed,
}


def render_jsonl(examples: Iterable[Example], fmt: str, system_prompt: str) -> bytes:
    """One split in one format as UTF-8 JSON lines, compact and deterministic (insertion key order).

    orjson is used for speed (about 5x the standard library here, measured in the bench); the tests
    check every line against the standard library's json as the oracle."""
    render = RENDERERS[fmt]
    lines = [orjson.dumps(render(ex, system_prompt)) for ex in examples]
    return _escape_line_separators(b"\n".join(lines) + b"\n") if lines else b""


def render_jsonl_stdlib(examples: Iterable[Example], fmt: str, system_prompt: str) -> bytes:
    """The same bytes with the standard library (the oracle for render_jsonl, and the bench's baseline)."""
    render = RENDERERS[fmt]
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = [encode(render(ex, system_prompt)) for ex in examples]
    return _escape_line_separators(("\n".join(lines) + "\n").encode("utf-8")) if lines else b""


# The line encoder the build uses: the same bytes as `render_jsonl` (its test oracle), assembled from
# each string encoded once. The formats share their strings (chat and sharegpt the turns; alpaca and
# seed the instruction, input and output), so encoding each once and joining constant key fragments
# costs about half of building four dicts and encoding each whole.
_CHAT_TURN = {"user": b',{"role":"user","content":', "assistant": b',{"role":"assistant","content":'}
_SHAREGPT_TURN = {"user": b',{"from":"human","value":', "assistant": b',{"from":"gpt","value":'}


def encode_example(ex: Example, formats: Sequence[str], system_prompt: str) -> list[bytes]:
    """One JSON line (no newline, U+2028/U+2029 not yet escaped) per format in `formats`, byte for byte
    what `orjson.dumps(RENDERERS[fmt](ex, system_prompt))` gives."""
    dumps = orjson.dumps
    system_prompt_json = dumps(system_prompt)
    out: list[bytes] = []
    turns: list[bytes] | None = None
    fields: bytes | None = None
    for fmt in formats:
        if fmt in ("chat", "sharegpt"):
            if turns is None:
                turns = [dumps(text) for _, text in ex.turns]
            if fmt == "chat":
                head, frags = b'{"messages":[{"role":"system","content":', _CHAT_TURN
            else:
                head, frags = b'{"conversations":[{"from":"system","value":', _SHAREGPT_TURN
            parts = [head, system_prompt_json, b"}"]
            for (role, _), text in zip(ex.turns, turns, strict=True):
                parts += (frags[role], text, b"}")
            parts.append(b"]}")
            out.append(b"".join(parts))
        elif fmt in ("alpaca", "seed"):
            if fields is None:
                fields = b"".join(
                    (
                        b'{"instruction":',
                        dumps(ex.instruction),
                        b',"input":',
                        dumps(ex.input),
                        b',"output":',
                        dumps(ex.output),
                    )
                )
            out.append(fields + b"}" if fmt == "alpaca" else fields + b',"metadata":' + dumps(ex.metadata) + b"}")
        else:
            out.append(dumps(RENDERERS[fmt](ex, system_prompt)))
    return out


_LS, _PS = "\u2028".encode(), "\u2029".encode()


def _escape_line_separators(data: bytes) -> bytes:
    """U+2028/U+2029 are valid raw inside JSON strings, but str.splitlines() (and JavaScript) treat them
    as line breaks and would cut a JSONL line in two; escaped they mean the same and cannot."""
    if _LS in data or _PS in data:
        data = data.replace(_LS, b"\\u2028").replace(_PS, b"\\u2029")
    return data
