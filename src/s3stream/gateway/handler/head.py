"""HEAD: an upload's offset, length, metadata, concatenation and expiry."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from s3stream.gateway.handler.common import Context, load_upload, tus_response, upload_headers


async def handle_head(ctx: Context, request: Request, upload_id: str) -> Response:
    upload = await load_upload(ctx, request, upload_id)
    return tus_response(200, upload_headers(ctx, upload, request))
