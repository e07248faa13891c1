"""DELETE (termination): remove an upload and what is stored for it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from s3stream.gateway.datastore import TerminationStore
from s3stream.gateway.errors import HTTPError
from s3stream.gateway.handler.common import Context, load_upload, tus_response


async def handle_delete(ctx: Context, request: Request, upload_id: str) -> Response:
    store = ctx.store
    if not isinstance(store, TerminationStore):
        raise HTTPError(
            405, "NotSupported", "termination is not supported", {"Allow": "HEAD, PATCH"}
        )
    upload = await load_upload(ctx, request, upload_id)
    async with ctx.store.lock(upload_id):
        await store.terminate(upload_id)
    ctx.event("terminated", upload)
    return tus_response(204)
