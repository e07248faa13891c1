"""Bearer-token authentication as a small ASGI middleware.

Each token maps to an owner id (a hash of the token, so tokens are never stored with
uploads); the tus handler files every upload under its creator's owner id and answers 404
to anyone else. OPTIONS requests (tus discovery, CORS preflight) and the health endpoint
pass without a token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from starlette.responses import PlainTextResponse

from s3stream.errors import ConfigError
from s3stream.gateway.settings import TUS_VERSION

TOKENS_ENV = "S3STREAM_TOKENS"
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


class BearerAuth:
    """Requires ``Authorization: Bearer <token>`` on every request but OPTIONS and open paths."""

    def __init__(self, app: Any, tokens: Sequence[str], open_paths: Sequence[str] = ()) -> None:
        self.app = app
        self._owners = {t.encode(): owner_id(t) for t in tokens}
        self.open_paths = tuple(open_paths)

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
        if owner is None:
            response = PlainTextResponse(
                "a valid bearer token is required\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", "Tus-Resumable": TUS_VERSION},
            )
            await response(scope, receive, send)
            return
        await self.app({**scope, OWNER_SCOPE_KEY: owner}, receive, send)


def _is_options(scope: Any) -> bool:
    """An OPTIONS request that stays one: ``X-HTTP-Method-Override`` (which the tus handler
    honours) must not turn an unauthenticated OPTIONS into a POST or PATCH."""
    if scope["method"] != "OPTIONS":
        return False
    overrides = [v for k, v in scope["headers"] if k.lower() == b"x-http-method-override"]
    return all(v.strip().upper() in (b"", b"OPTIONS") for v in overrides)
