"""What every tus method shares: the context, header parsing, upload lookup, responses."""

from __future__ import annotations

import email.utils
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from s3stream.gateway.auth import owner_in
from s3stream.gateway.datastore import Capabilities, UploadStore, capabilities
from s3stream.gateway.errors import HTTPError, bad_request, gone, http_error, not_found
from s3stream.gateway.hooks import EventName, Hooks
from s3stream.gateway.metrics import GatewayMetrics
from s3stream.gateway.model import Upload, format_metadata, sanitize_filename, with_suffix
from s3stream.gateway.settings import TusSettings

log = logging.getLogger("s3stream.gateway")

OCTET_STREAM = "application/offset+octet-stream"


@dataclass
class Context:
    """Everything a method handler needs, built once per app."""

    store: UploadStore
    settings: TusSettings
    hooks: Hooks = field(default_factory=Hooks)
    clock: Callable[[], float] = time.time
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    caps: Capabilities = field(init=False)
    _active: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.caps = capabilities(self.store)

    def event(self, name: EventName, upload: Upload) -> None:
        """An upload's lifecycle event: counted, and sent to the hooks."""
        if not upload.partial:  # a concatenation's parts are not uploads of their own
            if name == "created":
                self.metrics.started.labels("tus").inc()
            elif name == "finished":
                self.metrics.finished.labels("tus").inc()
        self.hooks.emit(name, upload)

    def new_id(self) -> str:
        """32 URL-safe characters: 192 random bits."""
        return secrets.token_urlsafe(24)

    def object_key(self, upload_id: str, filename: str | None) -> str:
        name = sanitize_filename(filename or "")
        if not name:
            return f"{self.settings.key_prefix}{upload_id}"
        if self.settings.naming == "unique":
            name = with_suffix(name, hashlib.sha256(upload_id.encode()).hexdigest()[:12])
        return f"{self.settings.key_prefix}{name}"

    def expires(self) -> float | None:
        ttl = self.settings.expiration
        return None if ttl is None else self.clock() + ttl

    @asynccontextmanager
    async def writing(self, owner: str) -> AsyncIterator[None]:
        """Count one writing request of ``owner``; 429 past the per-owner limit."""
        count = self._active.get(owner, 0)
        if count >= self.settings.max_uploads_per_owner:
            raise HTTPError(429, "TooManyUploads", "too many concurrent uploads for this token")
        self._active[owner] = count + 1
        try:
            yield
        finally:
            self._active[owner] -= 1
            if not self._active[owner]:
                del self._active[owner]


def owner_of(request: Request) -> str:
    return owner_in(request.scope)


def header_int(request: Request, name: str, *, required: bool = False) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        if required:
            raise bad_request(f"missing {name} header")
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 20:  # not int()'s "²" or "1_0"
        raise bad_request(f"{name} must be a non-negative integer")
    return int(raw)


async def load_upload(ctx: Context, request: Request, upload_id: str) -> Upload:
    """The caller's upload: 404 when it is missing or someone else's, 410 when expired."""
    upload = await ctx.store.get(upload_id)
    if upload.owner != owner_of(request):
        raise not_found()
    if upload.expired(ctx.clock()):
        raise gone()
    return upload


def upload_url(ctx: Context, request: Request, upload_id: str) -> str:
    headers = request.headers
    scheme, host = request.url.scheme, headers.get("host") or request.url.netloc
    if ctx.settings.trust_forwarded:
        scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        host = headers.get("x-forwarded-host", host).split(",")[0].strip()
    root = request.scope.get("root_path", "")
    return f"{scheme}://{host}{root}{ctx.settings.base_path}{upload_id}"


def id_from_url(ctx: Context, url: str) -> str:
    """The upload id at the end of an upload URL (absolute or a path)."""
    path = url.split("?", 1)[0].rstrip("/")
    if ctx.settings.base_path not in path + "/":
        raise bad_request(f"{url!r} is not an upload URL of this server")
    upload_id = path.rsplit("/", 1)[-1]
    if not upload_id:
        raise bad_request(f"{url!r} is not an upload URL of this server")
    return upload_id


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def upload_headers(ctx: Context, upload: Upload, request: Request) -> dict[str, str]:
    """The headers that describe an upload (HEAD)."""
    headers = {"Upload-Offset": str(upload.offset), "Cache-Control": "no-store"}
    if upload.size is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.size)
    if upload.metadata:
        headers["Upload-Metadata"] = format_metadata(upload.metadata)
    if upload.partial:
        headers["Upload-Concat"] = "partial"
    elif upload.final:
        urls = " ".join(upload_url(ctx, request, p) for p in upload.partials)
        headers["Upload-Concat"] = f"final;{urls}"
    headers.update(expiry_header(upload))
    return headers


def expiry_header(upload: Upload) -> dict[str, str]:
    if upload.expires is None or upload.finished:
        return {}
    return {"Upload-Expires": http_date(upload.expires)}


def error_response(exc: BaseException, method: str, path: str) -> Response:
    """The one place that turns anything raised into an answer (see :func:`http_error`)."""
    error = http_error(exc, f"{method} {path}")
    response = PlainTextResponse(error.message + "\n", status_code=error.status)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def tus_response(status: int, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(status_code=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
