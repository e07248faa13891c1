"""Resuming interrupted uploads, and finding and aborting orphaned ones.

Resume is careful in this order: the server's ListParts decides which recorded parts still
count (recorded parts it does not confirm are sent again); a file must match its
fingerprint and its completed parts must match their recorded checksums, byte for byte,
before anything is sent; only then are the missing parts uploaded and the object completed.
An object therefore never mixes the bytes of two versions of a file.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3stream.checksums import ChecksumAlgorithm, digest
from s3stream.engine.progress import ProgressCallback
from s3stream.engine.result import UploadResult
from s3stream.engine.retry import RetryPolicy, call_with_retry
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import ConfigError, NoSuchUpload, SourceError, UploadFailed
from s3stream.resume.info import ResumeInfo, SourceFingerprint
from s3stream.resume.journal import OPEN_STATES

if TYPE_CHECKING:
    from s3stream.uploader import S3StreamUploader, StreamSource


@dataclass(frozen=True, slots=True)
class IncompleteUpload:
    bucket: str
    key: str
    upload_id: str
    initiated: dt.datetime
    journaled: bool
    """True when this machine's journal knows the upload (it can be resumed from here)."""


def open_regular_file(path: Path) -> int:
    """Open ``path`` for reading; anything but a readable regular file is a SourceError."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file: check the path") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied: check the file's permissions") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot open: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise SourceError(f"{path} is a directory: give a file")
    raise SourceError(f"{path} is not a regular file: use upload_stream for pipes and devices")


def send_file(
    writer: MultipartWriter,
    fd: int,
    fingerprint: SourceFingerprint,
    skip: frozenset[int] = frozenset(),
) -> UploadResult:
    """Send the file's parts (all but ``skip``) and complete, refusing a file that changed."""

    def unchanged() -> None:
        st = os.fstat(fd)
        if (st.st_size, st.st_mtime_ns) != (fingerprint.size, fingerprint.mtime_ns):
            raise SourceError(
                f"{fingerprint.path} changed while it was uploaded: upload it again once it "
                "is complete (or use follow mode for a growing file)"
            )

    writer.check_source = unchanged
    writer.send_file(fd, skip)
    return writer.finish()


def _load(uploader: S3StreamUploader, upload: ResumeInfo | str) -> ResumeInfo:
    if isinstance(upload, ResumeInfo):
        return upload
    journal = uploader.journal
    entry = journal.get(upload) if journal is not None else None
    if entry is None:
        raise ConfigError(f"no upload {upload!r} in the journal: list them with `s3stream ls`")
    if entry.state not in ("active", "paused", "failed"):
        raise ConfigError(f"upload {entry.info.upload_id} is already {entry.state}")
    return entry.info


def _confirmed(uploader: S3StreamUploader, info: ResumeInfo, retry: RetryPolicy) -> ResumeInfo:
    """Keep only the recorded parts the server confirms (same number, etag and size).

    ListParts is retried like any part: a throttle or a reset must not fail a resume."""
    here = getattr(uploader.store, "endpoint_url", None)
    if info.endpoint_url and here and info.endpoint_url != here:
        raise ConfigError(
            f"upload {info.upload_id} lives at {info.endpoint_url}, not {here}: "
            f"resume it with --endpoint-url {info.endpoint_url}"
        )
    try:
        listed = call_with_retry(
            lambda: uploader.store.list_parts(info.bucket, info.key, info.upload_id),
            retry,
            describe="ListParts",
        )
    except NoSuchUpload:
        journal = uploader.journal
        if journal is not None:
            journal.set_state(info.upload_id, "aborted", "gone from the server")
        raise UploadFailed(
            f"upload {info.upload_id} of s3://{info.bucket}/{info.key} is no longer on the "
            "server (aborted or completed elsewhere); it was removed from the journal: "
            "upload the object again",
            bucket=info.bucket,
            key=info.key,
            upload_id=info.upload_id,
        ) from None
    on_server = {(p.part_number, p.etag, p.size) for p in listed}
    kept = tuple(p for p in info.parts if (p.number, p.etag, p.size) in on_server)
    return info.with_parts(kept)


