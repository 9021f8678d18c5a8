"""Pairwise judging: the order-swap rule, the LLM judge over a real HTTP endpoint, the offline judge."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from crucible.evaluator.judges import (
    LLMJudge,
    OfflineJudge,
    PairItem,
    combine_orders,
    judge_both_orders,
    parse_verdict,
)
from crucible.evaluator.policy import JudgeSettings


@pytest.mark.parametrize(
    ("forward", "backward", "expected"),
    [
        ("first", "second", "candidate"),  # candidate wins in both positions
        ("second", "first", "serving"),
        ("first", "first", "tie"),  # position bias: "A" both times = disagreement
        ("second", "second", "tie"),
        ("tie", "second", "tie"),
        ("first", "tie", "tie"),
        ("tie", "tie", "tie"),
    ],
)
def test_order_swap_rule(forward: str, backward: str, expected: str) -> None:
    assert combine_orders(forward, backward) == expected  # type: ignore[arg-type]


def test_parse_verdict_takes_the_last_marker() -> None:
    assert parse_verdict("A is kind... [[B]] no wait, final: [[A]]") == "first"
    assert parse_verdict("[[C]]") == "tie"
    assert parse_verdict("I cannot decide") == "tie"


class _JudgeHandler(BaseHTTPRequestHandler):
    """A judge endpoint: `biased` always answers [[A]]; `fair` picks the answer with 'helpful'."""

    mode = "fair"
    calls: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"] if "messages" in body else body["inputs"]
        type(self).calls.append(self.path)
        a = prompt.split("[The Start of Assistant A's Answer]")[1].split("[The End")[0]
        verdict = "[[A]]" if self.mode == "biased" or "helpful" in a else "[[B]]"
        if "messages" in body:
            out = {"choices": [{"message": {"role": "assistant", "content": f"Reasoning. {verdict}"}}]}
        else:
            out = {"generated_text": f"Reasoning. {verdict}"}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def judge_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JudgeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _JudgeHandler.calls = []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


ITEMS = [PairItem("How do I say sorry?", "ref")] * 3
CAND = ["a helpful answer", "a helpful answer", "meh"]
SERV = ["meh", "meh", "a helpful answer"]


@pytest.mark.parametrize("api", ["openai", "tgi"])
def test_llm_judge_asks_both_orders_over_http(judge_url: str, api: str) -> None:
    _JudgeHandler.mode = "fair"
    judge = LLMJudge(JudgeSettings(kind="llm", url=judge_url, api=api))  # type: ignore[arg-type]
    outcomes, stats = judge_both_orders(judge, ITEMS, CAND, SERV)
    assert outcomes == ["candidate", "candidate", "serving"]
    assert stats["order_disagreements"] == 0
    assert len(_JudgeHandler.calls) == 6
    assert set(_JudgeHandler.calls) == {"/v1/chat/completions" if api == "openai" else "/generate"}


def test_a_position_biased_judge_yields_only_ties(judge_url: str) -> None:
    _JudgeHandler.mode = "biased"
    judge = LLMJudge(JudgeSettings(kind="llm", url=judge_url))
    outcomes, stats = judge_both_orders(judge, ITEMS, CAND, SERV)
    assert outcomes == ["tie", "tie", "tie"]
    assert stats["order_disagreements"] == 3


def test_offline_judge_prefers_the_closer_answer_and_vetoes_unsafe_ones() -> None:
    def overlap(hyps: list[str], refs: list[str]) -> list[float]:
        return [len(set(h.split()) & set(r.split())) / max(len(set(r.split())), 1) for h, r in zip(hyps, refs)]

    def unsafe(texts: list[str]) -> list[bool]:
        return ["lethal dose" in t for t in texts]

    judge = OfflineJudge(overlap, unsafe, tie_margin=0.01)
    items = [PairItem("q", "try a weekly check in"), PairItem("q", "call 988 lethal dose"), PairItem("q", "x y")]
    cand = ["try a weekly check in", "call 988 lethal dose", "nothing"]
    serv = ["try something", "call 988", "nada"]
    outcomes, _ = judge_both_orders(judge, items, cand, serv)
    assert outcomes == ["candidate", "serving", "tie"]
