"""The page's ASGI app (:class:`WebApp`) and :func:`with_web`, which puts it beside the gateway.

Paths served here::

    GET /                        the page (static/index.html)
    GET /static/{file}           its script and style sheet
    GET /vendor/tus.min.js       tus-js-client's browser bundle (and its source map)
    GET /api/config              {endpoint, auth, tusClient, chunkSize, mode, direct}; open,
                                 like the page
    GET /api/session             204 for a valid token (the page's "token accepted")
    POST /api/session            204 + a session cookie for the token (for clients that
                                 cannot send Authorization, as Uppy); DELETE clears it
    GET /api/uploads/{id}        {id, key, size, checksum, checksumAlgorithm, url, ...} of a
                                 finished upload of the caller's token (404 otherwise, 409
                                 while unfinished)

Everything else goes to the gateway. ``/api/session`` and ``/api/uploads/`` sit behind the
gateway's own :class:`~s3stream.gateway.auth.BearerAuth` when tokens are configured.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

from s3stream.gateway.auth import (
    BearerAuth,
    clear_session_cookie,
    owner_in,
    session_cookie,
)
from s3stream.gateway.datastore import UploadStore
from s3stream.gateway.errors import http_error
from s3stream.gateway.web.finished import FinishedUploads
from s3stream.gateway.web.mode import PageMode
from s3stream.gateway.web.vendor import require_tus_js

STATIC_DIR = Path(__file__).parent / "static"
WEB_PREFIXES = ("/static/", "/vendor/", "/api/")
NO_CACHE = {"Cache-Control": "no-cache"}
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}

ASGIApp = Any


class WebApp:
    """The upload page, its assets and its API, over the gateway's upload store.

    ``finished`` answers ``/api/uploads/{id}`` (build it with
    :meth:`FinishedUploads.for_store`, or let :meth:`for_store` do it). ``tokens`` are the
    gateway's bearer tokens; ``base_path`` its tus endpoint; ``chunk_size`` the page's
    default tus ``chunkSize`` in bytes (``None``: one PATCH per file, as tus-js-client
    does by default). ``tus_js`` names tus-js-client's ``tus.min.js`` (or a directory with
    ``node_modules``); by default ``$S3STREAM_TUS_JS``, then the wheel's copy, then
    ``node_modules`` (:func:`~s3stream.gateway.web.vendor.find_tus_js`). Without one the
    page could not upload: :class:`~s3stream.errors.ConfigError`, naming the fix.
    """

    def __init__(
        self,
        finished: FinishedUploads,
        *,
        tokens: Sequence[str] = (),
        base_path: str = "/files/",
        chunk_size: int | None = None,
        tus_js: str | os.PathLike[str] | None = None,
        static_dir: Path = STATIC_DIR,
        mode: PageMode | None = None,
    ) -> None:
        self.finished = finished
        self.mode = mode or PageMode("tus", None)
        self.auth = bool(tokens)
        self.base_path = base_path
        self.chunk_size = chunk_size
        self.tus_js = require_tus_js(tus_js)
        self.static_dir = static_dir
        private: ASGIApp = Router(
            routes=[
                Route("/session", self._session, methods=["GET", "POST", "DELETE"]),
                Route("/uploads/{upload_id}", self._upload, methods=["GET"]),
            ]
        )
        if tokens:
            private = BearerAuth(private, tokens)
        self.router = Router(
            routes=[
                Route("/", self._index, methods=["GET", "HEAD"]),
                Route("/index.html", self._index, methods=["GET", "HEAD"]),
                Route("/api/config", self._config, methods=["GET"]),
                Route("/vendor/{name}", self._vendor, methods=["GET", "HEAD"]),
                Route("/static/{name}", self._static, methods=["GET", "HEAD"]),
                Mount("/api", app=private),
            ]
        )

    @classmethod
    def for_store(
        cls, uploads: UploadStore, *, presign_expires: int = 3600, **options: Any
    ) -> WebApp:
        """The page over the gateway's upload store (one that describes its objects, as
        ``S3UploadStore``, gives checksums and presigned links); ``options`` as for the
        constructor."""
        return cls(FinishedUploads(uploads, presign_expires), **options)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await self.router(scope, receive, send)

    # ------------------------------------------------------------------ routes

    async def _index(self, request: Request) -> Response:
        return FileResponse(self.static_dir / "index.html", headers=NO_CACHE)

    async def _static(self, request: Request) -> Response:
        name = request.path_params["name"]
        media = STATIC_TYPES.get(Path(name).suffix)
        path = self.static_dir / name
        if media is None or "/" in name or name.startswith(".") or not path.is_file():
            return PlainTextResponse("not found\n", status_code=404)
        return FileResponse(path, media_type=media, headers=NO_CACHE)

    async def _config(self, request: Request) -> Response:
        origin = f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"
        mode = await self.mode.for_origin(origin)
        direct = self.mode.direct
        return JSONResponse(
            {
                "endpoint": self.base_path,
                "auth": self.auth,
                "tusClient": self.tus_js.is_file(),
                "chunkSize": self.chunk_size,
                "mode": mode,
                "direct": direct.to_json() if direct is not None and mode == "direct" else None,
            },
            headers=NO_CACHE,
        )

    async def _vendor(self, request: Request) -> Response:
        name = request.path_params["name"]
        if (
            name not in ("tus.min.js", "tus.min.js.map")
            or not (path := self.tus_js.with_name(name)).is_file()
        ):
            return PlainTextResponse("not found\n", status_code=404)
        media = "text/javascript" if name.endswith(".js") else "application/json"
        return FileResponse(path, media_type=media, headers=NO_CACHE)

    async def _session(self, request: Request) -> Response:
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        if request.method == "DELETE":
            response.headers.append("Set-Cookie", clear_session_cookie())
        elif request.method == "POST" and self.auth:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                secure = request.url.scheme == "https"
                response.headers.append("Set-Cookie", session_cookie(token.strip(), secure=secure))
        return response

    async def _upload(self, request: Request) -> Response:
        owner = owner_in(request.scope)
        try:
            found = await self.finished.lookup(request.path_params["upload_id"], owner)
        except Exception as exc:
            error = http_error(exc, f"GET {request.url.path}")
            return JSONResponse(error.json(), status_code=error.status)
        return JSONResponse(found.to_json(), headers={"Cache-Control": "no-store"})


def is_web_path(path: str) -> bool:
    return path in ("/", "/index.html") or path.startswith(WEB_PREFIXES)


def with_web(gateway_app: ASGIApp, web_app: ASGIApp) -> ASGIApp:
    """One ASGI app: the page's paths (``/``, ``/index.html``, ``/static/``, ``/vendor/``,
    ``/api/``) to ``web_app``, everything else (and the lifespan) to ``gateway_app``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and is_web_path(scope["path"]):
            await web_app(scope, receive, send)
        else:
            await gateway_app(scope, receive, send)

    return app
