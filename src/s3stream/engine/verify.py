"""What an upload's result says was verified, and the client's read-back (``verify``).

The store verified what its capabilities say it verifies (see
:meth:`~s3stream.engine.choices.ChecksumUse.verification`). With ``verify`` the object is
also read back and every part's bytes are checked against the checksum s3stream computed
for it when it was sent; an object that differs is deleted (it is not the source's) and the
upload fails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from s3stream.checksums import ChecksumAlgorithm, RunningChecksum, encode
from s3stream.engine.choices import ChecksumUse, Verified, VerifiedBy
from s3stream.errors import StoreError
from s3stream.store.protocol import ObjectStore
from s3stream.store.types import PartRecord

log = logging.getLogger(__name__)


def read_back(
    store: ObjectStore,
    bucket: str,
    key: str,
    algorithm: ChecksumAlgorithm,
    parts: Sequence[PartRecord],
) -> None:
    """Read the object and compare each part's bytes with its record (size and checksum);
    a difference is a :class:`~s3stream.errors.StoreError` (``BadDigest``)."""
    where = f"s3://{bucket}/{key}"
    pending = list(parts)
    running = RunningChecksum(algorithm)

    def settle() -> None:
        nonlocal running
        while pending and running.size == pending[0].size:
            part = pending.pop(0)
            found = encode(algorithm, running.digest())
            if part.checksum is not None and found != part.checksum:
                raise StoreError(
                    f"read back: part {part.number} of {where} has {algorithm.value} {found}, "
                    f"{part.checksum} was sent",
                    code="BadDigest",
                    operation="GetObject",
                )
            running = RunningChecksum(algorithm)

    settle()
    for block in store.iter_chunks(bucket, key):
        view = memoryview(block)
        while view:
            if not pending:
                raise StoreError(
                    f"read back: {where} is longer than the bytes sent",
                    code="SizeMismatch",
                    operation="GetObject",
                )
            take = min(len(view), pending[0].size - running.size)
            running.update(view[:take])
            view = view[take:]
            settle()
    if pending:
        raise StoreError(
            f"read back: {where} is shorter than the bytes sent",
            code="SizeMismatch",
            operation="GetObject",
        )


def verify_upload(
    use: ChecksumUse,
    store: ObjectStore,
    bucket: str,
    key: str,
    parts: Sequence[PartRecord],
    multipart: bool,
    read: bool,
) -> tuple[Verified, VerifiedBy | None]:
    """What was verified of the completed object made of ``parts`` (a multipart upload's, or
    the one of a PutObject), after reading it back if ``read``; a read-back that differs
    deletes the object and raises."""
    if not read:
        return use.verification(multipart=multipart)
    try:
        read_back(store, bucket, key, use.algorithm, parts)
    except StoreError as exc:
        try:
            store.delete(bucket, key)
            exc.add_note(f"s3://{bucket}/{key} was deleted: upload it again")
        except StoreError as failed:
            log.warning("could not delete the wrong object s3://%s/%s: %s", bucket, key, failed)
        raise
    log.info("read s3://%s/%s back: every part matches", bucket, key)
    return "read-back", "s3stream"
