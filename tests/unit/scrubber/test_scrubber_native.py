"""The compiled rules (native.py): used only when they match the sources, and they find exactly the
spans the Python source finds."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from faker import Faker

import crucible.scrubber as scrubber_package
from crucible.scrubber import native
from crucible.scrubber.bench import default_dataset
from crucible.scrubber.control import clean_messages


def _fake_package(tmp_path: Path) -> Path:
    package = tmp_path / "scrubber"
    package.mkdir()
    for name in native.COMPILED:
        (package / f"{name}.py").write_text(f"# {name}\n")
    return package


def _stamp(package: Path) -> None:
    (package / native.NATIVE_DIR_NAME).mkdir(exist_ok=True)
    (package / native.NATIVE_DIR_NAME / "FINGERPRINT").write_text(native.fingerprint(package) + "\n")


def test_the_compiled_copy_is_current_only_while_every_source_is_unchanged(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    package = _fake_package(tmp_path)
    assert native.state(package) == "absent"
    _stamp(package)
    assert native.state(package) == "current"
    for name in native.COMPILED:
        source = package / f"{name}.py"
        before = source.read_text()
        source.write_text(before + "x = 1\n")
        assert native.state(package) == "stale", name
        source.write_text(before)
        assert native.state(package) == "current"
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert native.state(package) == "off"


def test_the_compiled_modules_go_first_on_the_package_path_only_when_current(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    package = _fake_package(tmp_path)
    path = [str(package)]
    assert native.activate(path, package) == "absent"
    assert path == [str(package)]
    _stamp(package)
    assert native.activate(path, package) == "current"
    assert path == [str(package / native.NATIVE_DIR_NAME), str(package)]
    assert native.activate(path, package) == "current"  # idempotent
    assert len(path) == 2
    (package / "names.py").write_text("# edited\n")
    stale_path = [str(package)]
    with caplog.at_level("WARNING"):
        assert native.activate(stale_path, package) == "stale"
    assert stale_path == [str(package)]
    assert "out of date" in caplog.text and "crucible scrubber compile" in caplog.text


def test_no_compiled_module_finds_files_beside_itself() -> None:
    """Compiled, a module's `__file__` is in _native/, where no data lies (a name list read that way
    came back empty, and only the compiled scrubber missed "adam")."""
    for name in native.COMPILED:
        assert "__file__" not in (native.PACKAGE_DIR / f"{name}.py").read_text(), name


def _c_compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def test_the_compiled_rules_run_wherever_they_can_be_built() -> None:
    """`make native` runs before `make test`: with mypyc and a C compiler here, a copy that is not
    current (a type error in a compiled module fails the build) is a failure, not a slow scrubber."""
    buildable = importlib.util.find_spec("mypyc") is not None and _c_compiler() is not None
    current = native.state()
    if buildable and current != "off":
        assert current == "current", f"compiled rules {current}: run `make native` (crucible scrubber compile)"
        assert scrubber_package.NATIVE == "current"
        assert native.in_use()
        import crucible.scrubber.detect as detect

        assert not detect.__file__.endswith(".py")
    else:
        assert not native.in_use()


_DUMP = """
import json, sys
from crucible.scrubber.detect import Detector
from crucible.scrubber.native import in_use
texts = json.load(sys.stdin)
detector = Detector.create()
spans = [[[s.start, s.end, s.entity_type, s.score] for s in detector.detect(t)] for t in texts]
json.dump({"compiled": in_use(), "spans": spans}, sys.stdout)
"""


def _spans_of(texts: list[str], switch: str) -> dict:
    env = dict(os.environ, **{native.ENV_SWITCH: switch})
    out = subprocess.run(
        [sys.executable, "-c", _DUMP], input=json.dumps(texts), env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.timeout(300)
def test_compiled_and_python_rules_find_the_same_spans() -> None:
    """Benchmark texts as written and lower-cased, clean messages and Faker text of six locales."""
    texts = [r["full_text"] for r in json.loads(default_dataset().read_text())]
    texts += [t.lower() for t in texts[::3]]
    texts += clean_messages()
    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "pl_PL", "nl_NL"])
    fake.seed_instance(28)
    for _ in range(150):
        texts.append(f"{fake.name()} works at {fake.company()}; write to {fake.address()} or {fake.email()}")
        texts.append(f"Call {fake.phone_number()}, ask for {fake.first_name()}. {fake.text(120)}")
    python = _spans_of(texts, "0")
    compiled = _spans_of(texts, "1")
    assert python["compiled"] is False
    assert compiled["compiled"] is native.in_use()
    assert len(python["spans"]) == len(texts)
    assert sum(map(len, python["spans"])) > len(texts)  # the corpus is full of PII
    differing = [i for i, (a, b) in enumerate(zip(python["spans"], compiled["spans"], strict=True)) if a != b]
    assert not differing, f"{len(differing)} texts differ, first: {texts[differing[0]]!r}"


def test_a_failed_build_is_one_clear_error_and_the_copy_stays(monkeypatch) -> None:
    import typer
    from typer.testing import CliRunner

    from crucible.common.errors import CrucibleError
    from crucible.scrubber.cli import register_cli

    def broken(force: bool = False) -> str:
        raise SystemExit("error: command 'cc' failed: No such file or directory")

    monkeypatch.setattr(native, "build", broken)
    app = typer.Typer()
    register_cli(app)
    before = native.state()
    result = CliRunner().invoke(app, ["scrubber", "compile", "--force"])  # a build is attempted
    assert isinstance(result.exception, CrucibleError)
    assert "command 'cc' failed" in str(result.exception) and "runs as Python" in str(result.exception)
    assert native.state() == before
