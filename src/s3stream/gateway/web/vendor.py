"""Finding tus-js-client's browser bundle: the copy a wheel carries (``tus-js-client/`` beside
this module, put there when the wheel is built), else ``node_modules`` in a checkout
(``npm ci``). It is never copied into the repository."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from s3stream.errors import ConfigError

TUS_JS_ENV = "S3STREAM_TUS_JS"
"""Environment variable naming the bundle (a file, or a directory holding ``node_modules``)."""

BUNDLE = Path("node_modules/tus-js-client/dist/tus.min.js")
PACKAGED = Path(__file__).parent / "tus-js-client" / "tus.min.js"
"""Where a wheel carries the bundle (absent in a checkout)."""
POINT_AT = "point it at tus-js-client's dist/tus.min.js, or at a directory holding node_modules"
MISSING = (
    "the upload page needs tus-js-client's browser bundle and this installation has none: "
    f"in a checkout run `npm ci` (scripts/setup.sh), or set {TUS_JS_ENV} to a tus.min.js"
)


def _walk_up(start: Path) -> Iterable[Path]:
    start = start.resolve()
    yield start
    yield from start.parents


def _chosen(
    configured: str | os.PathLike[str] | None, env: Mapping[str, str] | None
) -> str | os.PathLike[str] | None:
    """The bundle named by the caller or the environment, if any."""
    if configured is not None:
        return configured
    return (os.environ if env is None else env).get(TUS_JS_ENV) or None


def find_tus_js(
    configured: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    starts: Iterable[Path] | None = None,
    packaged: Path = PACKAGED,
) -> Path | None:
    """The ``tus.min.js`` to serve, or ``None`` when there is none.

    ``configured`` (or ``$S3STREAM_TUS_JS``) may name the file itself or a directory that
    holds ``node_modules``; when it is given and points nowhere, nothing else is tried.
    Otherwise: the wheel's copy (``packaged``), then the first
    ``node_modules/tus-js-client/dist/tus.min.js`` walking up from this package's directory
    and from the current directory.
    """
    chosen = _chosen(configured, env)
    if chosen is not None:
        path = Path(chosen).expanduser()
        if path.is_dir():
            path = path / BUNDLE
        return path.resolve() if path.is_file() else None
    if packaged.is_file():
        return packaged
    roots = list(starts) if starts is not None else [Path(__file__).parent, Path.cwd()]
    for root in roots:
        for directory in _walk_up(root):
            candidate = directory / BUNDLE
            if candidate.is_file():
                return candidate
    return None


def require_tus_js(
    configured: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    starts: Iterable[Path] | None = None,
    packaged: Path = PACKAGED,
) -> Path:
    """:func:`find_tus_js`'s answer, or a :class:`~s3stream.errors.ConfigError` naming the fix:
    a page without tus-js-client cannot upload, so none is served."""
    found = find_tus_js(configured, env=env, starts=starts, packaged=packaged)
    if found is not None:
        return found
    chosen = _chosen(configured, env)
    if chosen is None:
        raise ConfigError(MISSING)
    where = chosen if configured is not None else f"{TUS_JS_ENV}={chosen}"
    raise ConfigError(f"no tus-js-client bundle at {where}: {POINT_AT}")
