"""The upload gateway (``s3stream serve``): a tus 1.0 server streaming uploads into S3.

Layers: :mod:`.handler` (the tus protocol, split by method) talks only to the upload-store
interface in :mod:`.datastore`; :mod:`.s3store` implements it on the engine (parts through
:class:`~s3stream.engine.calls.MultipartCalls`, numbered by a
:class:`~s3stream.engine.ledger.PartLedger`) with state kept in the bucket, and
:mod:`.memory` is the in-memory fake. :mod:`.presign` signs direct uploads, :mod:`.web` is
the upload page, :mod:`.app` composes the ASGI app; ``s3stream serve``
(:mod:`s3stream.cli.serve`) builds it from flags.
"""

from s3stream.errors import MissingExtra

SERVER_MODULES = ("starlette", "uvicorn", "anyio", "h11", "prometheus_client")
"""The third-party modules the gateway imports: the ``server`` extra."""

try:
    from s3stream.gateway.app import GatewayOptions, build_app
    from s3stream.gateway.datastore import Capabilities, UploadStore, capabilities
    from s3stream.gateway.errors import HTTPError
    from s3stream.gateway.hooks import HookEvent, Hooks
    from s3stream.gateway.memory import MemoryUploadStore
    from s3stream.gateway.model import NewUpload, Upload
    from s3stream.gateway.s3store import S3UploadStore
    from s3stream.gateway.settings import TusSettings
except ModuleNotFoundError as exc:
    if exc.name not in SERVER_MODULES:
        raise
    raise MissingExtra("the upload gateway (s3stream.gateway)", ("server",), (exc.name,)) from exc

__all__ = [
    "SERVER_MODULES",
    "Capabilities",
    "GatewayOptions",
    "HTTPError",
    "HookEvent",
    "Hooks",
    "MemoryUploadStore",
    "NewUpload",
    "S3UploadStore",
    "TusSettings",
    "Upload",
    "UploadStore",
    "build_app",
    "capabilities",
]
