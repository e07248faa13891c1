"""Finding tus-js-client's browser bundle in ``node_modules`` (installed by ``npm ci``; never
copied into the repository)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

TUS_JS_ENV = "S3STREAM_TUS_JS"
"""Environment variable naming the bundle (a file, or a directory holding ``node_modules``)."""

BUNDLE = Path("node_modules/tus-js-client/dist/tus.min.js")


def _walk_up(start: Path) -> Iterable[Path]:
    start = start.resolve()
    yield start
    yield from start.parents


def find_tus_js(
    configured: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    starts: Iterable[Path] | None = None,
) -> Path | None:
    """The ``tus.min.js`` to serve, or ``None`` when there is none.

    ``configured`` (or ``$S3STREAM_TUS_JS``) may name the file itself or a directory that
    holds ``node_modules``; when it is given and points nowhere, nothing else is tried.
    Otherwise the search walks up from this package's directory and from the current
    directory to the first ``node_modules/tus-js-client/dist/tus.min.js``.
    """
    environ = os.environ if env is None else env
    chosen = configured if configured is not None else environ.get(TUS_JS_ENV) or None
    if chosen is not None:
        path = Path(chosen).expanduser()
        if path.is_dir():
            path = path / BUNDLE
        return path.resolve() if path.is_file() else None
    roots = list(starts) if starts is not None else [Path(__file__).parent, Path.cwd()]
    for root in roots:
        for directory in _walk_up(root):
            candidate = directory / BUNDLE
            if candidate.is_file():
                return candidate
    return None
