"""The upload gateway (``s3stream serve``): a tus 1.0 server streaming uploads into S3.

Layers: :mod:`.handler` (the tus protocol, split by method) talks only to the upload-store
interface in :mod:`.datastore`; :mod:`.s3store` implements it on the engine's
:class:`~s3stream.parts.MultipartCalls` with state kept in the bucket, and :mod:`.memory`
is the in-memory fake. :mod:`.app` composes the ASGI app, :mod:`.command` the server.
"""

from .app import GatewayOptions, build_app
from .datastore import Capabilities, UploadStore, capabilities
from .errors import TusError
from .hooks import HookEvent, Hooks
from .memory import MemoryUploadStore
from .model import NewUpload, Upload
from .objects import BotoGatewayObjects, GatewayObjects
from .s3store import S3UploadStore
from .settings import TusSettings

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
