"""Helpers for the packaging tests (no tests here): build the sdist and the wheel as a user or
a packager would, and install the wheel into fresh venvs outside the checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT

PYTHON = sys.executable
"""The development venv's Python: it has ``build`` and ``pip``; the new venvs have neither."""
BUNDLE_IN_WHEEL = "s3stream/gateway/web/tus-js-client/"


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def locked_tus_version() -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    version: str = lock["packages"]["node_modules/tus-js-client"]["version"]
    return version


@dataclass(frozen=True)
class Dist:
    """What ``python -m build`` made: the sdist, and the wheel built from it."""

    sdist: Path
    wheel: Path


def build(
    source: Path,
    outdir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    wrapper: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``python -m build ARGS --outdir OUTDIR SOURCE`` (both sdist and wheel by default),
    run under ``wrapper`` (e.g. ``unshare -n``) if given."""
    return subprocess.run(
        [*wrapper, PYTHON, "-m", "build", *args, "--outdir", str(outdir), str(source)],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        timeout=600,
    )


def wheel_files(wheel: Path) -> dict[str, bytes]:
    """Every file of a wheel, by name."""
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@dataclass(frozen=True)
class Venv:
    """A fresh venv (no pip in it) with the wheel installed."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def path_env(self) -> str:
        """A ``PATH`` with this venv and the system, and nothing of the checkout's venv."""
        return f"{self.bin}:/usr/bin:/bin"

    def run(
        self, command: str, *args: str, env: Mapping[str, str], cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run one of the venv's commands (``python``, ``s3stream``, ...) to its end."""
        return subprocess.run(
            [str(self.bin / command), *args],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def make_venv(path: Path, requirement: str) -> Venv:
    """A new venv at ``path`` with ``requirement`` (the wheel, with extras or not) installed
    by the development venv's pip from the package index (or pip's cache)."""
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    pip = [PYTHON, "-m", "pip", "--python", str(path / "bin" / "python")]
    subprocess.run(
        [*pip, "install", "--quiet", "--disable-pip-version-check", requirement],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return Venv(path)


def can_unshare_network() -> bool:
    """Can this process make a network namespace of its own (``unshare -n``, as root)?"""
    try:
        done = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30)
    except OSError:
        return False
    return done.returncode == 0


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command printed on stderr (asserting exit 2 and one line)."""
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, result.stderr)
    return lines[0]
