"""The shared kernel's import graph has no cycle.

Built from the source (the AST), not from `sys.modules`: an import inside a function or
under `if TYPE_CHECKING:` is still a dependency, so it counts too. A cycle means two modules
can only be understood (and changed) together; the kernel is meant to read bottom-up."""

from __future__ import annotations

import ast
from pathlib import Path

import crucible.common

PACKAGE = "crucible.common"
ROOT = Path(crucible.common.__file__).resolve().parent


def kernel_modules() -> dict[str, Path]:
    """Every module of `crucible.common` (subpackages included) by dotted name."""
    modules: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join([PACKAGE, *parts])] = path
    return modules


def dependencies(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The known modules that import statements anywhere in `tree` (function bodies and
    `if TYPE_CHECKING:` blocks included) depend on. `from pkg import name` depends on the
    submodule `pkg.name` when there is one, otherwise on `pkg`; `import a.b.c` on the longest
    known prefix."""

    def known_prefix(dotted: str) -> str | None:
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in known:
                return ".".join(parts[:end])
        return None

    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(known_prefix(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else known_prefix(target))
    found.discard(None)
    found.discard(module)
    return {name for name in found if name is not None}


def import_graph() -> dict[str, set[str]]:
    modules = kernel_modules()
    known = set(modules)
    return {
        name: dependencies(ast.parse(path.read_text(), filename=str(path)), name, path.name == "__init__.py", known)
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (iterative DFS, white/grey/black)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop(0)
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_the_kernel_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.worker" in graph and f"{PACKAGE}.stage" in graph[f"{PACKAGE}.worker"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in crucible.common: " + " -> ".join(cycle or [])


def test_the_cycle_finder_sees_function_level_and_type_checking_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from crucible.common.b import B\n"
        "def f():\n    from crucible.common import c, __version__\n"
        "def g():\n    from . import d\n"
    )
    known = {PACKAGE, *(f"{PACKAGE}.{m}" for m in "abcd")}
    deps = dependencies(ast.parse(source), f"{PACKAGE}.a", False, known)
    assert deps == {PACKAGE, f"{PACKAGE}.b", f"{PACKAGE}.c", f"{PACKAGE}.d"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
