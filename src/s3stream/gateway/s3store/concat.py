"""tus concatenation: a final upload's object made of finished partial uploads' objects.

Partials that S3 can use as parts (each but the last at least 5 MiB) are copied server-side
with UploadPartCopy; the store checksums the copied bytes, and completing with the partials'
own checksums combined checks the result end to end. Any other partials, and all of them on
a store without UploadPartCopy or one that needs equal parts, are read back and written
through the engine's :class:`~s3stream.engine.writer.MultipartWriter`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from s3stream.checksums import ChecksumAlgorithm, PartDigest, combine, decode, encoded_length
from s3stream.config import UploadConfig
from s3stream.engine.calls import MultipartCalls
from s3stream.engine.choices import ChecksumUse
from s3stream.engine.retry import RetryPolicy
from s3stream.engine.writer import MultipartWriter
from s3stream.gateway.model import Upload
from s3stream.limits import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE
from s3stream.store.attributes import ObjectOptions
from s3stream.store.protocol import Objects, ObjectStore
from s3stream.store.types import CREATE, OVERWRITE, PartRecord


class Concatenation:
    """Builds final uploads' objects (blocking calls: run in a thread)."""

    def __init__(
        self,
        store: ObjectStore,
        objects: Objects,
        bucket: str,
        *,
        use: ChecksumUse,
        part_size: int,
        retry: RetryPolicy,
        no_clobber: bool,
        calls: Callable[[str, ChecksumAlgorithm], MultipartCalls],
        copy: bool = True,
        max_parts: int = MAX_PARTS,
        equal_parts: bool = False,
    ) -> None:
        self.store = store
        self.objects = objects
        self.bucket = bucket
        self.use = use
        self.algorithm = use.algorithm
        self.part_size = part_size
        self.copy = copy and not equal_parts
        """Whether partials may become parts server-side (UploadPartCopy, unequal parts)."""
        self.max_parts = max_parts
        self.equal_parts = equal_parts
        self.retry = retry
        self.no_clobber = no_clobber
        self.calls = calls

    def build(self, upload: Upload, partials: Sequence[Upload], options: ObjectOptions) -> None:
        """Write ``upload.key`` as the partials' bytes in order."""
        sizes = [p.size or 0 for p in partials]
        if (
            self.copy
            and all(s >= MIN_PART_SIZE for s in sizes[:-1])
            and sum(-(-max(s, 1) // MAX_PART_SIZE) for s in sizes) <= MAX_PARTS
        ):
            self._by_copy(upload, partials, options)
        else:
            self._by_streaming(upload, partials, options)

    def _by_copy(self, upload: Upload, partials: Sequence[Upload], options: ObjectOptions) -> None:
        """Server-side: UploadPartCopy of each partial (ranges of at most 5 GiB)."""
        expected = self._combined_checksum(partials)
        calls = self.calls(upload.key, self.algorithm if expected else ChecksumAlgorithm.NONE)
        mpu = calls.create(options)
        try:
            parts: list[PartRecord] = []
            for partial in partials:
                size = partial.size or 0
                for start in range(0, size, MAX_PART_SIZE):
                    number = len(parts) + 1
                    copy = functools.partial(
                        self.objects.copy_part,
                        self.bucket,
                        upload.key,
                        mpu,
                        number,
                        partial.key,
                        (start, min(size, start + MAX_PART_SIZE) - 1),
                    )
                    copied = calls.retry(copy, f"UploadPartCopy {number}")
                    parts.append(PartRecord(number, copied.size, copied.etag))
            if not parts:
                calls.abort(mpu)
                calls.put_object(memoryview(b""), options)
                return
            mode = CREATE if self.no_clobber else OVERWRITE
            calls.complete(mpu, parts, size=upload.size or 0, mode=mode, expected=expected)
        except BaseException:
            calls.abort(mpu)
            raise

    def _combined_checksum(self, partials: Sequence[Upload]) -> str | None:
        """The object's checksum combined from the finished partials' whole-object ones (as
        the store keeps them); ``None`` when the gateway stores none or a partial has none
        in its algorithm."""
        if not self.algorithm.full_object or not self.use.sent:
            return None
        digests: list[PartDigest] = []
        for partial in partials:
            if not partial.size:
                continue
            info = self.store.head_object(self.bucket, partial.key)
            value = None if info is None else info.checksum
            if value is None or len(value) != encoded_length(self.algorithm):
                return None
            digests.append(decode(self.algorithm, value, partial.size))
        return combine(self.algorithm, digests) if digests else None

    def _by_streaming(
        self, upload: Upload, partials: Sequence[Upload], options: ObjectOptions
    ) -> None:
        """Through the engine: read each partial and write it into one multipart writer."""
        config = UploadConfig(
            part_size=self.part_size,
            concurrency=2,
            checksum=self.algorithm,
            retry=self.retry,
            no_clobber=self.no_clobber,
            **options.as_fields(),
            max_parts=self.max_parts,
            equal_parts=self.equal_parts,
        )
        writer = MultipartWriter(
            self.store, self.bucket, upload.key, config, checksums=self.use, size=upload.size
        )
        try:
            for partial in partials:
                for block in self.objects.iter_chunks(self.bucket, partial.key):
                    writer.write(block)
            writer.finish()
        except BaseException:
            writer.abort()
            raise
