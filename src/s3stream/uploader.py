"""``S3StreamUploader``: the library's front door."""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict, TypeVar, Unpack

from s3stream.checksums import ChecksumAlgorithm
from s3stream.config import PresetName, UploadConfig, validate_bucket, validate_target
from s3stream.engine.bandwidth import TokenBucket
from s3stream.engine.choices import for_store
from s3stream.engine.filewriter import FileWriter, open_regular_file
from s3stream.engine.follow import FollowWriter
from s3stream.engine.progress import ProgressCallback
from s3stream.engine.result import UploadResult
from s3stream.engine.retry import RetryPolicy
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import ConfigError, SourceError, StoreError, UploadFailed
from s3stream.resume.info import ResumeInfo, SourceFingerprint
from s3stream.resume.journal import Journal, default_journal_path
from s3stream.resume.recovery import IncompleteUpload, Recovery, ResumeSource
from s3stream.session import UploadControl, UploadSession
from s3stream.store.attributes import CustomerKey
from s3stream.store.capabilities import Capabilities
from s3stream.store.known import CapabilityCache, KnownStores
from s3stream.store.probe import Probe, ProbeReport
from s3stream.store.protocol import Objects, ObjectStore
from s3stream.store.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT
from s3stream.store.transport import open_store

W = TypeVar("W", bound=MultipartWriter)
Chunk = bytes | bytearray | memoryview
StreamSource = Any
"""A binary file object, an iterable of bytes-like chunks, or an async iterable of them."""


class UploadOptions(TypedDict, total=False):
    """The keyword options every upload takes: the fields of :class:`UploadConfig` (which
    documents them), and ``control`` (an :class:`UploadControl` to pause or abort it from
    another thread)."""

    preset: PresetName
    part_size: int | None
    concurrency: int | None
    checksum: ChecksumAlgorithm | str | None
    max_parts: int | None
    equal_parts: bool | None
    retry: RetryPolicy
    retry_for: float | None
    leave_parts_on_error: bool
    progress_interval: float
    content_type: str | None
    metadata: Mapping[str, str]
    cache_control: str | None
    content_disposition: str | None
    content_encoding: str | None
    content_language: str | None
    expires: dt.datetime | None
    storage_class: str | None
    acl: str | None
    tagging: Mapping[str, str] | str | None
    sse: str | None
    sse_kms_key_id: str | None
    sse_customer_key: bytes | CustomerKey | None
    request_payer: bool
    expected_bucket_owner: str | None
    no_clobber: bool
    max_bandwidth: int | None
    verify: bool
    control: UploadControl


