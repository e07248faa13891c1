"""The tus handler as one ASGI app: version check, method override, dispatch, errors.

Each method lives in its own module; this one only routes and owns the single place where
anything raised becomes a response (:func:`~.common.error_response`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from s3stream.gateway.errors import HTTPError
from s3stream.gateway.handler.common import Context, error_response
from s3stream.gateway.handler.delete import handle_delete
from s3stream.gateway.handler.head import handle_head
from s3stream.gateway.handler.options import handle_options
from s3stream.gateway.handler.patch import handle_patch
from s3stream.gateway.handler.post import handle_post
from s3stream.gateway.settings import TUS_VERSION

_COLLECTION_METHODS = "OPTIONS, POST"
_UPLOAD_METHODS = "OPTIONS, HEAD, PATCH, DELETE"


class TusHandler:
    """Serves ``{base_path}`` (creation) and ``{base_path}{id}`` (uploads)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def matches(self, path: str) -> bool:
        base = self.ctx.settings.base_path
        return path == base[:-1] or path.startswith(base)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        method = request.method.upper()
        override = request.headers.get("x-http-method-override")
        if override:
            method = override.strip().upper()
        try:
            response = await self._dispatch(request, method, receive)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise
            response = error_response(exc, method, scope.get("path", ""))
        response.headers["Tus-Resumable"] = TUS_VERSION
        await response(scope, receive, send)

    async def _dispatch(self, request: Request, method: str, receive: Any) -> Response:
        ctx = self.ctx
        base = ctx.settings.base_path
        path = request.scope.get("path", "")
        rest = "" if path == base[:-1] else path[len(base) :]
        if "/" in rest:
            raise HTTPError(404, "NotFound", "not found")
        if method == "OPTIONS":
            return await handle_options(ctx)
        version = request.headers.get("tus-resumable")
        if version != TUS_VERSION:
            raise HTTPError(
                412,
                "UnsupportedVersion",
                f"Tus-Resumable {version!r} is not supported",
                {"Tus-Version": TUS_VERSION},
            )
        if not rest:
            if method == "POST":
                return await handle_post(ctx, request, receive)
            raise HTTPError(405, "MethodNotAllowed", "use POST", {"Allow": _COLLECTION_METHODS})
        if method == "HEAD":
            return await handle_head(ctx, request, rest)
        if method == "PATCH":
            return await handle_patch(ctx, request, rest, receive)
        if method == "DELETE":
            return await handle_delete(ctx, request, rest)
        raise HTTPError(405, "MethodNotAllowed", "not allowed", {"Allow": _UPLOAD_METHODS})
