"""The tus 1.0 protocol handler, split by method; it knows only the upload-store interface."""

from s3stream.gateway.handler.common import Context
from s3stream.gateway.handler.router import TusHandler

__all__ = ["Context", "TusHandler"]
