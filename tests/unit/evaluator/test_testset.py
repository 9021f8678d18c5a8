"""Reading the test split: chat JSONL into (prompt, reference) examples; finding it in a manifest."""

from __future__ import annotations

import json

import pytest

from crucible.evaluator.testset import TestSetError, examples_from_lines, find_test_split_key


def test_prompt_is_everything_before_the_last_assistant_turn() -> None:
    row = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
                        {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"},
                        {"role": "assistant", "content": "A2"}]}  # fmt: skip
    (ex,) = examples_from_lines([json.dumps(row)], "t")
    assert ex.reference == "A2"
    assert [m["content"] for m in ex.prompt] == ["S", "U1", "A1", "U2"]
    assert ex.last_user_text() == "U2"


def test_bad_lines_name_the_line() -> None:
    with pytest.raises(TestSetError, match="t:2: not JSON"):
        examples_from_lines(['{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}',
                             "{oops"], "t")  # fmt: skip
    with pytest.raises(TestSetError, match="needs an assistant turn"):
        examples_from_lines([json.dumps({"messages": [{"role": "user", "content": "a"}]})], "t")
    with pytest.raises(TestSetError, match="empty"):
        examples_from_lines([""], "t")


def test_finds_the_chat_test_file_in_the_dataset_manifest_layout() -> None:
    manifest = {"files": {
        "train.chat.jsonl": {"split": "train", "format": "chat"},
        "test.alpaca.jsonl": {"split": "test", "format": "alpaca"},
        "test.chat.jsonl": {"split": "test", "format": "chat"},
        "report.md": {"bytes": 3},
    }}  # fmt: skip
    assert find_test_split_key(manifest) == "test.chat.jsonl"


def test_finds_the_test_file_in_other_layouts_and_fails_clearly_without_one() -> None:
    layout = {"splits": {"test": "d/v1/test.jsonl", "train": "d/v1/train.jsonl"}}
    assert find_test_split_key(layout) == "d/v1/test.jsonl"
    assert find_test_split_key({"outputs": [{"path": "x/test.alpaca.jsonl"}, {"path": "x/test.chat.jsonl"}]}) == (
        "x/test.chat.jsonl"
    )
    with pytest.raises(TestSetError, match="no test split"):
        find_test_split_key({"files": {"train.chat.jsonl": {"split": "train", "format": "chat"}}})
