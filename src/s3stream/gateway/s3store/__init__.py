"""The S3 upload store, split by concern: upload state (:mod:`.state`), part buffers
(:mod:`.buffers`), a chunk's parts (:mod:`.chunks`), recording them (:mod:`.commit`),
completing objects (:mod:`.finish`), concatenation (:mod:`.concat`) and expiry
(:mod:`.expiry`), composed by :class:`~.store.S3UploadStore`; the objects' attributes in
:mod:`.attributes`."""

from s3stream.gateway.s3store.attributes import ObjectAttributes
from s3stream.gateway.s3store.store import S3UploadStore

__all__ = ["ObjectAttributes", "S3UploadStore"]