def _verify_file(info: ResumeInfo, fd: int, path: str) -> None:
    """Raise SourceError unless the file is the one the recorded parts came from."""
    fingerprint = info.source
    changed = fingerprint.differences(fd) if fingerprint is not None else []
    algorithm = info.algorithm
    if not changed and algorithm is not ChecksumAlgorithm.NONE:
        buf = bytearray(max((p.size for p in info.parts), default=0))
        for part in info.parts:
            view = memoryview(buf)[: part.size]
            read = os.preadv(fd, [view], info.plan.offset(part.number))
            if read != part.size or digest(algorithm, view) != part.digest(algorithm):
                changed.append(f"the bytes of part {part.number}")
                break
    if changed:
        raise SourceError(
            f"{path} changed since upload {info.upload_id} started ({', '.join(changed)}): "
            "nothing was completed; restore the file, or give up with "
            f"`s3stream abort {info.upload_id}`"
        )


def resume_upload(
    uploader: S3StreamUploader,
    upload: ResumeInfo | str,
    source: StreamSource | str | os.PathLike[str] | None,
    on_progress: ProgressCallback | None,
    options: dict[str, Any],
) -> UploadResult:
    retry = options.get("retry", uploader.config.retry)
    info = _confirmed(uploader, _load(uploader, upload), retry)
    kept_options: dict[str, Any] = {
        "content_type": info.content_type,
        "metadata": info.metadata,
        "no_clobber": info.no_clobber,
        "concurrency": info.concurrency,
    }
    options = kept_options | options
    if source is None:
        if info.source is None or info.source.kind != "file" or info.source.path is None:
            raise SourceError(
                f"upload {info.upload_id} came from a stream: resume it with a source that "
                f"replays from byte {info.resume_offset} (standard input cannot be replayed)"
            )
        source = info.source.path
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        fd = open_regular_file(path)
        try:
            _verify_file(info, fd, str(path))
            fingerprint = info.source or SourceFingerprint.of_file(path, fd)
            writer = uploader._writer(
                info.bucket,
                info.key,
                info.size,
                on_progress,
                options,
                source=fingerprint,
                resume=info,
            )
            skip = frozenset(p.number for p in info.parts)
            return send_file(writer, fd, fingerprint, skip)
        finally:
            os.close(fd)
    # A stream replaying from info.resume_offset: parts after the unbroken run are re-sent.
    info = info.with_parts(
        tuple(p for p in info.parts if info.plan.offset(p.number) < info.resume_offset)
    )
    writer = uploader._writer(
        info.bucket, info.key, info.size, on_progress, options, source=info.source, resume=info
    )
    return writer.consume(source)


def list_incomplete(
    uploader: S3StreamUploader, bucket: str, prefix: str, older_than: dt.timedelta | None
) -> list[IncompleteUpload]:
    journal = uploader.journal
    known = {e.info.upload_id for e in journal.entries()} if journal is not None else set()
    cutoff = dt.datetime.now(dt.UTC) - older_than if older_than is not None else None
    found = []
    for u in uploader.store.list_multipart_uploads(bucket, prefix):
        initiated = u.initiated if u.initiated.tzinfo else u.initiated.replace(tzinfo=dt.UTC)
        if cutoff is None or initiated <= cutoff:
            found.append(
                IncompleteUpload(bucket, u.key, u.upload_id, initiated, u.upload_id in known)
            )
    return sorted(found, key=lambda u: u.initiated)


def abort_upload(uploader: S3StreamUploader, bucket: str, key: str, upload_id: str) -> bool:
    """Abort on the server and mark the journal; False when the server had no such upload."""
    try:
        uploader.store.abort_multipart_upload(bucket, key, upload_id)
        existed = True
    except NoSuchUpload:
        existed = False
    journal = uploader.journal
    if journal is not None:
        entry = journal.get(upload_id)
        known_open = (
            entry is not None and entry.info.upload_id == upload_id and entry.state in OPEN_STATES
        )
        if existed or known_open:  # never turn a completed upload's entry into an aborted one
            journal.set_state(upload_id, "aborted")
    return existed
