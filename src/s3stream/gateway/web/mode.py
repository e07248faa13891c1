"""How the page uploads files: through the gateway with tus, or straight to the store.

In **direct** mode the page uploads every file as a presigned multipart upload (the presign
API's routes): parts in parallel, each signed with its CRC when the gateway asks for one,
pause and resume, and resume after a reload through ListParts. For that the browser must
reach the store, and the bucket's CORS rule must let the page's origin ``PUT`` and read
``ETag``. **auto** picks direct for a page whose origin the bucket's rules allow (read with
GetBucketCors, kept for a minute), tus otherwise; a store that cannot tell means tus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from s3stream.checksums import ChecksumAlgorithm
from s3stream.errors import StoreError
from s3stream.gateway.presign import PresignSettings
from s3stream.gateway.threads import StoreThreads
from s3stream.limits import MIN_PART_SIZE
from s3stream.store.cors import allows_uploads
from s3stream.store.protocol import BucketCors
from s3stream.store.types import CorsRule

log = logging.getLogger(__name__)

Mode = Literal["auto", "tus", "direct"]
RULES_TTL = 60.0
"""Seconds the bucket's CORS rules are kept before they are read again."""
PARALLEL_PARTS = 4
"""Parts of one file the page sends at once in direct mode."""


@dataclass(frozen=True, slots=True)
class DirectUploads:
    """What the store needs of a page that uploads to it directly."""

    part_size: int
    max_size: int
    checksum: ChecksumAlgorithm
    min_part_size: int = MIN_PART_SIZE
    parallel: int = PARALLEL_PARTS

    @classmethod
    def for_settings(cls, settings: PresignSettings) -> DirectUploads:
        return cls(settings.part_size, settings.max_size, settings.checksum)

    def to_json(self) -> dict[str, Any]:
        checksum = None if self.checksum is ChecksumAlgorithm.NONE else self.checksum.value
        return {
            "partSize": self.part_size,
            "minPartSize": self.min_part_size,
            "maxSize": self.max_size,
            "checksum": checksum,
            "parallel": self.parallel,
        }


class PageMode:
    def __init__(
        self,
        mode: Mode,
        direct: DirectUploads | None,
        cors: BucketCors | None = None,
        bucket: str = "",
        threads: StoreThreads | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode == "direct" and direct is None:
            raise ValueError("direct mode needs the presign API")
        self.mode = mode
        self.direct = direct
        self.cors = cors
        self.bucket = bucket
        self.threads = threads or StoreThreads()
        self.clock = clock
        self._rules: Sequence[CorsRule] | None = None
        self._read_at = float("-inf")

    async def _bucket_rules(self) -> Sequence[CorsRule]:
        if self.cors is None:
            return ()
        if self._rules is None or self.clock() - self._read_at > RULES_TTL:
            try:
                self._rules = await self.threads.run(self.cors.get_cors, self.bucket)
            except StoreError as exc:
                log.warning(
                    "cannot read the CORS rules of %s (the page uses tus): %s", self.bucket, exc
                )
                self._rules = ()
            self._read_at = self.clock()
        return self._rules

    async def for_origin(self, origin: str) -> Literal["tus", "direct"]:
        """The mode for a page served on ``origin``."""
        if self.direct is None or self.mode == "tus":
            return "tus"
        if self.mode == "direct":
            return "direct"
        return "direct" if allows_uploads(await self._bucket_rules(), origin) else "tus"
