"""PATCH: append a chunk at ``Upload-Offset`` (also the body of a creation-with-upload POST)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from s3stream.gateway.datastore import DeferredLengthStore
from s3stream.gateway.errors import HTTPError, bad_request, offset_mismatch, too_large
from s3stream.gateway.handler.body import ChecksumCheck, RequestBody
from s3stream.gateway.handler.common import (
    OCTET_STREAM,
    Context,
    expiry_header,
    header_int,
    load_upload,
    owner_of,
    tus_response,
)
from s3stream.gateway.model import Upload


def is_octet_stream(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == OCTET_STREAM


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


async def handle_patch(ctx: Context, request: Request, upload_id: str, receive: Any) -> Response:
    if not is_octet_stream(request):
        raise HTTPError(415, "UnsupportedMediaType", f"Content-Type must be {OCTET_STREAM}")
    offset = header_int(request, "Upload-Offset", required=True)
    assert offset is not None
    length = header_int(request, "Upload-Length")
    checksum = ChecksumCheck.parse(
        request.headers.get("upload-checksum"), ctx.settings.checksum_algorithms
    )
    upload = await load_upload(ctx, request, upload_id)
    if upload.final:
        raise HTTPError(403, "Forbidden", "a final upload cannot be patched")
    if upload.offset != offset:
        raise offset_mismatch(upload.offset, offset)
    async with ctx.writing(owner_of(request)), ctx.store.lock(upload_id):
        upload = await write_chunk(ctx, request, upload_id, offset, length, checksum, receive)
    return tus_response(204, {"Upload-Offset": str(upload.offset), **expiry_header(upload)})


async def write_chunk(
    ctx: Context,
    request: Request,
    upload_id: str,
    offset: int,
    length: int | None,
    checksum: ChecksumCheck | None,
    receive: Any,
) -> Upload:
    """Under the upload's lock: check the offset again, set a deferred length, write.

    A refused chunk changes nothing, a deferred length included: the length is declared
    once the body is known to fit (by ``Content-Length``), or after a body of unknown
    length was taken whole.
    """
    upload = await ctx.store.get(upload_id)
    if upload.offset != offset:
        raise offset_mismatch(upload.offset, offset)
    declare: DeferredLengthStore | None = None
    size = upload.size
    if length is not None and length != upload.size:
        declare = _length_store(ctx, upload, length)
        size = length
    content_length = header_int(request, "Content-Length")
    if size is not None and content_length is not None and offset + content_length > size:
        raise too_large(f"the chunk ends at {offset + content_length}, past the length {size}")
    if declare is not None and length is not None and content_length is not None:
        upload = await declare.declare_length(upload_id, length)
        declare = None
    limit = None if size is None else size - offset
    body = RequestBody(
        receive,
        timeout=ctx.settings.body_timeout,
        limit=limit,
        checksum=checksum,
        empty=content_length == 0,
        expected=content_length,
    )
    if content_length == 0 and checksum is None and upload.finished:
        return upload
    before = upload
    report = ctx.hooks.progress_callback(upload)
    upload = await ctx.store.write(upload_id, offset, body, report, ctx.expires())
    if declare is not None and length is not None:
        upload = await declare.declare_length(upload_id, length)
    if report is not None and upload.offset != before.offset and not upload.finished:
        report(upload.offset)
    if upload.finished and not before.finished:
        ctx.event("finished", upload)
    return upload


def _length_store(ctx: Context, upload: Upload, length: int) -> DeferredLengthStore:
    """The store that will take ``length`` for ``upload`` (400 or 413 when it cannot)."""
    store = ctx.store
    if upload.size is not None:
        raise bad_request("Upload-Length cannot be changed once set")
    if not isinstance(store, DeferredLengthStore):
        raise bad_request("deferred lengths are not supported")
    if length > ctx.settings.max_size:
        raise too_large(f"Upload-Length exceeds Tus-Max-Size {ctx.settings.max_size}")
    if length < upload.offset:
        raise bad_request("Upload-Length is below the upload's offset")
    return store
