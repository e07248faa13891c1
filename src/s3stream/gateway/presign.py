"""Presigned direct-to-S3 uploads: the browser sends the bytes to S3 itself.

The routes have the shape Uppy's ``@uppy/aws-s3`` plugin expects of Companion:

=======  ============================================  =====================================
GET      ``/s3/params?filename=&type=``                ``{method, url, fields, headers}``
POST     ``/s3/multipart`` ``{filename, type}``        ``{key, uploadId}``
GET      ``/s3/multipart/{uploadId}?key=``             ``[{PartNumber, Size, ETag}]``
GET      ``/s3/multipart/{uploadId}/batch?key=&partNumbers=1,2``  ``{presignedUrls: {n: url}}``
GET      ``/s3/multipart/{uploadId}/{partNumber}?key=``  ``{url, expires}``
POST     ``/s3/multipart/{uploadId}/complete?key=`` ``{parts}``  ``{location}``
DELETE   ``/s3/multipart/{uploadId}?key=``             ``{}``
=======  ============================================  =====================================

Keys are made here (the configured prefix, the sanitised file name, a unique suffix), and a
key sent back by a client must lie under that prefix. The S3 calls live in
:class:`Presigner`; the route functions only parse and answer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from s3stream.checksums import ChecksumAlgorithm
from s3stream.gateway.errors import bad_request, http_error
from s3stream.gateway.model import sanitize_filename, with_suffix
from s3stream.gateway.threads import StoreThreads
from s3stream.limits import MAX_PARTS
from s3stream.store.attributes import ObjectOptions
from s3stream.store.protocol import Objects, ObjectStore
from s3stream.store.types import PartRecord

log = logging.getLogger(__name__)


@dataclass
class Presigner:
    """The S3 side of the presign API (blocking calls; run them in a thread)."""

    store: ObjectStore
    objects: Objects
    bucket: str
    key_prefix: str = ""
    expires_in: int = 3600
    defaults: ObjectOptions = field(default_factory=ObjectOptions)
    """The operator's object attributes, set on the multipart uploads this creates (a
    presigned single PUT carries only its content type)."""

    def new_key(self, filename: str | None) -> str:
        name = sanitize_filename(filename or "") or "upload"
        return f"{self.key_prefix}{with_suffix(name, secrets.token_hex(6))}"

    def check_key(self, key: str | None) -> str:
        if (
            not key
            or not key.startswith(self.key_prefix)
            or ".." in key.split("/")
            or key.startswith("/")
            or any(ord(c) < 32 for c in key)
        ):
            raise bad_request("a key under this server's prefix is required")
        return key

    def put_url(self, filename: str | None, content_type: str | None) -> dict[str, Any]:
        key = self.new_key(filename)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        headers = {}
        if content_type:
            params["ContentType"] = content_type
            headers["content-type"] = content_type
        url = self.objects.presign_request("put_object", params, self.expires_in)
        return {"method": "PUT", "url": url, "fields": {}, "headers": headers, "key": key}

    def create(self, filename: str | None, content_type: str | None) -> dict[str, str]:
        key = self.new_key(filename)
        upload_id = self.store.create_multipart_upload(
            self.bucket,
            key,
            checksum=ChecksumAlgorithm.NONE,
            options=self.defaults.updated(ObjectOptions(content_type=content_type or None)),
        )
        return {"key": key, "uploadId": upload_id}

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        latest: dict[int, PartRecord] = {}
        for part in self.store.list_parts(self.bucket, key, upload_id):
            latest[part.number] = part  # a store may list a re-sent part twice
        return [
            {"PartNumber": p.number, "Size": p.size, "ETag": p.etag}
            for p in sorted(latest.values(), key=lambda p: p.number)
        ]

    def part_url(self, key: str, upload_id: str, part_number: int) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
        }
        return self.objects.presign_request("upload_part", params, self.expires_in)

    def complete(self, key: str, upload_id: str, parts: list[PartRecord]) -> str:
        self.store.complete_multipart_upload(
            self.bucket, key, upload_id, parts, checksum=ChecksumAlgorithm.NONE, checksum_value=None
        )
        return self.objects.presign_request("get_object", {"Bucket": self.bucket, "Key": key}, 3600)

    def abort(self, key: str, upload_id: str) -> None:
        self.store.abort_multipart_upload(self.bucket, key, upload_id)


def _part_number(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTS:
        raise bad_request(f"part numbers are 1 to {MAX_PARTS}")
    return int(raw)


class PresignAPI:
    """The ASGI app serving ``/s3/...`` over a :class:`Presigner`."""

    def __init__(self, presigner: Presigner, threads: StoreThreads) -> None:
        self.presigner = presigner
        self.threads = threads
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

    async def _answer(self, request: Request, func: Callable[[], Any]) -> Response:
        try:
            return JSONResponse(await self.threads.run(func))
        except Exception as exc:
            error = http_error(exc, f"{request.method} {request.url.path}")
            return JSONResponse(error.json(), status_code=error.status)

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    async def _params(self, request: Request) -> Response:
        q = request.query_params
        return await self._answer(
            request, lambda: self.presigner.put_url(q.get("filename"), q.get("type"))
        )

    async def _create(self, request: Request) -> Response:
        data = await self._json(request)
        filename, content_type = data.get("filename"), data.get("type")
        return await self._answer(
            request,
            lambda: self.presigner.create(
                filename if isinstance(filename, str) else None,
                content_type if isinstance(content_type, str) else None,
            ),
        )

    def _key(self, request: Request) -> str:
        return self.presigner.check_key(request.query_params.get("key"))

    async def _list(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        return await self._answer(
            request, lambda: self.presigner.list_parts(self._key(request), upload_id)
        )

    async def _sign(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]

        def sign() -> dict[str, Any]:
            number = _part_number(request.path_params["part_number"])
            url = self.presigner.part_url(self._key(request), upload_id, number)
            return {"url": url, "expires": self.presigner.expires_in}

        return await self._answer(request, sign)

    async def _batch(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]

        def sign() -> dict[str, Any]:
            key = self._key(request)
            raw = request.query_params.get("partNumbers", "")
            numbers = [_part_number(n.strip()) for n in raw.split(",") if n.strip()]
            return {
                "presignedUrls": {
                    str(n): self.presigner.part_url(key, upload_id, n) for n in numbers
                }
            }

        return await self._answer(request, sign)

    async def _complete(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        data = await self._json(request)

        def complete() -> dict[str, Any]:
            key = self._key(request)
            raw = data.get("parts")
            if not isinstance(raw, list) or not raw:
                raise bad_request("parts: a list of {PartNumber, ETag} is required")
            parts = []
            for item in raw:
                if not isinstance(item, dict) or not isinstance(item.get("ETag"), str):
                    raise bad_request("every part needs PartNumber and ETag")
                number = _part_number(str(item.get("PartNumber", "")))
                parts.append(PartRecord(number, 0, item["ETag"]))
            parts.sort(key=lambda p: p.number)
            return {"location": self.presigner.complete(key, upload_id, parts), "key": key}

        return await self._answer(request, complete)

    async def _abort(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]

        def abort() -> dict[str, Any]:
            self.presigner.abort(self._key(request), upload_id)
            return {}

        return await self._answer(request, abort)
