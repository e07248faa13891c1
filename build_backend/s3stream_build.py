"""s3stream's build backend: setuptools, plus tus-js-client's browser bundle in the wheel.

The upload page (``s3stream/gateway/web``) runs on tus-js-client. A wheel carries its browser
bundle (``dist/tus.min.js``, its source map, its licence and its ``package.json``) in
``s3stream/gateway/web/tus-js-client/``. :class:`BuildPy` fetches it while the wheel is built:
``npm pack`` downloads the package at the version ``package-lock.json`` records (or takes it
from npm's cache), the tarball is checked against the lock file's integrity hash, and the four
files are read out of it. Nothing of it is committed; the sdist carries ``package-lock.json``
and this module, so a wheel built from the sdist is the same as one built from the checkout.

An editable install (``pip install -e``) gets no bundle: a checkout serves the one in
``node_modules`` (``npm ci``, run by ``scripts/setup.sh``).

npm missing, a lock file without tus-js-client, npm unable to fetch it (no network and not in
npm's cache) or a tarball that does not match the lock file stop the build with one line that
names the fix: a wheel without the bundle would serve a page that cannot upload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from setuptools.build_meta import (
    build_editable,
    build_sdist,
    build_wheel,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)
from setuptools.command.build_py import build_py
from setuptools.errors import BaseError

PACKAGE = "tus-js-client"
BUNDLE_DIR = Path("s3stream", "gateway", "web", "tus-js-client")
"""Where the bundle lands in the wheel (relative to its root)."""
FILES = {
    "package/dist/tus.min.js": "tus.min.js",
    "package/dist/tus.min.js.map": "tus.min.js.map",
    "package/LICENSE": "LICENSE",
    "package/package.json": "package.json",
}
"""Tarball member -> file name in :data:`BUNDLE_DIR`."""
NPM_TIMEOUT = 600.0


class BundleError(BaseError):
    """tus-js-client's bundle could not be put into the wheel (setuptools prints ``error: ...``)."""


def locked(lock_file: Path) -> tuple[str, str]:
    """tus-js-client's version and integrity (``sha512-<base64>``) as ``lock_file`` records."""
    try:
        lock = json.loads(lock_file.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(
            f"cannot read {lock_file.name} ({exc}): the build needs the project's "
            "package-lock.json (it pins tus-js-client for the upload page); build from the "
            "checkout or from the sdist"
        ) from None
    entry = lock.get("packages", {}).get(f"node_modules/{PACKAGE}", {})
    version, integrity = entry.get("version"), entry.get("integrity", "")
    if not version or not integrity.startswith("sha512-"):
        raise BundleError(
            f"{lock_file.name} pins no {PACKAGE} with a sha512 integrity: add it "
            f"(npm install --save-dev {PACKAGE}) and build again"
        )
    return str(version), str(integrity)


def npm_pack(npm: str | None, version: str, into: Path) -> Path:
    """``npm pack tus-js-client@version`` into ``into``: the tarball's path."""
    spec = f"{PACKAGE}@{version}"
    if npm is None:
        raise BundleError(
            f"npm not found: building s3stream's wheel fetches {spec} for the upload page "
            "with npm; install Node.js and npm (e.g. apt-get install npm) and build again, "
            "or install a published s3stream wheel"
        )
    command = [npm, "pack", spec, "--json", "--ignore-scripts", "--prefer-offline"]
    try:
        done = subprocess.run(
            [*command, "--pack-destination", str(into)],
            cwd=into,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BundleError(f"`npm pack {spec}` failed ({exc}): check npm and build again") from None
    tarballs = sorted(into.glob("*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        raise BundleError(
            f"npm could not fetch {spec} ({npm_reason(done.stdout, done.stderr)}): building "
            "s3stream's wheel needs the npm registry, or npm's cache holding that package "
            "(`npm ci` in the checkout fills it); connect and build again"
        )
    return tarballs[0]


def npm_reason(stdout: str, stderr: str) -> str:
    """npm's own summary of a failure (``--json`` puts it on stdout), else its last error line."""
    try:
        summary = json.loads(stdout).get("error", {}).get("summary", "")
    except (ValueError, AttributeError):
        summary = ""
    if summary:
        return " ".join(str(summary).split()).rstrip(".")
    lines = [line for line in stderr.splitlines() if line.strip() and "complete log" not in line]
    return lines[-1].strip() if lines else "no output"


def check_integrity(tarball: Path, integrity: str, spec: str) -> None:
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != integrity:
        raise BundleError(
            f"{spec} from npm does not match package-lock.json's integrity: clear npm's cache "
            "entry (npm cache clean --force) and build again"
        )


def extract(tarball: Path, target: Path) -> None:
    """The bundle's files from ``tarball`` into ``target`` (read by name, nothing else)."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as archive:
        for member, name in FILES.items():
            source = archive.extractfile(member)
            if source is None:
                raise BundleError(f"{tarball.name} has no {member}: is it tus-js-client?")
            (target / name).write_bytes(source.read())


def fetch_bundle(lock_file: Path, target: Path, npm: str | None) -> str:
    """Put tus-js-client's bundle pinned by ``lock_file`` into ``target``; its version."""
    version, integrity = locked(lock_file)
    with tempfile.TemporaryDirectory(prefix="s3stream-npm-") as scratch:
        tarball = npm_pack(npm, version, Path(scratch))
        check_integrity(tarball, integrity, f"{PACKAGE}@{version}")
        extract(tarball, target)
    return version


class BuildPy(build_py):
    """setuptools' ``build_py``, then tus-js-client's bundle into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / BUNDLE_DIR
        version = fetch_bundle(Path("package-lock.json").resolve(), target, shutil.which("npm"))
        self.announce(f"added {PACKAGE} {version} to {target}", level=logging.INFO)


__all__ = [
    "BuildPy",
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]
