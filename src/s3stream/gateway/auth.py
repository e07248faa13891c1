"""Bearer-token authentication as a small ASGI middleware, and the session cookie.

Each token maps to an owner id (a hash of the token, so tokens are never stored with
uploads); the tus handler and the presign API file every upload under its creator's owner
id and answer 404 to anyone else. OPTIONS requests (tus discovery, CORS preflight) and the
open paths (health, readiness, metrics) pass without a token.

Clients that cannot add an ``Authorization`` header (Uppy 6's ``companionEndpoint`` mode
sends plain ``fetch`` requests) carry a session cookie instead, which the page gets from
``POST /api/session`` with its token: ``{owner}.{expiry}.{HMAC-SHA256(token, owner.expiry)}``.
It holds no token, needs no server-side state (any gateway process with the same tokens
checks it), expires, is ``HttpOnly`` and ``SameSite=Strict``, and is refused on a request
whose ``Origin`` is another site.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from starlette.responses import PlainTextResponse

from s3stream.errors import ConfigError
from s3stream.gateway.settings import TUS_VERSION

TOKENS_ENV = "S3STREAM_TOKENS"
SESSION_COOKIE = "s3stream_session"
SESSION_TTL = 12 * 3600
"""Seconds a session cookie is valid."""
OWNER_SCOPE_KEY = "s3stream.owner"
"""Where :class:`BearerAuth` leaves the caller's owner id in the ASGI scope."""


def owner_in(scope: Any) -> str:
    """The owner id :class:`BearerAuth` found for a request (``""`` without tokens)."""
    return str(scope.get(OWNER_SCOPE_KEY, ""))


def owner_id(token: str) -> str:
    return hashlib.sha256(b"s3stream-owner:" + token.encode()).hexdigest()[:32]


def load_tokens(
    tokens: Iterable[str] = (),
    *,
    env: dict[str, str] | None = None,
    token_file: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Tokens from arguments, ``S3STREAM_TOKENS`` (comma or whitespace separated) and a file
    (one per line, ``#`` comments)."""
    found = [t for t in tokens if t]
    environ = os.environ if env is None else env
    found += environ.get(TOKENS_ENV, "").replace(",", " ").split()
    if token_file is not None:
        try:
            lines = Path(token_file).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read token file {token_file}: {exc.strerror}") from None
        found += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for token in found:
        if len(token) < 16:
            raise ConfigError("tokens must be at least 16 characters long")
    return list(dict.fromkeys(found))


def _session_mac(token: str, owner: str, expiry: int) -> str:
    message = f"{owner}.{expiry}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_value(token: str, now: float | None = None, ttl: int = SESSION_TTL) -> str:
    """The session cookie's value for ``token``, valid ``ttl`` seconds from ``now``."""
    expiry = int((time.time() if now is None else now) + ttl)
    owner = owner_id(token)
    return f"{owner}.{expiry}.{_session_mac(token, owner, expiry)}"


def session_cookie(token: str, *, secure: bool, ttl: int = SESSION_TTL) -> str:
    """A ``Set-Cookie`` value carrying a session for ``token``."""
    flags = "; Secure" if secure else ""
    return (
        f"{SESSION_COOKIE}={session_value(token, ttl=ttl)}; Max-Age={ttl}; Path=/; "
        f"HttpOnly; SameSite=Strict{flags}"
    )


def clear_session_cookie() -> str:
    return f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"


def _cookie(header: bytes | None, name: str) -> str | None:
    if header is None:
        return None
    for item in header.decode("latin-1").split(";"):
        key, _, value = item.strip().partition("=")
        if key == name:
            return value
    return None


def _same_site(headers: dict[bytes, bytes]) -> bool:
    """No ``Origin``, or one naming the host the request was sent to."""
    origin = headers.get(b"origin")
    if origin is None:
        return True
    host = headers.get(b"host", b"")
    return origin.partition(b"://")[2].rstrip(b"/") == host


class BearerAuth:
    """Requires ``Authorization: Bearer <token>`` (or a session cookie) on every request but
    OPTIONS and open paths."""

    def __init__(
        self,
        app: Any,
        tokens: Sequence[str],
        open_paths: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self._owners = {t.encode(): owner_id(t) for t in tokens}
        self._tokens_by_owner = {owner_id(t): t for t in tokens}
        self.open_paths = tuple(open_paths)
        self.clock = clock

    def session_owner(self, value: str | None) -> str | None:
        """The owner id a session cookie's value stands for (``None``: forged, expired, or
        of no token this server has)."""
        if not value:
            return None
        owner, _, rest = value.partition(".")
        expiry_text, _, mac = rest.partition(".")
        token = self._tokens_by_owner.get(owner)
        if token is None or not expiry_text.isdigit() or int(expiry_text) < self.clock():
            return None
        expected = _session_mac(token, owner, int(expiry_text))
        return owner if hmac.compare_digest(expected.encode(), mac.encode()) else None

    def _owner(self, header: bytes | None) -> str | None:
        if header is None:
            return None
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        token = token.strip()
        found = None
        for known, owner in self._owners.items():  # compare with every token: constant time
            if hmac.compare_digest(known, token):
                found = owner
        return found

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _is_options(scope) or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        owner = self._owner(headers.get(b"authorization"))
        if owner is None and _same_site(headers):
            owner = self.session_owner(_cookie(headers.get(b"cookie"), SESSION_COOKIE))
        if owner is None:
            response = PlainTextResponse(
                "a valid bearer token is required\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", "Tus-Resumable": TUS_VERSION},
            )
            await response(scope, receive, send)
            return
        scope[OWNER_SCOPE_KEY] = owner  # in place: the access log outside reads it too
        await self.app(scope, receive, send)


def _is_options(scope: Any) -> bool:
    """An OPTIONS request that stays one: ``X-HTTP-Method-Override`` (which the tus handler
    honours) must not turn an unauthenticated OPTIONS into a POST or PATCH."""
    if scope["method"] != "OPTIONS":
        return False
    overrides = [v for k, v in scope["headers"] if k.lower() == b"x-http-method-override"]
    return all(v.strip().upper() in (b"", b"OPTIONS") for v in overrides)
