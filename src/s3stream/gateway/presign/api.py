"""The presign API as an ASGI app: Companion's routes, as Uppy's ``@uppy/aws-s3`` calls them.

=======  ===================================================  ===============================
GET      ``/s3/params?filename=&type=``                       ``{method: "POST", url, fields}``
POST     ``/s3/multipart`` ``{filename, type, size?,``          ``{key, uploadId, partSize?,``
         ``partSize?, checksum?}``                             ``checksum?}``
GET      ``/s3/multipart/{uploadId}?key=``                    ``[{PartNumber, Size, ETag}]``
GET      ``/s3/multipart/{uploadId}/batch?key=&partNumbers=``  ``{presignedUrls: {n: url},``
         ``1,2&checksums=a,b``                                ``headers: {n: {...}}}``
GET      ``/s3/multipart/{uploadId}/{n}?key=&checksum=``      ``{url, expires, headers}``
POST     ``/s3/multipart/{uploadId}/complete?key=``           ``{location, key, bucket}``
         ``{parts: [{PartNumber, ETag}]}``
DELETE   ``/s3/multipart/{uploadId}?key=``                    ``{}``
=======  ===================================================  ===============================

The caller's owner id comes from the gateway's auth (:func:`~s3stream.gateway.auth.owner_in`);
the :class:`~.signer.Presigner` decides and makes the store calls, in the store threads; the
route functions only parse and answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from s3stream.gateway.auth import owner_in
from s3stream.gateway.errors import bad_request, http_error
from s3stream.gateway.metrics import GatewayMetrics
from s3stream.gateway.presign.signer import Presigner
from s3stream.gateway.threads import StoreThreads
from s3stream.limits import MAX_PARTS


def _part_number(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTS:
        raise bad_request(f"part numbers are 1 to {MAX_PARTS}")
    return int(raw)


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request(f"{name} must be a whole number of bytes")
    return value


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


class PresignAPI:
    """Serves ``/s3/...`` over a :class:`Presigner`."""

    def __init__(
        self,
        presigner: Presigner,
        threads: StoreThreads,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.presigner = presigner
        self.threads = threads
        self.metrics = metrics or GatewayMetrics()
        self.router = Router(
            routes=[
                Route("/s3/params", self._params, methods=["GET"]),
                Route("/s3/multipart", self._create, methods=["POST"]),
                Route("/s3/multipart/{upload_id}", self._list, methods=["GET"]),
                Route("/s3/multipart/{upload_id}", self._abort, methods=["DELETE"]),
                Route("/s3/multipart/{upload_id}/batch", self._batch, methods=["GET"]),
                Route("/s3/multipart/{upload_id}/complete", self._complete, methods=["POST"]),
                Route("/s3/multipart/{upload_id}/{part_number}", self._sign, methods=["GET"]),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.router(scope, receive, send)

    async def sweep(self, now: float) -> int:
        """Abort abandoned multipart uploads (see :meth:`Presigner.sweep`)."""
        return await self.threads.run(self.presigner.sweep, now)

    async def _answer(
        self, request: Request, func: Callable[[], Any], counter: Counter | None = None
    ) -> Response:
        try:
            answer = await self.threads.run(func)
        except Exception as exc:
            error = http_error(exc, f"{request.method} {request.url.path}")
            return JSONResponse(error.json(), status_code=error.status)
        if counter is not None:
            counter.labels("presign").inc()
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _key(self, request: Request) -> str:
        key = request.query_params.get("key")
        if not key:
            raise bad_request("the upload's key is required (?key=)")
        return key

    async def _params(self, request: Request) -> Response:
        q = request.query_params
        return await self._answer(
            request, lambda: self.presigner.form_upload(q.get("filename"), q.get("type"))
        )

    async def _create(self, request: Request) -> Response:
        data = await self._json(request)
        owner = owner_in(request.scope)

        def create() -> dict[str, Any]:
            return self.presigner.create(
                owner,
                _optional_str(data, "filename"),
                _optional_str(data, "type"),
                size=_optional_int(data, "size"),
                part_size=_optional_int(data, "partSize"),
                checksum=_optional_str(data, "checksum"),
            )

        return await self._answer(request, create, self.metrics.started)

    async def _list(self, request: Request) -> Response:
        upload_id, owner = request.path_params["upload_id"], owner_in(request.scope)
        return await self._answer(
            request, lambda: self.presigner.list_parts(owner, self._key(request), upload_id)
        )

    async def _sign(self, request: Request) -> Response:
        upload_id, owner = request.path_params["upload_id"], owner_in(request.scope)

        def sign() -> dict[str, Any]:
            number = _part_number(request.path_params["part_number"])
            checksum = request.query_params.get("checksum")
            (signed,) = self.presigner.sign_parts(
                owner, self._key(request), upload_id, [(number, checksum)]
            )
            return signed

        return await self._answer(request, sign)

    async def _batch(self, request: Request) -> Response:
        upload_id, owner = request.path_params["upload_id"], owner_in(request.scope)

        def sign() -> dict[str, Any]:
            q = request.query_params
            numbers = [_part_number(n.strip()) for n in q.get("partNumbers", "").split(",")]
            checksums: list[str | None] = [c.strip() for c in q.get("checksums", "").split(",")]
            if checksums == [""]:
                checksums = [None] * len(numbers)
            if len(checksums) != len(numbers):
                raise bad_request("give one checksum per part number")
            signed = self.presigner.sign_parts(
                owner, self._key(request), upload_id, list(zip(numbers, checksums, strict=True))
            )
            return {
                "presignedUrls": {str(n): s["url"] for n, s in zip(numbers, signed, strict=True)},
                "headers": {str(n): s["headers"] for n, s in zip(numbers, signed, strict=True)},
            }

        return await self._answer(request, sign)

    async def _complete(self, request: Request) -> Response:
        upload_id, owner = request.path_params["upload_id"], owner_in(request.scope)
        data = await self._json(request)

        def complete() -> dict[str, Any]:
            raw = data.get("parts")
            if not isinstance(raw, list) or not raw:
                raise bad_request("parts: a list of {PartNumber, ETag} is required")
            parts = []
            for item in raw:
                if not isinstance(item, dict) or not isinstance(item.get("ETag"), str):
                    raise bad_request("every part needs PartNumber and ETag")
                parts.append((_part_number(str(item.get("PartNumber", ""))), item["ETag"]))
            return self.presigner.complete(owner, self._key(request), upload_id, parts)

        return await self._answer(request, complete, self.metrics.finished)

    async def _abort(self, request: Request) -> Response:
        upload_id, owner = request.path_params["upload_id"], owner_in(request.scope)

        def abort() -> dict[str, Any]:
            self.presigner.abort(owner, self._key(request), upload_id)
            return {}

        return await self._answer(request, abort)
