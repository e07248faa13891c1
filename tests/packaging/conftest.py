"""The built distributions and the venvs they are installed into, made once per session."""

from __future__ import annotations

import pytest

from tests.support.packaging import Dist, Venv, build, make_venv
from tests.support.paths import ROOT


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``python -m build`` on the checkout: the sdist, and the wheel built from the sdist
    (in isolated build environments with the declared build requirements)."""
    outdir = tmp_path_factory.mktemp("dist")
    built = build(ROOT, outdir)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = outdir.glob("s3stream-*.tar.gz")
    (wheel,) = outdir.glob("s3stream-*.whl")
    return Dist(sdist, wheel)


@pytest.fixture(scope="session")
def core_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """`pip install s3stream` (the wheel, no extras) into a fresh venv outside the checkout."""
    return make_venv(tmp_path_factory.mktemp("venvs") / "core", str(dist.wheel))


@pytest.fixture(scope="session")
def full_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """`pip install 's3stream[server,embedded]'` into a fresh venv outside the checkout."""
    return make_venv(tmp_path_factory.mktemp("venvs") / "full", f"{dist.wheel}[server,embedded]")
