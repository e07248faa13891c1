"""The S3 side of the presign API: keys, limits, ownership and the store calls.

A :class:`Presigner` signs requests that clients then send to the store themselves, so
whatever it must enforce is either checked here before it signs or signed into the
request, where the store enforces it:

- **ownership**: every multipart upload has a record in the bucket
  (:mod:`.records`) naming the token that created it; any other token, a key that is not
  the upload's and an id without a record get 404;
- **size**: a single form upload's policy carries ``content-length-range`` up to the limit;
  a multipart upload that declares its size gets part URLs that sign each part's exact
  ``Content-Length`` (so the store refuses other lengths) and no part number past its
  count; one that does not is held to the part count the limit allows at S3's 5 MiB part
  minimum; and ``complete`` checks the parts' sizes (the sum within the limit, equal to a
  declared size) before anything is completed;
- **integrity**: an upload created with a checksum gets part URLs that sign the part's CRC
  header, so the store verifies every part against the CRC the client computed;
- **keys**: made here under the prefix (``naming`` as for tus); ``no_clobber`` completes
  with ``If-None-Match: *``.

Blocking calls throughout: the API runs them in the gateway's store threads.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from s3stream.checksums import ChecksumAlgorithm, encoded_length
from s3stream.engine.plan import plan_parts
from s3stream.errors import AlreadyExists, ConfigError, NoSuchUpload, StoreError
from s3stream.gateway.errors import HTTPError, bad_request, not_found, too_large
from s3stream.gateway.model import content_type_or_none, sanitize_filename, with_suffix
from s3stream.gateway.presign.records import PresignRecord, PresignRecords
from s3stream.gateway.settings import Naming
from s3stream.limits import (
    MAX_OBJECT_SIZE,
    MAX_PARTS,
    MAX_SINGLE_PUT_SIZE,
    MIN_PART_SIZE,
    MiB,
    format_size,
)
from s3stream.store.attributes import ObjectOptions
from s3stream.store.protocol import Objects, ObjectStore
from s3stream.store.types import CREATE, OVERWRITE, PartRecord

log = logging.getLogger(__name__)

BROWSER_CHECKSUMS = (ChecksumAlgorithm.CRC64NVME, ChecksumAlgorithm.CRC32C, ChecksumAlgorithm.CRC32)
"""The part checksums a browser client can compute (the upload page implements all three)."""


def part_checksum(setting: ChecksumAlgorithm) -> ChecksumAlgorithm:
    """The CRC that presigned parts are signed with, for the gateway's checksum setting.

    The one place this is decided: a store that does not verify part checksums (or a
    setting without a CRC) gets ``NONE``, and parts then carry no checksum header.
    """
    return setting if setting in BROWSER_CHECKSUMS else ChecksumAlgorithm.NONE


@dataclass(frozen=True, slots=True)
class PresignSettings:
    key_prefix: str = ""
    naming: Naming = "unique"
    no_clobber: bool = False
    max_size: int = MAX_OBJECT_SIZE
    """The largest object a client may upload (``--max-size``)."""
    expires_in: int = 3600
    """Lifetime of every URL handed out, in seconds (``--presign-expires``)."""
    expiration: float | None = 24 * 3600.0
    """Seconds after its creation a multipart upload is swept (``None``: never)."""
    part_size: int = 16 * MiB
    """The part size offered to a client that declares its size but not a part size."""
    checksum: ChecksumAlgorithm = ChecksumAlgorithm.NONE
    """The part CRC clients may opt into (see :func:`part_checksum`)."""

    def __post_init__(self) -> None:
        if self.expires_in < 1:
            raise ConfigError("presigned URLs must live at least one second")

    @property
    def max_parts(self) -> int:
        """The most parts an upload within ``max_size`` can have."""
        return max(1, min(MAX_PARTS, -(-self.max_size // MIN_PART_SIZE)))


class Presigner:
    """Signs direct uploads into ``bucket`` for an owner (an id from the bearer token)."""

    def __init__(
        self,
        store: ObjectStore,
        objects: Objects,
        bucket: str,
        settings: PresignSettings | None = None,
        *,
        defaults: ObjectOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.objects = objects
        self.bucket = bucket
        self.settings = settings or PresignSettings()
        self.defaults = defaults or ObjectOptions()
        """The operator's object attributes, set on the multipart uploads this creates (a
        form upload carries only its content type)."""
        self.clock = clock
        self.records = PresignRecords(objects, bucket, f"{self.settings.key_prefix}_presign/")

    # ------------------------------------------------------------------ keys

    def new_key(self, filename: str | None) -> str:
        name = sanitize_filename(filename or "")
        if not name:
            name = with_suffix("upload", secrets.token_hex(6))
        elif self.settings.naming == "unique":
            name = with_suffix(name, secrets.token_hex(6))
        return f"{self.settings.key_prefix}{name}"

    def _refuse_existing(self, key: str) -> None:
        if self.settings.no_clobber and self.store.head_object(self.bucket, key) is not None:
            raise HTTPError(409, "Exists", "an object with this name exists already")

    def _url(self, key: str) -> str:
        return self.objects.presign_request(
            "get_object", {"Bucket": self.bucket, "Key": key}, self.settings.expires_in
        )

    # ------------------------------------------------------------------ single uploads

    def form_upload(self, filename: str | None, content_type: str | None) -> dict[str, Any]:
        """A POST policy for one object (what Uppy's ``@uppy/aws-s3`` sends for files it
        does not split): the store refuses a file above the size limit."""
        s = self.settings
        if s.no_clobber and s.naming == "exact":
            raise HTTPError(
                409,
                "Unconditional",
                "a form upload cannot refuse to overwrite (--no-clobber): use a multipart "
                "upload (Uppy: shouldUseMultipart: true)",
            )
        key = self.new_key(filename)
        fields = {"success_action_status": "201"}
        kind = content_type_or_none(content_type)
        if kind is not None:
            fields["Content-Type"] = kind
        post = self.objects.presign_post(
            self.bucket,
            key,
            fields=fields,
            max_size=min(s.max_size, MAX_SINGLE_PUT_SIZE),
            expires_in=s.expires_in,
        )
        return {
            "method": "POST",
            "url": post.url,
            "fields": dict(post.fields),
            "headers": {},
            "expires": s.expires_in,
            "key": key,
        }

    # ------------------------------------------------------------------ multipart

    def _plan(self, size: int | None, part_size: int | None) -> int | None:
        """The part size for a declared ``size`` (the client's, checked, or one chosen)."""
        if size is None:
            if part_size is not None:
                raise bad_request("partSize needs size")
            return None
        if size > self.settings.max_size:
            raise too_large(
                f"{format_size(size)} is above this server's limit of "
                f"{format_size(self.settings.max_size)}"
            )
        if size == 0:
            raise bad_request("an empty file has no parts: upload it with /s3/params")
        try:
            plan = plan_parts(size, part_size or self.settings.part_size)
        except ConfigError as exc:
            raise bad_request(str(exc)) from None
        if part_size is not None and plan.first_part_size != part_size:
            raise bad_request(f"{part_size}-byte parts would make more than {MAX_PARTS} parts")
        return plan.first_part_size

    def create(
        self,
        owner: str,
        filename: str | None,
        content_type: str | None,
        *,
        size: int | None = None,
        part_size: int | None = None,
        checksum: str | None = None,
    ) -> dict[str, Any]:
        """Start a multipart upload owned by ``owner``; ``size`` and ``part_size`` fix its
        parts, ``checksum`` (the server's part CRC, by name) makes every part carry it."""
        algorithm = self._checksum(checksum)
        chosen = self._plan(size, part_size)
        key = self.new_key(filename)
        self._refuse_existing(key)
        options = self.defaults.updated(
            ObjectOptions(content_type=content_type_or_none(content_type))
        )
        upload_id = self.store.create_multipart_upload(
            self.bucket, key, checksum=algorithm, options=options
        )
        now = self.clock()
        expiration = self.settings.expiration
        record = PresignRecord(
            upload_id=upload_id,
            key=key,
            owner=owner,
            created=now,
            expires=None if expiration is None else now + expiration,
            size=size,
            part_size=chosen,
            checksum=algorithm,
        )
        try:
            self.records.create(record)
        except BaseException:
            with contextlib.suppress(StoreError):  # no record: nobody could finish it
                self.store.abort_multipart_upload(self.bucket, key, upload_id)
            raise
        answer: dict[str, Any] = {"key": key, "uploadId": upload_id}
        if chosen is not None:
            answer["partSize"] = chosen
        if algorithm is not ChecksumAlgorithm.NONE:
            answer["checksum"] = algorithm.value
        return answer

    def _checksum(self, requested: str | None) -> ChecksumAlgorithm:
        if requested is None or requested.lower() == "none":
            return ChecksumAlgorithm.NONE
        offered = self.settings.checksum
        if offered is ChecksumAlgorithm.NONE or requested.lower() != offered.value:
            available = "none" if offered is ChecksumAlgorithm.NONE else offered.value
            raise bad_request(f"checksum {requested!r}: this server signs {available} parts")
        return offered

    def owned(self, owner: str, key: str, upload_id: str) -> PresignRecord:
        """The upload's record, if ``owner`` created it under ``key`` (404 otherwise; 400
        for a key outside the prefix)."""
        if not key.startswith(self.settings.key_prefix) or ".." in key.split("/"):
            raise bad_request("a key under this server's prefix is required")
        record = self.records.load(upload_id)
        if record is None or record.owner != owner or record.key != key:
            raise not_found()
        return record

    def list_parts(self, owner: str, key: str, upload_id: str) -> list[dict[str, Any]]:
        self.owned(owner, key, upload_id)
        latest: dict[int, PartRecord] = {}
        for part in self.store.list_parts(self.bucket, key, upload_id):
            latest[part.number] = part  # a store may list a re-sent part twice
        return [
            {"PartNumber": p.number, "Size": p.size, "ETag": p.etag}
            for p in sorted(latest.values(), key=lambda p: p.number)
        ]

    def sign_parts(
        self, owner: str, key: str, upload_id: str, numbers: Sequence[tuple[int, str | None]]
    ) -> list[dict[str, Any]]:
        """Part URLs for ``(part number, checksum)`` pairs: each with the headers the
        client must send (the signed checksum), valid ``expires_in`` seconds."""
        record = self.owned(owner, key, upload_id)
        return [self._sign(record, number, checksum) for number, checksum in numbers]

    def _sign(self, record: PresignRecord, number: int, checksum: str | None) -> dict[str, Any]:
        count = record.part_count
        limit = count if count is not None else self.settings.max_parts
        if number > limit:
            raise bad_request(f"part {number} is beyond this upload's {limit} parts")
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": record.key,
            "UploadId": record.upload_id,
            "PartNumber": number,
        }
        length = record.part_length(number)
        if length is not None:
            params["ContentLength"] = length
        headers = {}
        algorithm = record.checksum
        if algorithm is not ChecksumAlgorithm.NONE:
            value = _checked_crc(algorithm, checksum)
            params[f"Checksum{algorithm.s3_name}"] = value
            headers[f"x-amz-checksum-{algorithm.value}"] = value
        url = self.objects.presign_request("upload_part", params, self.settings.expires_in)
        return {"url": url, "expires": self.settings.expires_in, "headers": headers}

    def complete(
        self, owner: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> dict[str, Any]:
        """Complete with the client's ``(number, ETag)`` list once the parts the store holds
        check out; a refusal leaves the upload as it was."""
        record = self.owned(owner, key, upload_id)
        chosen = self._chosen_parts(record, parts)
        mode = CREATE if self.settings.no_clobber else OVERWRITE
        try:
            self.store.complete_multipart_upload(
                self.bucket,
                key,
                upload_id,
                chosen,
                checksum=record.checksum,
                checksum_value=None,
                mode=mode,
            )
        except AlreadyExists:
            raise HTTPError(
                409, "Exists", "an object with this name exists already: abort this upload"
            ) from None
        self.records.delete(upload_id)
        return {"location": self._url(key), "key": key, "bucket": self.bucket}

    def _chosen_parts(
        self, record: PresignRecord, parts: Sequence[tuple[int, str]]
    ) -> list[PartRecord]:
        numbers = [n for n, _ in parts]
        if len(set(numbers)) != len(numbers):
            raise bad_request("a part number is listed twice")
        held = self.store.list_parts(self.bucket, record.key, record.upload_id)
        chosen = []
        for number, etag in sorted(parts):
            found = [p for p in held if p.number == number and _same_etag(p.etag, etag)]
            if not found:
                raise bad_request(f"part {number} with ETag {etag} is not in the upload")
            chosen.append(found[-1])
        total = sum(p.size for p in chosen)
        if total > self.settings.max_size:
            raise too_large(
                f"the parts add up to {total} bytes, above this server's limit of "
                f"{self.settings.max_size}"
            )
        count = record.part_count
        if count is not None and numbers and sorted(numbers) != list(range(1, count + 1)):
            raise bad_request(f"the upload declared {count} parts: list parts 1 to {count}")
        if record.size is not None and total != record.size:
            raise bad_request(
                f"the parts add up to {total} bytes; the upload declared {record.size}"
            )
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise bad_request(
                    f"part {part.number} has {part.size} bytes: every part but the last needs "
                    f"at least {format_size(MIN_PART_SIZE)}"
                )
        return chosen

    def abort(self, owner: str, key: str, upload_id: str) -> None:
        self.owned(owner, key, upload_id)
        with contextlib.suppress(NoSuchUpload):
            self.store.abort_multipart_upload(self.bucket, key, upload_id)
        self.records.delete(upload_id)

    def sweep(self, now: float) -> int:
        """Abort the multipart uploads whose records expired by ``now``; how many."""
        removed = 0
        for record in self.records.all():
            if record.expires is None or record.expires > now:
                continue
            with contextlib.suppress(NoSuchUpload):  # another process swept it first
                self.store.abort_multipart_upload(self.bucket, record.key, record.upload_id)
            self.records.delete(record.upload_id)
            log.info("swept abandoned presigned upload of %s", record.key)
            removed += 1
        return removed


def _same_etag(a: str, b: str) -> bool:
    return a.strip().strip('"') == b.strip().strip('"')


def _checked_crc(algorithm: ChecksumAlgorithm, value: str | None) -> str:
    """A part's base64 CRC as the client sent it, checked for form (the store checks it
    against the bytes)."""
    name = algorithm.value
    if not value:
        raise bad_request(f"this upload's parts need their {name}: add checksum=<base64>")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(value) != encoded_length(algorithm) or not raw:
        raise bad_request(f"checksum {value!r} is not a base64 {name}")
    return value
