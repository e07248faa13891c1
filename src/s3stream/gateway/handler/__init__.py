"""The tus 1.0 protocol handler, split by method; it knows only the upload-store interface."""

from .common import Context
from .router import TusHandler

__all__ = ["Context", "TusHandler"]
