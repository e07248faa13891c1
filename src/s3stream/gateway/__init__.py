"""The upload gateway (``s3stream serve``): a tus 1.0 server streaming uploads into S3.

Layers: :mod:`.handler` (the tus protocol, split by method) talks only to the upload-store
interface in :mod:`.datastore`; :mod:`.s3store` implements it on the engine's
:class:`~s3stream.engine.calls.MultipartCalls` with state kept in the bucket, and :mod:`.memory`
is the in-memory fake. :mod:`.app` composes the ASGI app, :mod:`.command` the server.
"""

from s3stream.gateway.app import GatewayOptions, build_app
from s3stream.gateway.datastore import Capabilities, UploadStore, capabilities
from s3stream.gateway.errors import TusError
from s3stream.gateway.hooks import HookEvent, Hooks
from s3stream.gateway.memory import MemoryUploadStore
from s3stream.gateway.model import NewUpload, Upload
from s3stream.gateway.s3store.store import S3UploadStore
from s3stream.gateway.settings import TusSettings
from s3stream.store.objects import BotoGatewayObjects, GatewayObjects

__all__ = [
    "BotoGatewayObjects",
    "Capabilities",
    "GatewayObjects",
    "GatewayOptions",
    "HookEvent",
    "Hooks",
    "MemoryUploadStore",
    "NewUpload",
    "S3UploadStore",
    "TusError",
    "TusSettings",
    "Upload",
    "UploadStore",
    "build_app",
    "capabilities",
]
