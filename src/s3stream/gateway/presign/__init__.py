"""Presigned direct-to-S3 uploads: the browser sends the bytes to the store itself, and the
gateway only signs (as Uppy does with Companion).

:mod:`.signer` holds the rules and the store calls (:class:`Presigner`), :mod:`.records` the
per-upload ownership records in the bucket, :mod:`.api` the routes (:class:`PresignAPI`).
"""

from s3stream.gateway.presign.api import PresignAPI
from s3stream.gateway.presign.records import PresignRecord, PresignRecords
from s3stream.gateway.presign.signer import Presigner, PresignSettings, part_checksum

__all__ = [
    "PresignAPI",
    "PresignRecord",
    "PresignRecords",
    "PresignSettings",
    "Presigner",
    "part_checksum",
]
