"""Honest metadata, checked against the code: every third-party module the package imports is
declared (the core's modules import only core dependencies, the gateway's only core and
``server`` ones), the gateway's list of server modules and its tested uvicorn range match
``pyproject.toml``, ``serve``'s flag defaults match the gateway's, and starting the CLI or
importing the library loads no gateway."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from s3stream.cli import serve
from s3stream.gateway import SERVER_MODULES
from s3stream.gateway.auth import TOKENS_ENV
from s3stream.gateway.lease import DEFAULT_LEASE_TTL
from s3stream.gateway.threads import DEFAULT_THREADS
from s3stream.gateway.timeouts import DEFAULT_HEADER_TIMEOUT, uvicorn_requirement
from tests.support.paths import ROOT

pytestmark = pytest.mark.packaging

PACKAGE = ROOT / "src" / "s3stream"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SERVER_SIDE = ("gateway/", "cli/serving.py")
"""Modules that run only with the ``server`` extra installed."""
EMBEDDED_SIDE = ("embedded/tls.py",)
"""Modules that run only with the ``embedded`` extra installed."""
GATEWAY_MODULES = ("starlette", "uvicorn", "anyio", "h11", "prometheus_client", "s3stream.gateway")
TYPING_ONLY = {"_typeshed"}
"""Modules of the type checker's stubs, imported only under ``TYPE_CHECKING``."""


def names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings (``uvicorn>=0.30,<0.55`` -> ``uvicorn``)."""
    found = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match, requirement
        found.add(match.group(0).lower().replace("_", "-"))
    return found


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of the non-standard, non-s3stream modules ``path`` imports (anywhere in
    it, function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.partition(".")[0]
            if top not in sys.stdlib_module_names | TYPING_ONLY and top != "s3stream":
                found.add(top)
    return found


def test_every_third_party_import_is_declared_where_it_is_used() -> None:
    distributions = importlib.metadata.packages_distributions()
    core = names(PROJECT["dependencies"])
    server = core | names(PROJECT["optional-dependencies"]["server"])
    embedded = core | names(PROJECT["optional-dependencies"]["embedded"])
    undeclared = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        allowed = (
            server
            if relative.startswith(SERVER_SIDE)
            else embedded
            if relative.startswith(EMBEDDED_SIDE)
            else core
        )
        for module in third_party_imports(path):
            dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
            if not dists & allowed:
                undeclared.append(f"{relative} imports {module} ({', '.join(sorted(dists))})")
    assert not undeclared


def test_gateway_server_modules_are_the_server_extra() -> None:
    modules = {m.replace("_", "-") for m in SERVER_MODULES}
    assert modules == names(PROJECT["optional-dependencies"]["server"])


def test_uvicorn_range_is_the_tested_one() -> None:
    server = PROJECT["optional-dependencies"]["server"]
    (uvicorn,) = [r for r in server if r.startswith("uvicorn")]
    declared = set(uvicorn.removeprefix("uvicorn").split(","))
    assert declared == set(uvicorn_requirement().split(","))


def test_serve_flag_defaults_are_the_gateways() -> None:
    """``s3stream serve`` keeps its own copies (its parser loads no gateway)."""
    assert serve.STORE_THREADS == DEFAULT_THREADS
    assert serve.HEADER_TIMEOUT == DEFAULT_HEADER_TIMEOUT
    assert serve.LEASE_TTL == DEFAULT_LEASE_TTL
    assert serve.TOKENS_ENV == TOKENS_ENV


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "s3stream.cli", "--help"],
        ["-m", "s3stream.cli", "serve", "--help"],
        ["-m", "s3stream.cli", "cp", "--help"],
        ["-c", "import s3stream"],
    ],
)
def test_starting_loads_no_gateway(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "s3stream" in loaded
    assert not {m for m in loaded if m.startswith(GATEWAY_MODULES)}
