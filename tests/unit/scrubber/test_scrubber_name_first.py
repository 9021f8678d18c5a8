"""Names English uses above all as names ("john", "sarah"): derived with spaCy, stored, and read by
the rules for messages typed without capitals."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crucible.scrubber.cli import register_cli
from crucible.scrubber.detect import Detector
from crucible.scrubber.name_first import NAME_FIRST_FILE, is_name_first, name_first_words


def _typed(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.entity_type) for s in detector.detect(text)]


def test_the_rule_wants_a_proper_noun_a_person_and_no_date_or_place() -> None:
    person = ("PROPN", "PERSON")
    assert is_name_first([person, person, ("PROPN", ""), ("NOUN", "")])
    assert not is_name_first([person, ("NOUN", "PERSON"), ("NOUN", ""), ("NOUN", "")])  # "mark"
    assert not is_name_first([("PROPN", "DATE")] * 4)  # "june"
    assert not is_name_first([person, person, person, ("PROPN", "GPE")])
    assert not is_name_first([("PROPN", "")] * 4)  # a proper noun, never a person


def test_the_stored_list_is_what_the_command_derives(tmp_path: Path) -> None:
    app = typer.Typer()
    register_cli(app)
    out = tmp_path / "words.txt"
    result = CliRunner().invoke(app, ["scrubber", "derive-name-words", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == NAME_FIRST_FILE.read_text(encoding="utf-8")
    words = name_first_words()
    assert {"john", "sarah", "david", "mary"} <= words
    assert not {"will", "mark", "hope", "grace", "rose", "june", "van", "york"} & words


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("i miss sarah so much", "sarah"),
        ("we went to the park with mary dörschner", "mary dörschner"),
        ("can you ask david to call me back", "david"),
        ("my ex john keeps texting me", "john"),
    ],
)
def test_frequent_names_in_lower_case_messages_are_names(detector: Detector, text: str, name: str) -> None:
    assert _typed(detector, text) == [(name, "PERSON")]


@pytest.mark.parametrize(
    "text",
    ["will you call me later", "i hope so", "thanks ma", "the pope spoke today", "i got a new mark on my arm"],
)
def test_everyday_words_in_lower_case_messages_stay(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []


@pytest.mark.parametrize(("text", "name"), [("Per and I broke up.", "Per"), ("Will and I went home.", "Will")])
def test_whoever_is_coordinated_with_the_writer_is_a_person(detector: Detector, text: str, name: str) -> None:
    assert _typed(detector, text) == [(name, "PERSON")]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my husband jane threatened to kill me", "jane"),  # a relation says a person follows
        ("hi kate how are you", "kate"),
        ("my ex ryan keeps calling", "ryan"),
        ("text me back henry berglund!!", "henry berglund"),  # a rare listed surname after a frequent first name
        ("i miss john nguyễn so much", "john nguyễn"),
    ],
)
def test_lower_case_names_after_a_relation_or_before_a_rare_surname(detector: Detector, text: str, name: str) -> None:
    assert _typed(detector, text) == [(name, "PERSON")]


@pytest.mark.parametrize(
    "text",
    ["my mom lies to me", "my dad said no", "my mom will kill me", "my sister sad again", "we got a golden retriever"],
)
def test_verbs_adjectives_and_nouns_after_a_relation_stay(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []
