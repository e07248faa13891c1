"""The package's shape: layers in subpackages, small modules, no import cycles, and no module
reaching into another's private names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "s3stream"
MAX_LINES = 500
MAX_TOP_MODULES = 8
LAYERS = ("store", "engine", "resume", "gateway", "cli", "embedded")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path) -> Iterator[str]:
    """The package modules ``name`` imports, ``TYPE_CHECKING`` and function bodies included."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                yield target


def test_layers_are_packages_and_few_modules_sit_at_the_top() -> None:
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").is_file(), layer
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_MODULES, sorted(top)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_500_lines(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_no_import_cycles() -> None:
    graph = {name: set(imports(name, path)) for name, path in MODULES.items()}
    # a package's __init__ re-exports its modules; a module importing its own package's
    # __init__ would close a cycle through it, which counts like any other
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


PUBLIC_UNDERSCORED = {"os._exit"}
"""Documented standard-library functions whose names start with ``_``."""

PINNED_PRIVATE_STATE = {
    "s3stream.gateway.protocol": {"conn._reader", "conn._receive_buffer", "reader._remaining"},
}
"""h11's private state that the gateway's direct-body protocol reads on purpose: it is used
only with the h11 and uvicorn releases it is tested with, and steps aside outside them."""


def private_uses(path: Path) -> Iterator[str]:
    """``obj._name`` where ``obj`` is not the object itself (``self``, ``cls``,
    ``super()``); dunders aside."""
    for node in ast.walk(ast.parse(path.read_text())):
        if not (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and ast.unparse(owner.func) == "super":
            continue
        if ast.unparse(node) in PUBLIC_UNDERSCORED:
            continue
        yield f"{ast.unparse(node)} (line {node.lineno})"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_reaches_into_private_names(name: str) -> None:
    allowed = PINNED_PRIVATE_STATE.get(name, set())
    found = [use for use in private_uses(MODULES[name]) if use.split(" ")[0] not in allowed]
    assert not found, found
