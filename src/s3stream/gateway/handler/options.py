"""OPTIONS: what this server supports (tus discovery)."""

from __future__ import annotations

from starlette.responses import Response

from s3stream.gateway.handler.common import Context, tus_response
from s3stream.gateway.settings import TUS_VERSION


async def handle_options(ctx: Context) -> Response:
    checksums = ctx.settings.checksum_algorithms
    headers = {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(ctx.caps.extensions(checksum=bool(checksums))),
        "Tus-Max-Size": str(ctx.settings.max_size),
    }
    if checksums:
        headers["Tus-Checksum-Algorithm"] = ",".join(checksums)
    return tus_response(204, headers)
