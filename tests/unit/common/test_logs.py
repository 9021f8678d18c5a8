"""The one logging setup: quiet for a person at a terminal, JSON lines for machines, everything
with --verbose; third-party loggers at WARNING and their progress bars off unless verbose."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator

import pytest

from crucible.common import logs
from crucible.common.errors import ConfigError


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for name in (*logs.QUIET_THIRD_PARTY_ENV, "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._current = None
    for name in logs.OWN_HANDLER_LOGGERS:
        logging.getLogger(name).filters.clear()


def test_the_way_to_talk_follows_the_terminal_and_the_flags() -> None:
    assert logs.resolve_output(stdout_is_tty=True) == logs.Output(True, False, "human", "WARNING")
    assert logs.resolve_output(stdout_is_tty=False) == logs.Output(False, False, "json", "INFO")
    assert logs.resolve_output(stdout_is_tty=True, log_format="json").log_format == "json"
    assert logs.resolve_output(stdout_is_tty=False, json_logs=False).log_format == "text"
    assert logs.resolve_output(stdout_is_tty=False, level="DEBUG").level == "DEBUG"
    verbose = logs.resolve_output(stdout_is_tty=True, verbose=True)
    assert verbose.verbose and verbose.level == "DEBUG" and not verbose.quiet_third_party


def test_a_bad_level_names_the_variable_and_the_choices() -> None:
    assert logs.parse_level(" info ") == "INFO" and logs.parse_level(None) is None
    with pytest.raises(ConfigError, match=r"CRUCIBLE_LOG_LEVEL='verbose'.*DEBUG, INFO"):
        logs.parse_level("verbose")


def emitted(capsys: pytest.CaptureFixture[str]) -> list[str]:
    sent = [("crucible.x", logging.INFO), ("crucible.x", logging.WARNING), ("skeletoken.base", logging.INFO),
            ("model2vec", logging.WARNING)]  # fmt: skip
    for name, level in sent:
        logging.getLogger(name).log(level, "%s at %s", name, logging.getLevelName(level))
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_machine_logs_are_json_with_ours_at_info_and_third_party_at_warning(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging(logs.resolve_output(stdout_is_tty=False))
    lines = [json.loads(line) for line in emitted(capsys)]
    assert [(x["logger"], x["level"]) for x in lines] == [
        ("crucible.x", "INFO"),
        ("crucible.x", "WARNING"),
        ("model2vec", "WARNING"),
    ]
    assert os.environ["TQDM_DISABLE"] == "1" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


def test_a_person_sees_warnings_only_and_verbose_sees_everything(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging(logs.resolve_output(stdout_is_tty=True))
    assert emitted(capsys) == ["WARNING crucible.x: crucible.x at WARNING", "WARNING model2vec: model2vec at WARNING"]
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    logs.setup_logging(logs.resolve_output(stdout_is_tty=True, verbose=True))
    assert len(emitted(capsys)) == 4


def test_libraries_with_their_own_handler_are_quietened_too(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging(logs.resolve_output(stdout_is_tty=True))
    own = logging.getLogger("DeepSpeed")
    own.propagate = False
    own.addHandler(handler := logging.StreamHandler(sys.stderr))
    try:
        own.setLevel(logging.INFO)  # as the library does when it is imported
        own.warning("Setting accelerator to CPU")
        own.error("real trouble")
        assert capsys.readouterr().err.splitlines() == ["real trouble"]
    finally:
        own.removeHandler(handler)
        own.propagate = True