class S3StreamUploader:
    """Uploads files, streams and pushed chunks to S3 through the multipart engine.

    With no arguments the standard AWS configuration chain applies (environment variables
    including ``AWS_ENDPOINT_URL_S3``, shared config and credentials files, ``AWS_PROFILE``).
    ``endpoint_url``, ``region`` and ``profile`` override it, ``connect_timeout`` and
    ``read_timeout`` (seconds; 10 and 120) bound each request; ``client`` supplies a ready
    botocore/boto3 S3 client instead (its own retry and checksum settings then apply too);
    ``store`` any :class:`~s3stream.store.protocol.ObjectStore`. ``config`` sets defaults for every
    upload, and each call's keyword options (:class:`UploadOptions`) override single fields
    of it.

    Bandwidth: the ``max_bandwidth`` of ``config`` is one limit shared by all the uploads
    of this uploader that run at once (a recursive copy keeps to it as a whole); an upload
    given its own ``max_bandwidth`` keyword keeps to that one instead, alone.

    What the store can do decides the checksum, the part plan and whether ``no_clobber`` can
    be honoured (:mod:`s3stream.engine.choices`). ``store_profile`` names it (``"aws"``,
    ``"r2"``, ... see :mod:`s3stream.store.profiles`, or ready
    :class:`~s3stream.store.capabilities.Capabilities`; default: ``S3STREAM_STORE_PROFILE``);
    without one a probe cached for the endpoint and bucket (``s3stream doctor``), the
    endpoint's host name, or else a quick probe on first contact (cached beside the journal)
    tells. ``ca_bundle`` and
    ``verify_ssl`` set how the store's TLS certificate is checked (``AWS_CA_BUNDLE`` applies
    when neither is given). The store is reached through s3stream's native transport when
    the configuration is plain (static credentials, a known endpoint), else through botocore
    (:func:`s3stream.store.transport.open_store`; ``S3STREAM_TRANSPORT`` overrides).
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        client: Any = None,
        store: ObjectStore | None = None,
        config: UploadConfig | None = None,
        payload_signing: bool = False,
        journal: Journal | str | os.PathLike[str] | bool | None = None,
        store_profile: str | Capabilities | None = None,
        ca_bundle: str | None = None,
        verify_ssl: bool = True,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.config = config or UploadConfig()
        rate = self.config.max_bandwidth
        self.throttle = TokenBucket(rate) if rate is not None else None
        """The bandwidth limit the uploads share (from ``config.max_bandwidth``)."""
        self._journal_setting = journal
        self._journal_lock = threading.Lock()
        self._journal: Journal | None = None
        if store is None and client is not None:
            from s3stream.store.boto import BotoStore

            store = BotoStore(client)
        elif store is None:
            store = open_store(
                endpoint_url=endpoint_url,
                region=region,
                profile=profile,
                payload_signing=payload_signing,
                verify=ca_bundle if verify_ssl else False,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
        self.store: ObjectStore = store
        objects = store if isinstance(store, Objects) else getattr(store, "objects", None)
        self.objects: Objects | None = objects
        cache = None if journal is False else CapabilityCache(_cache_path(journal))
        named = store_profile or os.environ.get("S3STREAM_STORE_PROFILE") or None
        self.stores = KnownStores(store, objects, profile=named, cache=cache)
        """The capabilities of each bucket uploaded to (see :meth:`capabilities`)."""

    @property
    def journal(self) -> Journal | None:
        """The upload journal (opened on first use); ``None`` when ``journal=False``."""
        setting = self._journal_setting
        if self._journal is None and setting is not False:
            with self._journal_lock:  # uploads on several threads open one journal
                if self._journal is None:
                    self._journal = _open_journal(setting)
        return self._journal

    def _writer(
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
    ) -> W:
        validate_target(bucket, key)
        options = dict(options)
        control = options.pop("control", None)
        if resume is not None:  # an upload keeps the checksum it started with
            options["checksum"] = resume.algorithm
        config = self.config.with_options(**options)
        throttle = self.throttle
        if "max_bandwidth" in options:
            rate = config.max_bandwidth
            throttle = TokenBucket(rate) if rate is not None else None
        try:
            caps = self.capabilities(bucket, _folder(key))
        except StoreError as exc:  # the store could not be probed: no upload can work
            raise UploadFailed(
                f"upload to s3://{bucket}/{key} failed: {exc}",
                bucket=bucket,
                key=key,
                upload_id=None,
            ) from exc
        config, use = for_store(config, caps)
        writer = kind(
            self.store,
            bucket,
            key,
            config,
            checksums=use,
            size=size,
            on_progress=on_progress,
            journal=self.journal,
            source=source or SourceFingerprint("stream"),
            resume=resume,
            throttle=throttle,
        )
        if control is not None:
            control.attach(writer)
        return writer

    def capabilities(self, bucket: str, prefix: str = "") -> Capabilities:
        """What the store can do for ``bucket`` (found out once; a first contact with an
        unknown store probes it under ``prefix``)."""
        validate_bucket(bucket)
        return self.stores.for_bucket(bucket, prefix)

    def upload_config(self, bucket: str, key: str, **options: Any) -> UploadConfig:
        """The configuration an upload to ``bucket/key`` with ``options`` will use: what the
        options leave open decided for the store (checksum, part limit, equal parts)."""
        validate_target(bucket, key)
        config = self.config.with_options(**options)
        return for_store(config, self.capabilities(bucket, _folder(key)))[0]

    def probe(self, bucket: str, prefix: str = "", *, full: bool = True) -> ProbeReport:
        """Measure what the store honours with a few requests under ``prefix`` (cleaned up
        after), remember it for ``bucket`` and cache it (``s3stream doctor``)."""
        validate_bucket(bucket)
        if self.objects is None:
            raise ConfigError("this store has no object calls to probe with: give a client")
        report = Probe(self.store, self.objects, bucket, prefix).run(full=full)
        self.stores.learn(bucket, report)
        return report

    def upload_file(
        self,
        path: str | os.PathLike[str],
        bucket: str,
        key: str,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[UploadOptions],
    ) -> UploadResult:
        """Upload a regular file; parts are read by offset and sent in parallel.

        The content type is guessed from the file name unless ``content_type`` is given. A
        file that changes while it is uploaded fails with :class:`SourceError` and no object.
        A file of size 0 is read to its end (files in ``/proc`` report 0 but have content).
        """
        path = Path(path)
        fd = open_regular_file(path)
        try:
            try:
                fingerprint = SourceFingerprint.of_file(path, fd)
            except OSError as exc:  # e.g. EIO from a device or /proc file posing as a file
                raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
            if "content_type" not in options and self.config.content_type is None:
                options["content_type"] = mimetypes.guess_type(path.name)[0]
            if fingerprint.size == 0:
                # Empty, or a file whose size says nothing (/proc, /sys): read it to its end.
                writer = self._writer(MultipartWriter, bucket, key, None, on_progress, options)
                with open(fd, "rb", buffering=0, closefd=False) as stream:
                    return writer.consume(stream)
            file_writer = self._writer(
                FileWriter, bucket, key, fingerprint.size, on_progress, options, source=fingerprint
            )
            return file_writer.upload(fd, fingerprint)
        finally:
            os.close(fd)

    def follow_file(
        self,
        path: str | os.PathLike[str],
        bucket: str,
        key: str,
        on_progress: ProgressCallback | None = None,
        *,
        idle: float = 5.0,
        stop: Callable[[], bool] | None = None,
        on_note: Callable[[str], None] | None = None,
        **options: Any,
    ) -> UploadResult:
        """Upload a file while it is being written (a recording), part by part as it grows.

        It completes once the file has not grown for ``idle`` seconds, or as soon as
        ``stop()`` returns true (polled while the file does not grow, at least every 0.2 s;
        e.g. ``threading.Event().is_set``), with what the file holds at that moment. Bytes the
        writer changes after they were sent (a muxer writing its header when it finishes)
        are found by the parts' checksums and sent again before completion, so the object is
        the finished file byte for byte; this needs a checksum (not ``checksum="none"``). A
        file that shrinks, or is deleted or replaced while it is followed, raises
        :class:`SourceError` and nothing is completed (the multipart upload is aborted).
        ``on_note`` receives remarks for a person (``finishing: ...``).
        """
        path = Path(path)
        fd = open_regular_file(path)
        try:
            if "content_type" not in options and self.config.content_type is None:
                options["content_type"] = mimetypes.guess_type(path.name)[0]
            writer = self._writer(FollowWriter, bucket, key, None, on_progress, options)
            return writer.follow(fd, path, idle=idle, stop=stop, note=on_note)
        finally:
            os.close(fd)

    def upload_stream(
        self,
        source: StreamSource,
        bucket: str,
        key: str,
        size: int | None = None,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[UploadOptions],
    ) -> UploadResult:
        """Upload a stream of known or unknown length.

        ``source`` is a binary file object (``sys.stdin.buffer``, ``Popen(...).stdout``; read
        with ``readinto`` straight into part buffers), an iterable of bytes-like chunks, or an
        async iterable of them (consumed on a private event loop; inside a running loop use
        :meth:`aupload_stream`). A source that ends before ``size`` or runs past it raises
        :class:`SourceError` and leaves nothing behind.
        """
        kind = _source_kind(source)
        if kind == "async":
            import asyncio  # here: the command line never needs it, and it costs start-up

            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(
                    self.aupload_stream(source, bucket, key, size, on_progress, **options)
                )
            raise ConfigError(
                "upload_stream was given an async iterable inside a running event loop: "
                "use `await uploader.aupload_stream(...)`"
            )
        writer = self._writer(MultipartWriter, bucket, key, size, on_progress, options)
        return writer.consume(source)

    async def aupload_stream(
        self,
        source: StreamSource,
        bucket: str,
        key: str,
        size: int | None = None,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[UploadOptions],
    ) -> UploadResult:
        """The asyncio form of :meth:`upload_stream` (also takes async iterables)."""
        kind = _source_kind(source)
        if kind != "async":
            import asyncio

            return await asyncio.to_thread(
                self.upload_stream, source, bucket, key, size, on_progress, **options
            )
        session = self.open_upload(bucket, key, size, on_progress, **options)
        async with session:
            async for chunk in source:
                await session.awrite(chunk)
        assert session.result is not None
        return session.result

    def open_upload(
        self,
        bucket: str,
        key: str,
        size: int | None = None,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[UploadOptions],
    ) -> UploadSession:
        """Start a push session: ``write(chunk)`` ... ``finish()`` (or ``abort()``)."""
        return UploadSession(self._writer(MultipartWriter, bucket, key, size, on_progress, options))

    def _recovery(self, retry: RetryPolicy | None = None) -> Recovery:
        return Recovery(self.store, self.journal, retry or self.config.retry, self._writer)

    def resume(
        self,
        upload: ResumeInfo | str,
        source: ResumeSource | None = None,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[UploadOptions],
    ) -> UploadResult:
        """Continue a paused or interrupted multipart upload and complete it.

        ``upload`` is a :class:`ResumeInfo` (from ``pause()``) or an upload id (or a unique
        prefix of one) in the journal. The server is the truth: recorded parts that ListParts
        does not confirm are sent again. A file source (by default the recorded path) must be
        unchanged: its completed parts are re-read and checked against their checksums, and a
        changed file raises :class:`SourceError` with nothing completed. A stream source must
        replay from ``info.resume_offset``.
        """
        return self._recovery(options.get("retry")).resume(upload, source, on_progress, options)

    def list_incomplete(
        self, bucket: str, prefix: str = "", older_than: dt.timedelta | None = None
    ) -> list[IncompleteUpload]:
        """Incomplete multipart uploads on the server (journaled or not), oldest first."""
        return self._recovery().list_incomplete(bucket, prefix, older_than)

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> bool:
        """Abort one multipart upload on the server and mark it in the journal.

        Returns False when the server had no such upload (completed, aborted, or never).
        """
        return self._recovery().abort(bucket, key, upload_id)

    def gc(self, bucket: str, older_than: dt.timedelta, prefix: str = "") -> list[IncompleteUpload]:
        """Abort every incomplete multipart upload older than ``older_than``; returns them."""
        found = self.list_incomplete(bucket, prefix, older_than)
        for upload in found:
            self.abort_upload(bucket, upload.key, upload.upload_id)
        return found

    def presign(
        self, method: Literal["GET", "PUT"], bucket: str, key: str, expires_in: int = 3600
    ) -> str:
        """A presigned URL to GET or PUT one object."""
        validate_target(bucket, key)
        return self.store.presign(method, bucket, key, expires_in)


def _source_kind(source: object) -> Literal["file", "async", "iter"]:
    if hasattr(source, "readinto") or hasattr(source, "read"):
        return "file"
    if hasattr(source, "__aiter__"):
        return "async"
    if isinstance(source, bytes | bytearray | memoryview | str):
        raise ConfigError(
            "upload_stream takes a file object or an iterable of chunks, not a bytes object: "
            "wrap it, e.g. [data] or io.BytesIO(data)"
        )
    if isinstance(source, Iterable):
        return "iter"
    raise ConfigError(
        f"cannot stream from a {type(source).__name__}: give a binary file object, "
        "an iterable or an async iterable of bytes"
    )


def _folder(key: str) -> str:
    """The "directory" of ``key`` (where a probe may write: next to the upload)."""
    return key.rpartition("/")[0] + "/" if "/" in key else ""


def _cache_path(journal: Journal | str | os.PathLike[str] | bool | None) -> Path:
    """Where probed capabilities are cached: beside the journal."""
    if isinstance(journal, Journal):
        return journal.path.with_name("stores.json")
    if isinstance(journal, str | os.PathLike):
        return Path(journal).with_name("stores.json")
    return default_journal_path().with_name("stores.json")


def _open_journal(setting: Journal | str | os.PathLike[str] | bool | None) -> Journal:
    """The journal a ``journal=`` setting other than ``False`` names."""
    if isinstance(setting, Journal):
        return setting
    if setting is None or setting is True:
        return Journal(default_journal_path())
    assert setting is not False
    return Journal(setting)
