"""POST: creation, creation-with-upload, creation-defer-length and concatenation."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from s3stream.gateway.datastore import ConcatenationStore, TerminationStore
from s3stream.gateway.errors import HTTPError, bad_request, too_large
from s3stream.gateway.handler.body import ChecksumCheck
from s3stream.gateway.handler.common import (
    Context,
    expiry_header,
    header_int,
    id_from_url,
    load_upload,
    log,
    owner_of,
    tus_response,
    upload_url,
)
from s3stream.gateway.handler.patch import has_body, is_octet_stream, write_chunk
from s3stream.gateway.model import NewUpload, Upload, metadata_value, parse_metadata


async def handle_post(ctx: Context, request: Request, receive: Any) -> Response:
    raw_metadata = request.headers.get("upload-metadata")
    if raw_metadata is not None and len(raw_metadata.encode()) > ctx.settings.max_metadata_bytes:
        raise bad_request(f"Upload-Metadata exceeds {ctx.settings.max_metadata_bytes} bytes")
    metadata = parse_metadata(raw_metadata)
    concat = request.headers.get("upload-concat")
    if concat is not None and concat.strip().startswith("final"):
        return await _create_final(ctx, request, concat, metadata)
    partial = False
    if concat is not None:
        if concat.strip() != "partial" or not ctx.caps.concatenation:
            raise bad_request(f"unsupported Upload-Concat {concat!r}")
        partial = True
    size = header_int(request, "Upload-Length")
    defer = request.headers.get("upload-defer-length")
    if defer is not None:
        if defer.strip() != "1" or size is not None:
            raise bad_request("Upload-Defer-Length must be 1, and only without Upload-Length")
        if not ctx.caps.deferred_length:
            raise bad_request("deferred lengths are not supported")
    elif size is None:
        raise bad_request("Upload-Length or Upload-Defer-Length: 1 is required")
    if size is not None and size > ctx.settings.max_size:
        raise too_large(f"Upload-Length exceeds Tus-Max-Size {ctx.settings.max_size}")
    with_body = has_body(request)
    if with_body and not is_octet_stream(request):
        raise HTTPError(415, "UnsupportedMediaType", "a creation body must be an octet stream")
    checksum = ChecksumCheck.parse(
        request.headers.get("upload-checksum"), ctx.settings.checksum_algorithms
    )
    owner = owner_of(request)
    new = NewUpload(
        size=size, metadata=metadata, owner=owner, expires=ctx.expires(), partial=partial
    )
    upload_id = ctx.new_id()
    key = ctx.object_key(upload_id, metadata_value(metadata, "filename"))
    async with ctx.writing(owner):
        upload = await ctx.store.create(upload_id, key, new)
        ctx.event("created", upload)
        if upload.finished:
            ctx.event("finished", upload)
        headers = {"Location": upload_url(ctx, request, upload_id)}
        if with_body:
            async with ctx.store.lock(upload_id):
                try:
                    upload = await write_chunk(ctx, request, upload_id, 0, None, checksum, receive)
                except Exception:
                    await _discard(ctx, upload)
                    raise
            headers["Upload-Offset"] = str(upload.offset)
    headers.update(expiry_header(upload))
    return tus_response(201, headers)


async def _discard(ctx: Context, upload: Upload) -> None:
    """Remove an upload whose creation body was refused: its client never learns its URL."""
    store = ctx.store
    if not isinstance(store, TerminationStore):
        return
    try:
        await store.terminate(upload.id)
    except Exception:
        log.warning("could not remove upload %s after its creation failed", upload.id)
        return
    ctx.event("terminated", upload)


async def _create_final(
    ctx: Context, request: Request, concat: str, metadata: dict[str, str | None]
) -> Response:
    store = ctx.store
    if not isinstance(store, ConcatenationStore):
        raise bad_request("concatenation is not supported")
    if request.headers.get("upload-length") is not None:
        raise bad_request("a final upload must not have Upload-Length")
    _, _, urls = concat.strip().partition(";")
    ids = [id_from_url(ctx, url) for url in urls.split()]
    if not ids:
        raise bad_request("Upload-Concat: final lists no partial uploads")
    partials: list[Upload] = []
    for partial_id in ids:
        partial = await load_upload(ctx, request, partial_id)
        if not partial.partial:
            raise bad_request(f"upload {partial_id} is not a partial upload")
        if not partial.finished:
            raise bad_request(f"partial upload {partial_id} is not finished")
        partials.append(partial)
    total = sum(p.size or 0 for p in partials)
    if total > ctx.settings.max_size:
        raise too_large(f"the concatenation exceeds Tus-Max-Size {ctx.settings.max_size}")
    owner = owner_of(request)
    new = NewUpload(size=total, metadata=metadata, owner=owner)
    upload_id = ctx.new_id()
    key = ctx.object_key(upload_id, metadata_value(metadata, "filename"))
    async with ctx.writing(owner):
        upload = await store.concatenate(upload_id, key, new, partials)
    ctx.event("created", upload)
    ctx.event("finished", upload)
    return tus_response(201, {"Location": upload_url(ctx, request, upload_id)})
