"""The scrubber's rules compiled to C with mypyc, and the check that decides whether they run.

Detection is plain Python over `re` and `regex`, and most of its time is the interpreter running
the rules (calls, attribute and dict lookups, short loops over words). mypyc compiles the same typed
source to a C extension: measured on the 1,500 benchmark texts, detection went from about 119 to
about 85 microseconds per text (1.4x), spans identical (`bench/scrub_native.py` times both in one run).
The Python source stays the only implementation: nothing is written twice, the compiled copy is a
build product, and without a C compiler the package simply runs as Python.

How a stale copy never runs: `build` compiles `COMPILED` into `_native/` beside this file (ignored
by git) and writes, last, a FINGERPRINT of exactly the sources and interpreter it compiled for. On
import, `crucible.scrubber` puts `_native/` first on its `__path__` (so `crucible.scrubber.names`
loads as the extension) only when that fingerprint matches the sources as they are now; an edited
module runs as the Python it says, with one warning that the compiled copy is out of date.
`CRUCIBLE_SCRUBBER_NATIVE=0` runs plain Python regardless. A compiled module's `__file__` lies in
`_native/`, so the compiled modules find their data through the package (`importlib.resources`).

Usage: `crucible scrubber compile` (what `make native`, part of `make venv`, runs: a no-op when the
compiled copy is current, about 35 s on one core otherwise); `crucible scrubber compile --status`.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import logging
import os
import sys
from pathlib import Path

# The hot path of `Detector.detect` and what it calls (token_model: the cascade's Python around its
# numpy). Not the shell (service, cli, bench), nor the word-list builders that run once per process.
COMPILED = (
    "spans",
    "lexicon",
    "known",
    "person_cues",
    "name_first",
    "names",
    "lower_names",
    "lower_orgs",
    "orgs",
    "org_shapes",
    "addresses",
    "lower_addresses",
    "structured",
    "obfuscated",
    "detect",
    "token_model",
)
PACKAGE_DIR = Path(__file__).resolve().parent
NATIVE_DIR_NAME = "_native"
ENV_SWITCH = "CRUCIBLE_SCRUBBER_NATIVE"
# mypyc puts what the modules share in one more extension; its name must lie inside the package so
# that `__path__` finds it like the modules themselves.
GROUP = "crucible.scrubber._compiled"
_FINGERPRINT = "FINGERPRINT"

log = logging.getLogger(__name__)


def fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """A digest of the compiled modules' sources and of the interpreter ABI they are built for."""
    digest = hashlib.sha256()
    digest.update(f"{sys.implementation.cache_tag} {importlib.machinery.EXTENSION_SUFFIXES[0]}\n".encode())
    for name in COMPILED:
        digest.update(f"{name}\n".encode())
        digest.update((package_dir / f"{name}.py").read_bytes())
    return digest.hexdigest()


def state(package_dir: Path = PACKAGE_DIR) -> str:
    """`off` (switched off by the environment), `absent` (never built), `stale` (built from other
    sources or for another interpreter) or `current`."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return "off"
    stamp = package_dir / NATIVE_DIR_NAME / _FINGERPRINT
    if not stamp.is_file():
        return "absent"
    return "current" if stamp.read_text().strip() == fingerprint(package_dir) else "stale"


def activate(package_path: list[str], package_dir: Path = PACKAGE_DIR) -> str:
    """Put the compiled modules first on the package's `__path__` when they are current; return the
    state. Called once, by `crucible.scrubber` on import, before any compiled module is imported."""
    current = state(package_dir)
    if current == "current":
        native = str(package_dir / NATIVE_DIR_NAME)
        if native not in package_path:
            package_path.insert(0, native)
    elif current == "stale":
        log.warning(
            "crucible.scrubber: the compiled rules in %s are out of date (a source changed since they were "
            "built); running the Python source, slower. Rebuild: crucible scrubber compile",
            package_dir / NATIVE_DIR_NAME,
        )
    return current


def in_use() -> bool:
    """True when this process runs the compiled rules (the modules loaded are the extensions)."""
    module = sys.modules.get("crucible.scrubber.names")
    if module is None:
        import crucible.scrubber.names as module
    return not str(getattr(module, "__file__", "")).endswith(".py")


def build(package_dir: Path = PACKAGE_DIR, force: bool = False) -> str:
    """Compile `COMPILED` into `_native/`; a no-op when the copy there is current. Returns the state
    after. Raises when mypyc or the C compiler fails (type errors in the sources included)."""
    if not force and state(package_dir) == "current":
        return "current"
    import shutil
    import tempfile

    from mypyc.build import mypycify  # the build tool (requirements-dev.txt), never needed to run
    from setuptools import setup

    before = fingerprint(package_dir)
    src_root = package_dir.parent.parent  # .../src: module names are paths from here
    with tempfile.TemporaryDirectory(prefix="crucible-native-") as tmp:
        work = Path(tmp)
        cwd = Path.cwd()
        os.chdir(src_root)
        try:
            extensions = mypycify(
                [
                    "--ignore-missing-imports",
                    # Imports from outside are typed Any: the modules only pass their values on,
                    # and analysing presidio, faker and numpy too took minutes instead of seconds.
                    "--no-site-packages",
                    "--follow-imports=silent",
                    "--explicit-package-bases",
                    f"--cache-dir={work / 'mypy-cache'}",
                    *(str((package_dir / f"{name}.py").relative_to(src_root)) for name in COMPILED),
                ],
                target_dir=str(work / "c"),
                group_name=GROUP,
            )
            setup(
                name="crucible-scrubber-native",
                ext_modules=extensions,
                script_args=["-q", "build_ext", f"--build-lib={work / 'lib'}", f"--build-temp={work / 'obj'}"],
            )
        finally:
            os.chdir(cwd)
        built = sorted((work / "lib" / "crucible" / "scrubber").glob("*" + importlib.machinery.EXTENSION_SUFFIXES[0]))
        if len(built) != len(COMPILED) + 1:  # each module, and what they share
            raise RuntimeError(f"the build left {len(built)} extensions, not {len(COMPILED) + 1}")
        staging = package_dir / f"{NATIVE_DIR_NAME}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for path in built:
            shutil.copy2(path, staging / path.name)
        # A source edited while it compiled: the copy is of neither version, so it is not stamped.
        if fingerprint(package_dir) != before:
            shutil.rmtree(staging)
            raise RuntimeError("a scrubber source changed while it was being compiled; build again")
        (staging / _FINGERPRINT).write_text(before + "\n")
    target = package_dir / NATIVE_DIR_NAME
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return state(package_dir)
