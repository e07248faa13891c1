"""Resuming interrupted uploads, and finding and aborting orphaned ones.

Resume is careful in this order: the server's ListParts decides which recorded parts still
count (recorded parts it does not confirm are sent again); a file must match its
fingerprint and its completed parts must match their recorded checksums, byte for byte,
before anything is sent; parts the server holds that the journal missed are adopted when
they are the file's bytes (:mod:`s3stream.resume.reconcile`); only then are the missing
parts uploaded and the object completed. An object therefore never mixes the bytes of two
versions of a file, and no part the server holds is sent again.

:class:`Recovery` is built from what it works with (the store, the journal, the retry
policy and a factory of writers), so it knows nothing of the uploader that uses it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from s3stream.engine.filewriter import FileWriter, open_regular_file
from s3stream.engine.progress import ProgressCallback
from s3stream.engine.result import UploadResult
from s3stream.engine.retry import RetryPolicy, call_with_retry
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import (
    ConfigError,
    NoSuchUpload,
    SourceError,
    StoreError,
    UploadFailed,
    UploadInterrupted,
)
from s3stream.resume.info import OPEN_STATES, ResumeInfo, SourceFingerprint
from s3stream.resume.journal import Journal
from s3stream.resume.reconcile import adopt, confirmed, verify_file
from s3stream.store.attributes import CustomerKey, RequestOptions
from s3stream.store.protocol import ObjectStore
from s3stream.store.types import PartRecord

W = TypeVar("W", bound=MultipartWriter)

ResumeSource = BinaryIO | Iterable[bytes | bytearray | memoryview] | str | os.PathLike[str]
"""A file path, or a stream that replays the upload from its ``resume_offset``."""


class WriterFactory(Protocol):
    """Makes the writer of one upload (the uploader's, with its configuration applied)."""

    def __call__(
        self,
        kind: type[W],
        bucket: str,
        key: str,
        size: int | None,
        on_progress: ProgressCallback | None,
        options: Mapping[str, Any],
        *,
        source: SourceFingerprint | None = None,
        resume: ResumeInfo | None = None,
    ) -> W: ...


@dataclass(frozen=True, slots=True)
class IncompleteUpload:
    bucket: str
    key: str
    upload_id: str
    initiated: dt.datetime
    journaled: bool
    """True when this machine's journal knows the upload (it can be resumed from here)."""


class Recovery:
    """Resume, list and abort incomplete multipart uploads."""

    def __init__(
        self,
        store: ObjectStore,
        journal: Journal | None,
        retry: RetryPolicy,
        new_writer: WriterFactory,
    ) -> None:
        self.store = store
        self.journal = journal
        self.retry = retry
        self.new_writer = new_writer

    def resume(
        self,
        upload: ResumeInfo | str,
        source: ResumeSource | None,
        on_progress: ProgressCallback | None,
        options: Mapping[str, Any],
    ) -> UploadResult:
        """Continue ``upload`` (see :meth:`S3StreamUploader.resume`) and complete it."""
        info = self._load(upload)
        options = (
            info.upload_options()
            | {
                "no_clobber": info.no_clobber,
                "concurrency": info.concurrency,
            }
            | dict(options)
        )
        key = _customer_key(info, options.get("sse_customer_key"))
        request = RequestOptions(
            key, bool(options["request_payer"]), options["expected_bucket_owner"]
        )
        listed = self._listed(info, request)
        info = confirmed(info, listed)
        if source is None:
            if info.source is None or info.source.kind != "file" or info.source.path is None:
                raise SourceError(
                    f"upload {info.upload_id} came from a stream: resume it with a source "
                    f"that replays from byte {info.resume_offset} (standard input cannot be "
                    "replayed)"
                )
            source = info.source.path
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            fd = open_regular_file(path)
            try:
                verify_file(info, fd, str(path))
                info = adopt(info, listed, fd)
                fingerprint = info.source or SourceFingerprint.of_file(path, fd)
                writer = self.new_writer(
                    FileWriter,
                    info.bucket,
                    info.key,
                    info.size,
                    on_progress,
                    options,
                    source=fingerprint,
                    resume=info,
                )
                return writer.upload(fd, fingerprint)
            finally:
                os.close(fd)
        # A stream replaying from info.resume_offset: parts after the unbroken run are re-sent.
        info = info.with_parts(
            tuple(p for p in info.parts if info.plan.offset(p.number) < info.resume_offset)
        )
        stream = self.new_writer(
            MultipartWriter,
            info.bucket,
            info.key,
            info.size,
            on_progress,
            options,
            source=info.source,
            resume=info,
        )
        return stream.consume(source)

    def _load(self, upload: ResumeInfo | str) -> ResumeInfo:
        if isinstance(upload, ResumeInfo):
            return upload
        entry = self.journal.get(upload) if self.journal is not None else None
        if entry is None:
            raise ConfigError(f"no upload {upload!r} in the journal: list them with `s3stream ls`")
        if entry.state not in OPEN_STATES:
            raise ConfigError(f"upload {entry.info.upload_id} is already {entry.state}")
        return entry.info

    def _listed(self, info: ResumeInfo, request: RequestOptions) -> list[PartRecord]:
        """The parts the server holds for ``info``'s upload (asked with ``request``'s
        options: an SSE-C upload's key).

        ListParts is retried like any part: a throttle or a reset must not fail a resume; a
        store still unreachable after that leaves the upload as it was
        (:class:`UploadInterrupted`)."""
        here = self.store.endpoint_url
        if info.endpoint_url and here and info.endpoint_url != here:
            raise ConfigError(
                f"upload {info.upload_id} lives at {info.endpoint_url}, not {here}: "
                f"resume it with --endpoint-url {info.endpoint_url}"
            )
        try:
            store = self.store.with_request_options(request)
            listed = call_with_retry(
                lambda: store.list_parts(info.bucket, info.key, info.upload_id),
                self.retry,
                describe="ListParts",
            )
        except NoSuchUpload:
            if self.journal is not None:
                self.journal.set_state(info.upload_id, "aborted", "gone from the server")
            raise UploadFailed(
                f"upload {info.upload_id} of s3://{info.bucket}/{info.key} is no longer on "
                "the server (aborted or completed elsewhere); it was removed from the "
                "journal: upload the object again",
                bucket=info.bucket,
                key=info.key,
                upload_id=info.upload_id,
            ) from None
        except StoreError as exc:
            if not exc.retryable:
                raise
            raise UploadInterrupted(
                f"upload {info.upload_id} of s3://{info.bucket}/{info.key} was not resumed "
                f"(nothing changed): ListParts kept failing ({exc.code})",
                bucket=info.bucket,
                key=info.key,
                upload_id=info.upload_id,
                parts_left=True,
            ) from exc
        return listed

    def list_incomplete(
        self, bucket: str, prefix: str, older_than: dt.timedelta | None
    ) -> list[IncompleteUpload]:
        """Incomplete multipart uploads on the server (journaled or not), oldest first."""
        journal = self.journal
        known = {e.info.upload_id for e in journal.entries()} if journal is not None else set()
        cutoff = dt.datetime.now(dt.UTC) - older_than if older_than is not None else None
        found = []
        for u in self.store.list_multipart_uploads(bucket, prefix):
            initiated = u.initiated if u.initiated.tzinfo else u.initiated.replace(tzinfo=dt.UTC)
            if cutoff is None or initiated <= cutoff:
                found.append(
                    IncompleteUpload(bucket, u.key, u.upload_id, initiated, u.upload_id in known)
                )
        return sorted(found, key=lambda u: u.initiated)

    def abort(self, bucket: str, key: str, upload_id: str) -> bool:
        """Abort on the server and mark the journal; False when the server had no such
        upload."""
        try:
            self.store.abort_multipart_upload(bucket, key, upload_id)
            existed = True
        except NoSuchUpload:
            existed = False
        journal = self.journal
        if journal is not None:
            entry = journal.get(upload_id)
            known_open = (
                entry is not None
                and entry.info.upload_id == upload_id
                and entry.state in OPEN_STATES
            )
            if existed or known_open:  # never turn a completed upload's entry into an aborted
                journal.set_state(upload_id, "aborted")
        return existed


def _customer_key(info: ResumeInfo, given: bytes | CustomerKey | None) -> CustomerKey | None:
    """The SSE-C key to resume with: the one the upload was started with, given again."""
    key = CustomerKey(given) if isinstance(given, bytes | bytearray) else given
    expected = info.sse_customer_key_md5
    if expected is None:
        if key is not None:
            raise ConfigError(
                f"upload {info.upload_id} is not encrypted with a customer key (SSE-C): "
                "resume it without one"
            )
        return None
    if key is None:
        raise ConfigError(
            f"upload {info.upload_id} is encrypted with a customer key (SSE-C), which is never "
            "stored: give it again (sse_customer_key=..., or --sse-c-key)"
        )
    if key.md5 != expected:
        raise ConfigError(
            f"the SSE-C key given is not the one upload {info.upload_id} was started with "
            f"(its MD5 is {expected})"
        )
    return key
