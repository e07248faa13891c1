"""The S3 upload store: tus uploads as S3 multipart uploads, with all state in the bucket.

Layout under ``state_prefix`` (default ``{key_prefix}_uploads/``)::

    {id}.info           JSON: length, offset, metadata, owner, expiry, object key,
                        multipart upload id, the parts (number, ETag, size, CRC), staging
    {id}.part.{n}       a staged tail shorter than S3's 5 MiB part minimum
    {id}.lock           the cross-process lease of the upload's current writer
    {id}.partial        the object of a finished partial upload (concatenation)

(Not ``.uploads/``: SeaweedFS leaves keys under a dot-directory out of ListObjects, and
the expiration sweeper must list the state.)

Because nothing lives in the process, any gateway process serves any upload. Every state
write is conditional on the ETag read under the lease (``If-Match``), so a writer that lost
its lease cannot overwrite a newer state; the ``.info`` object is the commit point.

Writing a chunk: the staged tail (if any) and the body are copied into a pooled part
buffer. A part the body's declared length will complete streams to the store while it fills
(:class:`~s3stream.gateway.filling.FillingPart`, sent by
:meth:`~s3stream.engine.calls.MultipartCalls.put_part_stream` with a trailing CRC); any other part
goes up through :meth:`~s3stream.engine.calls.MultipartCalls.put_part` once full. At most
``pipeline_parts`` finished parts (default one) await the store's reply while the body goes
on, in buffers the pool can spare (none while another request waits for its first), so an
upload holds one part of memory and at most ``pipeline_parts`` more. When the body
ends, a tail of 5 MiB or more becomes a part, a smaller one a staged object, and reaching
the length completes the object with the recorded part ETags (never ListParts: a store may
list a re-sent part twice) and the combined whole-object CRC. A chunk that must be
discarded (checksum mismatch) changes nothing: its parts are never recorded and are
overwritten by the next attempt at the same part numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import anyio.to_thread

from s3stream.checksums import ChecksumAlgorithm, PartDigest, decode, encoded_length
from s3stream.config import UploadConfig
from s3stream.engine.buffers import BufferPool
from s3stream.engine.calls import MultipartCalls
from s3stream.engine.plan import plan_parts
from s3stream.engine.retry import RetryPolicy, call_with_retry
from s3stream.engine.writer import MultipartWriter
from s3stream.errors import ConfigError, NoSuchUpload, StoreError
from s3stream.gateway.errors import TusError, not_found, offset_mismatch, too_large
from s3stream.gateway.filling import FillingPart
from s3stream.gateway.lease import Leases
from s3stream.gateway.locks import ProcessLocks
from s3stream.gateway.model import ChunkBody, NewUpload, ProgressFn, Upload, metadata_value
from s3stream.limits import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, MiB
from s3stream.store.objects import GatewayObjects, is_precondition_failed
from s3stream.store.protocol import ObjectOptions, ObjectStore, PartReceipt

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATE_RETRY = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=1.0)
"""Reading an upload's state is retried briefly: a 503 to HEAD makes tus-js-client give
the upload up and start over."""

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MIME_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")


@dataclass(slots=True)
class _Part:
    number: int
    etag: str
    size: int
    crc: int | None


@dataclass(slots=True)
class _State:
    upload: Upload
    mpu: str | None = None
    parts: list[_Part] = field(default_factory=list)
    staged_key: str | None = None
    staged_size: int = 0
    etag: str = ""
    """ETag of the ``.info`` object this state was read from (not stored)."""

    def to_json(self) -> bytes:
        u = self.upload
        return json.dumps(
            {
                "version": 1,
                "id": u.id,
                "size": u.size,
                "offset": u.offset,
                "metadata": dict(u.metadata),
                "owner": u.owner,
                "created": u.created,
                "expires": u.expires,
                "key": u.key,
                "partial": u.partial,
                "final": u.final,
                "partials": list(u.partials),
                "finished": u.finished,
                "mpu": self.mpu,
                "parts": [[p.number, p.etag, p.size, p.crc] for p in self.parts],
                "staged": None
                if self.staged_key is None
                else {"key": self.staged_key, "size": self.staged_size},
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, etag: str) -> _State:
        d = json.loads(data)
        upload = Upload(
            id=d["id"],
            size=d["size"],
            offset=d["offset"],
            metadata=d["metadata"],
            owner=d["owner"],
            created=d["created"],
            expires=d["expires"],
            key=d["key"],
            partial=d["partial"],
            final=d["final"],
            partials=tuple(d["partials"]),
            finished=d["finished"],
        )
        staged = d.get("staged")
        return cls(
            upload=upload,
            mpu=d.get("mpu"),
            parts=[_Part(*p) for p in d.get("parts", [])],
            staged_key=None if staged is None else staged["key"],
            staged_size=0 if staged is None else int(staged["size"]),
            etag=etag,
        )


class S3UploadStore:
    """Implements :class:`~s3stream.gateway.datastore.UploadStore` and every capability.

    ``part_size`` is the nominal part (and buffer) size. Memory::

        per upload  <= (pipeline_parts + 1) x part size
        all uploads <= max_buffers x part size      (enforced by one BufferPool)

    A request that finds no buffer free within ``buffer_wait`` seconds gets 503.
    """

    def __init__(
        self,
        store: ObjectStore,
        objects: GatewayObjects,
        bucket: str,
        *,
        key_prefix: str = "",
        state_prefix: str | None = None,
        part_size: int = 16 * MiB,
        max_buffers: int = 32,
        pipeline_parts: int = 1,
        buffer_wait: float = 30.0,
        checksum: ChecksumAlgorithm | str = ChecksumAlgorithm.CRC64NVME,
        retry: RetryPolicy | None = None,
        lock_wait: float = 5.0,
        lease_ttl: float = 30.0,
        no_clobber: bool = False,
        commit_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        algorithm = ChecksumAlgorithm.parse(checksum)
        if algorithm is ChecksumAlgorithm.SHA256:
            raise ConfigError("the gateway stores CRC checksums (crc64nvme, crc32c, crc32) or none")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ConfigError(f"part size must be {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes")
        self.store = store
        self.objects = objects
        self.bucket = bucket
        self.key_prefix = key_prefix
        self.state_prefix = f"{key_prefix}_uploads/" if state_prefix is None else state_prefix
        self.part_size = part_size
        self.algorithm = algorithm
        self.retry = retry or RetryPolicy()
        self.no_clobber = no_clobber
        self.commit_interval = commit_interval
        """Seconds between state writes that record a long PATCH's parts as they go."""
        self.clock = clock
        if pipeline_parts < 0:
            raise ConfigError("pipeline_parts must not be negative")
        self.pipeline_parts = pipeline_parts
        self.pool = BufferPool(max_buffers, part_size)
        self._buffer_waiters = 0
        self.buffer_wait = buffer_wait
        self.locks = ProcessLocks(lock_wait)
        self.leases = Leases(objects, bucket, ttl=lease_ttl, wait=lock_wait, clock=clock)

    # ------------------------------------------------------------------ plumbing

    async def _run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))

    def _calls(self, key: str, algorithm: ChecksumAlgorithm | None = None) -> MultipartCalls:
        return MultipartCalls(
            self.store, self.bucket, key, algorithm=algorithm or self.algorithm, retry=self.retry
        )

    def _info_key(self, upload_id: str) -> str:
        return f"{self.state_prefix}{upload_id}.info"

    def _check_id(self, upload_id: str) -> None:
        if not _ID_RE.match(upload_id):
            raise not_found()

    async def _load(self, upload_id: str) -> _State:
        self._check_id(upload_id)
        key = self._info_key(upload_id)
        blob = await self._run(
            call_with_retry,
            lambda: self.objects.get(self.bucket, key),
            _STATE_RETRY,
            describe=f"GetObject {key}",
        )
        if blob is None:
            raise not_found()
        return _State.from_json(blob.data, blob.etag)

    async def _save(self, state: _State, *, create: bool = False) -> None:
        key = self._info_key(state.upload.id)
        try:
            state.etag = await self._run(
                self.objects.put,
                self.bucket,
                key,
                state.to_json(),
                if_match=None if create else state.etag,
                if_none_match=create,
                content_type="application/json",
            )
        except StoreError as exc:
            if is_precondition_failed(exc):
                raise TusError(
                    409, "Conflict", "the upload was changed by another request; retry"
                ) from exc
            raise

    async def _exists(self, key: str) -> bool:
        return await self._run(self.store.head_object, self.bucket, key) is not None

    async def _acquire(self, size: int) -> bytearray:
        """A part buffer, waiting up to ``buffer_wait`` seconds for a free slot (then 503)."""
        buf = self.pool.try_acquire(size)
        if buf is None:
            self._buffer_waiters += 1
            try:
                buf = await self._run(self.pool.acquire, size, self.buffer_wait)
            finally:
                self._buffer_waiters -= 1
        if buf is None:
            raise TusError(503, "Busy", "all upload buffers are in use; retry later")
        return buf

    def _spare_buffer(self, size: int) -> bytearray | None:
        """A buffer for pipelining, only when nobody is waiting for one (so uploads that
        have parts in flight never starve a request that has no buffer at all)."""
        if self._buffer_waiters:
            return None
        return self.pool.try_acquire(size)

    def _options(self, upload: Upload) -> ObjectOptions:
        content_type = metadata_value(upload.metadata, "filetype") or metadata_value(
            upload.metadata, "contentType"
        )
        if content_type is not None and not _MIME_RE.match(content_type):
            content_type = None
        return ObjectOptions(content_type=content_type, metadata={"tus-upload-id": upload.id})

    def _part_size(self, upload: Upload, part_number: int) -> int:
        plan = plan_parts(upload.size, self.part_size)
        return plan.part_size(part_number)

    # ------------------------------------------------------------------ core

    async def create(self, upload_id: str, key: str, new: NewUpload) -> Upload:
        self._check_id(upload_id)
        if new.partial:
            key = f"{self.state_prefix}{upload_id}.partial"
        elif self.no_clobber and await self._exists(key):
            raise TusError(409, "Exists", "an object with this name exists already")
        upload = Upload(
            id=upload_id,
            size=new.size,
            offset=0,
            metadata=dict(new.metadata),
            owner=new.owner,
            created=self.clock(),
            expires=new.expires,
            key=key,
            partial=new.partial,
        )
        state = _State(upload)
        await self._save(state, create=True)
        if new.size == 0:
            await self._finish(state, None, 0)
        return state.upload

    async def get(self, upload_id: str) -> Upload:
        return (await self._load(upload_id)).upload

    def lock(self, upload_id: str) -> AbstractAsyncContextManager[None]:
        return self._lock(upload_id)

    @asynccontextmanager
    async def _lock(self, upload_id: str) -> AsyncIterator[None]:
        self._check_id(upload_id)
        async with (
            self.locks.hold(upload_id),
            self.leases.hold(f"{self.state_prefix}{upload_id}.lock"),
        ):
            yield

    async def write(
        self,
        upload_id: str,
        offset: int,
        body: ChunkBody,
        on_progress: ProgressFn | None = None,
        expires: float | None = None,
    ) -> Upload:
        state = await self._load(upload_id)
        upload = state.upload
        if upload.offset != offset:
            raise offset_mismatch(upload.offset, offset)
        if upload.finished:
            async for _ in body:
                raise too_large("the upload is already complete")
            return upload
        if upload.size is not None and upload.offset == upload.size:
            await self._finish_recorded(state)  # everything recorded, completion cut short
            return state.upload
        writer = _ChunkWriter(self, state, body.expected)
        saved = time.monotonic()
        try:
            await writer.start()
            async for data in body:
                await writer.add(data)
                if on_progress is not None:
                    on_progress(offset + body.received)
                if (
                    writer.new_parts
                    and not body.checked
                    and time.monotonic() - saved >= self.commit_interval
                    and not writer.parts_reach_length
                ):
                    # a long PATCH records its parts as it goes: a crash loses little
                    await writer.commit_parts(expires)
                    saved = time.monotonic()
            body.verify()
        except NoSuchUpload:
            await writer.close()
            if not await self._adopt_completed(state):
                raise
            async for _ in body:  # the store has it all: read the rest of the chunk away
                pass
            return state.upload
        except BaseException:
            await writer.close()  # waits for parts in flight, keeps the acknowledged ones
            if writer.new_parts:
                try:  # keep acknowledged parts, unless the chunk must be discarded whole
                    body.verify()
                    await writer.commit_parts(expires)
                except Exception:
                    pass
            raise
        try:
            return await writer.commit(expires)
        finally:
            await writer.close()

    async def _finish(self, state: _State, buf: bytearray | None, fill: int) -> None:
        """Upload the last bytes (``buf[:fill]``) and complete the object; save the state."""
        upload = state.upload
        if sum(p.size for p in state.parts) + fill != upload.size:
            raise StoreError(  # never complete an object that lacks (or repeats) bytes
                f"upload {upload.id}: recorded parts and tail do not make its length",
                code="Internal",
            )
        calls = self._calls(upload.key)
        view = memoryview(buf)[:fill] if buf is not None else memoryview(b"")
        if not state.parts:
            await self._run(
                calls.put_object,
                view,
                self._options(upload),
                if_none_match=self.no_clobber and not upload.partial,
            )
            if state.mpu is not None:
                await self._run(calls.abort, state.mpu)
        else:
            assert state.mpu is not None
            if fill:
                receipt, digest = await self._run(
                    calls.put_part, state.mpu, len(state.parts) + 1, view
                )
                state.parts.append(_part(receipt, digest))
            receipts = {p.number: PartReceipt(p.number, p.etag, p.size) for p in state.parts}
            digests = {
                p.number: PartDigest(p.crc, p.size) for p in state.parts if p.crc is not None
            }
            if len(digests) != len(receipts):
                digests = {}
            await self._run(
                calls.complete,
                state.mpu,
                receipts,
                digests,
                size=sum(p.size for p in state.parts),
                if_none_match=self.no_clobber and not upload.partial,
            )
        await self._mark_finished(state)

    async def _finish_recorded(self, state: _State) -> None:
        """Complete an upload whose recorded parts and staged tail reach its length."""
        if state.staged_key is None:
            await self._finish(state, None, 0)
            return
        buf = await self._acquire(state.staged_size)
        try:
            await self._finish(state, buf, await self._read_staged(state, buf))
        finally:
            self.pool.release(buf)

    async def _read_staged(self, state: _State, buf: bytearray) -> int:
        """Read the staged tail into the start of ``buf``; its size must be the recorded one."""
        assert state.staged_key is not None
        with memoryview(buf)[: state.staged_size] as view:
            got = await self._run(self.objects.read_into, self.bucket, state.staged_key, view)
        if got != state.staged_size:
            raise StoreError(
                f"staged chunk {state.staged_key} has {got} bytes, expected {state.staged_size}",
                code="SizeMismatch",
            )
        return got

    async def _mark_finished(self, state: _State) -> None:
        """Record the upload as finished (its object complete) and drop staged chunks."""
        upload = state.upload
        state.staged_key, state.staged_size = None, 0
        retention = None if upload.expires is None else self.clock() + _retention(upload)
        state.upload = replace(upload, offset=upload.size or 0, finished=True, expires=retention)
        await self._save(state)
        await self._delete_staged(upload.id)
        log.info("upload %s finished: s3://%s/%s", upload.id, self.bucket, upload.key)

    async def _adopt_completed(self, state: _State) -> bool:
        """The multipart upload is gone: if the store has this upload's object whole (its
        completion went through but recording it did not), record it as finished."""
        upload = state.upload
        if state.mpu is None or upload.size is None:
            return False
        info = await self._run(self.store.head_object, self.bucket, upload.key)
        if (
            info is None
            or info.size != upload.size
            or (info.metadata or {}).get("tus-upload-id") != upload.id
        ):
            return False
        log.warning("upload %s: completed earlier, recording it now", upload.id)
        await self._mark_finished(state)
        return True

    async def _delete_staged(self, upload_id: str) -> None:
        """Delete the upload's staged chunks, also any a crash or a failed state write left
        unrecorded."""
        prefix = f"{self.state_prefix}{upload_id}.part."
        for item in await self._run(self.objects.list, self.bucket, prefix):
            await self._run(self.objects.delete, self.bucket, item.key)

    # ------------------------------------------------------------------ capabilities

    async def terminate(self, upload_id: str) -> None:
        state = await self._load(upload_id)
        await self._remove(state, delete_object=True)

    async def _remove(self, state: _State, *, delete_object: bool) -> None:
        upload = state.upload
        if state.mpu is not None and not upload.finished:
            await self._run(self._calls(upload.key).abort, state.mpu)
        await self._delete_staged(upload.id)
        if upload.finished and (delete_object or upload.partial):
            await self._run(self.objects.delete, self.bucket, upload.key)
        await self._run(self.objects.delete, self.bucket, self._info_key(upload.id))

    async def declare_length(self, upload_id: str, size: int) -> Upload:
        state = await self._load(upload_id)
        upload = state.upload
        if upload.size is not None:
            raise TusError(400, "BadLength", "Upload-Length cannot be changed once set")
        if size < upload.offset:
            raise TusError(400, "BadLength", "Upload-Length is below the upload's offset")
        state.upload = replace(upload, size=size)
        await self._save(state)
        if size == upload.offset:
            await self._finish_recorded(state)
        return state.upload

    async def concatenate(
        self, upload_id: str, key: str, new: NewUpload, partials: Sequence[Upload]
    ) -> Upload:
        self._check_id(upload_id)
        if self.no_clobber and await self._exists(key):
            raise TusError(409, "Exists", "an object with this name exists already")
        total = sum(p.size or 0 for p in partials)
        upload = Upload(
            id=upload_id,
            size=total,
            offset=total,
            metadata=dict(new.metadata),
            owner=new.owner,
            created=self.clock(),
            expires=None,
            key=key,
            final=True,
            partials=tuple(p.id for p in partials),
            finished=True,
        )
        sizes = [p.size or 0 for p in partials]
        if (
            all(s >= MIN_PART_SIZE for s in sizes[:-1])
            and sum(-(-max(s, 1) // MAX_PART_SIZE) for s in sizes) <= MAX_PARTS
        ):
            await self._run(self._concat_by_copy, key, partials, upload)
        else:
            await self._run(self._concat_by_streaming, key, partials, upload)
        state = _State(upload)
        await self._save(state, create=True)
        return upload

    def _concat_by_copy(self, key: str, partials: Sequence[Upload], upload: Upload) -> None:
        """Server-side: UploadPartCopy of each partial (ranges of at most 5 GiB). The store
        checksums the copied bytes; completing with the partials' own checksums combined
        checks the result end to end and stores the whole object's checksum."""
        digests = self._partial_digests(partials)
        calls = self._calls(key, self.algorithm if digests else ChecksumAlgorithm.NONE)
        mpu = calls.create(self._options(upload))
        try:
            receipts: dict[int, PartReceipt] = {}
            for partial in partials:
                size = partial.size or 0
                for start in range(0, size, MAX_PART_SIZE):
                    number = len(receipts) + 1
                    copy = functools.partial(
                        self.objects.copy_part,
                        self.bucket,
                        key,
                        mpu,
                        number,
                        partial.key,
                        (start, min(size, start + MAX_PART_SIZE) - 1),
                    )
                    receipts[number] = calls.retry(copy, f"UploadPartCopy {number}")
            if not receipts:
                calls.abort(mpu)
                calls.put_object(memoryview(b""), self._options(upload))
                return
            calls.complete(
                mpu, receipts, digests, size=upload.size or 0, if_none_match=self.no_clobber
            )
        except BaseException:
            calls.abort(mpu)
            raise

    def _partial_digests(self, partials: Sequence[Upload]) -> dict[int, PartDigest]:
        """The finished partials' whole-object checksums (as the store keeps them), in
        order; empty when the gateway stores none or a partial has none in its algorithm."""
        if not self.algorithm.full_object:
            return {}
        digests: dict[int, PartDigest] = {}
        for index, partial in enumerate(partials, 1):
            if not partial.size:
                continue
            info = self.store.head_object(self.bucket, partial.key)
            value = None if info is None else info.checksum
            if value is None or len(value) != encoded_length(self.algorithm):
                return {}
            digests[index] = decode(self.algorithm, value, partial.size)
        return digests

    def _concat_by_streaming(self, key: str, partials: Sequence[Upload], upload: Upload) -> None:
        """Through the engine: read each partial and write it into one multipart writer."""
        options = self._options(upload)
        config = UploadConfig(
            part_size=self.part_size,
            concurrency=2,
            checksum=self.algorithm,
            retry=self.retry,
            content_type=options.content_type,
            metadata=options.metadata or {},
            no_clobber=self.no_clobber,
        )
        writer = MultipartWriter(self.store, self.bucket, key, config, size=upload.size)
        try:
            for partial in partials:
                for block in self.objects.iter_chunks(self.bucket, partial.key):
                    writer.write(block)
            writer.finish()
        except BaseException:
            writer.abort()
            raise

    async def sweep(self, now: float) -> int:
        """Remove expired unfinished uploads and, past their retention, finished uploads'
        state (a partial's hidden object with it); uploads being written are skipped."""
        listed = await self._run(self.objects.list, self.bucket, self.state_prefix)
        removed = 0
        for item in listed:
            if not item.key.endswith(".info"):
                continue
            upload_id = item.key[len(self.state_prefix) : -len(".info")]
            try:
                state = await self._load(upload_id)
            except TusError:
                continue
            expires = state.upload.expires
            if expires is None or expires > now:
                continue
            lease = f"{self.state_prefix}{upload_id}.lock"
            if self.locks.held(upload_id):
                continue
            etag = await self.leases.try_take(lease)
            if etag is None:
                continue
            try:
                await self._remove(state, delete_object=False)
                removed += 1
                log.info("removed expired upload %s", upload_id)
            finally:
                await self._run(self.objects.delete, self.bucket, lease, if_match=etag)
        return removed


def _retention(upload: Upload) -> float:
    """How long a finished upload's state stays (so HEAD still answers): as long as an
    unfinished upload would have lived, at least an hour."""
    if upload.expires is None:
        return 3600.0
    return max(3600.0, upload.expires - upload.created)


def _part(receipt: PartReceipt, digest: PartDigest | None) -> _Part:
    crc = digest.value if digest is not None and isinstance(digest.value, int) else None
    return _Part(receipt.part_number, receipt.etag, receipt.size, crc)


class _ChunkWriter:
    """One chunk being appended: the part being filled, the parts sent, the commit.

    A part whose bytes this request's body is known to complete (its ``Content-Length``
    covers it) starts streaming to the store as soon as it is begun, so receiving and
    sending overlap inside one part's buffer; otherwise the part goes up once full.
    """

    def __init__(self, owner: S3UploadStore, state: _State, expected: int | None) -> None:
        self.s = owner
        self.state = state
        self.upload = state.upload
        self.calls = owner._calls(self.upload.key)
        self.expected = expected
        """The body's declared length (``None``: unknown, nothing streams early)."""
        self.part: FillingPart | None = None
        self.sending: asyncio.Future[_Part] | None = None
        """The early send of ``part``, when it streams."""
        self.next_part = len(state.parts) + 1
        self.acked: dict[int, _Part] = {}
        """Parts of this chunk the store acknowledged, by number (not yet recorded)."""
        self.inflight: dict[int, asyncio.Future[_Part]] = {}
        self.store_wait = 0.0
        """Seconds the body was not read because parts or buffers were awaited."""
        self.started = time.perf_counter()
        self.staged_in_buffer = False
        self.received = 0
        self.part_start = sum(p.size for p in state.parts)
        """Upload offset of the current part's first byte."""

    @property
    def buf(self) -> bytearray | None:
        return None if self.part is None else self.part.buf

    @property
    def fill(self) -> int:
        return 0 if self.part is None else self.part.fill

    async def start(self) -> None:
        staged = self.state.staged_size if self.state.staged_key is not None else 0
        await self._begin_part()
        if staged:
            assert self.part is not None
            self.part.filled(await self.s._read_staged(self.state, self.part.buf))
            self.staged_in_buffer = True
        await self._stream_if_covered()

    async def add(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.part is None:
                await self._begin_part()
                await self._stream_if_covered()
            assert self.part is not None
            n = self.part.append(view)
            self.received += n
            view = view[n:]
            if self.part.full:
                await self._hand_off()

    async def _begin_part(self) -> None:
        """Take a buffer for the next part, after waiting for one of ours if the pool is
        short (so uploads with parts in flight never starve a request with no buffer)."""
        target = self.s._part_size(self.upload, self.next_part)
        if self.upload.size is not None:  # the last part: what is left
            target = min(target, self.upload.size - self.part_start)
        waited = time.perf_counter()
        buf = self.s._spare_buffer(target) if self.inflight else None
        while buf is None and self.inflight:
            await self._wait_any()
            buf = self.s._spare_buffer(target)
        if buf is None:
            buf = await self.s._acquire(target)
        self.store_wait += time.perf_counter() - waited
        self.part = FillingPart(buf, target)

    async def _stream_if_covered(self) -> None:
        """Start sending the current part now if this body will complete it."""
        part, upload = self.part, self.upload
        if part is None or self.sending is not None or self.expected is None:
            return
        if part.fill + (self.expected - self.received) < part.size:
            return
        if self.next_part == 1 and upload.size is not None and upload.size <= part.size:
            return  # the whole upload: one PutObject at the end
        number = self._check_number()
        mpu = await self._ensure_mpu()
        self.sending = asyncio.ensure_future(self._put_stream(mpu, number, part))

    def _check_number(self) -> int:
        if self.next_part > MAX_PARTS:
            raise TusError(
                413, "TooManyParts", f"the upload exceeds {MAX_PARTS} parts: send larger chunks"
            )
        return self.next_part

    async def _ensure_mpu(self) -> str:
        if self.state.mpu is None:
            self.state.mpu = await self.s._run(self.calls.create, self.s._options(self.upload))
            await self.s._save(self.state)  # recorded at once: never an orphan
        return self.state.mpu

    async def _hand_off(self) -> None:
        """The current part is complete (or is the chunk's last part): it goes up (or is
        already going) as the next part number, its buffer freed once acknowledged.

        At most ``pipeline_parts`` parts wait for acknowledgement while the body goes on;
        past that a part of this upload is awaited first (back-pressure on the client).
        """
        part = self.part
        assert part is not None
        number = self._check_number()
        task = self.sending
        if task is None:
            mpu = await self._ensure_mpu()
            task = asyncio.ensure_future(self._put(mpu, number, part))
        self.part, self.sending = None, None
        self.next_part += 1
        self.part_start += part.fill
        self.staged_in_buffer = False
        task.add_done_callback(lambda _: self.s.pool.release(part.buf))
        self.inflight[number] = task
        waited = time.perf_counter()
        while len(self.inflight) > self.s.pipeline_parts:
            await self._wait_any()
        self.store_wait += time.perf_counter() - waited

    async def _put(self, mpu: str, number: int, part: FillingPart) -> _Part:
        view = memoryview(part.buf)[: part.fill]
        started = time.perf_counter()
        try:
            receipt, digest = await self.s._run(self.calls.put_part, mpu, number, view)
        finally:
            view.release()
        self._log_part(number, part.fill, started)
        return _part(receipt, digest)

    async def _put_stream(self, mpu: str, number: int, part: FillingPart) -> _Part:
        started = time.perf_counter()
        receipt, digest = await self.s._run(self.calls.put_part_stream, mpu, number, part)
        self._log_part(number, part.size, started)
        return _part(receipt, digest)

    def _log_part(self, number: int, size: int, started: float) -> None:
        log.debug(
            "upload %s part %d: %d bytes in %.3f s",
            self.upload.id,
            number,
            size,
            time.perf_counter() - started,
        )

    async def _stop_streaming(self) -> None:
        """The body ended before the current part was full: stop its early send (the
        store never saw the whole part, so nothing of it counts); the bytes stay."""
        task, self.sending = self.sending, None
        if task is None:
            return
        assert self.part is not None
        self.part.abandon()
        try:
            await task
        except Exception as exc:
            log.debug("upload %s: early part send stopped: %s", self.upload.id, exc)
        else:  # cannot happen (the part was not full), but a stored part must not be lost
            raise StoreError("a part was stored before its bytes arrived", code="Internal")

    async def _wait_any(self) -> None:
        """Wait until some part in flight is done (a slow part holds up only its own slot);
        a failed part raises."""
        await asyncio.wait(self.inflight.values(), return_when=asyncio.FIRST_COMPLETED)
        for number, task in list(self.inflight.items()):
            if task.done():
                del self.inflight[number]
                self.acked[number] = task.result()

    async def drain(self) -> None:
        """Wait for every part in flight; the first failure is raised."""
        while self.inflight:
            await self._wait_any()

    @property
    def new_parts(self) -> list[_Part]:
        """The acknowledged parts of this chunk that follow the recorded ones without a gap
        (after a failure a later part may be done while an earlier one is not)."""
        parts = []
        number = len(self.state.parts) + 1
        while number in self.acked:
            parts.append(self.acked[number])
            number += 1
        return parts

    @property
    def parts_reach_length(self) -> bool:
        """The acknowledged parts make the whole upload (only completing records them)."""
        size = self.upload.size
        done = sum(p.size for p in self.state.parts) + sum(p.size for p in self.new_parts)
        return size is not None and done >= size

    def _apply_parts(self, expires: float | None) -> str | None:
        """Record the new parts in the state; return the staged key they consumed, if any."""
        consumed = None
        new_parts = self.new_parts
        if new_parts:
            self.state.parts.extend(new_parts)
            for part in new_parts:  # parts past a gap stay until the gap is acknowledged
                del self.acked[part.number]
            if self.state.staged_key is not None and not self.staged_in_buffer:
                consumed = self.state.staged_key
                self.state.staged_key, self.state.staged_size = None, 0
        offset = sum(p.size for p in self.state.parts) + self.state.staged_size
        self.state.upload = replace(
            self.state.upload, offset=offset, expires=expires or self.state.upload.expires
        )
        return consumed

    async def commit_parts(self, expires: float | None) -> None:
        """Record what the store acknowledged (after a failure, or as a long PATCH goes);
        parts that reach the length complete the object."""
        consumed = self._apply_parts(expires)
        upload = self.state.upload
        if upload.size is not None and upload.offset == upload.size and not upload.finished:
            await self.s._finish_recorded(self.state)
        else:
            await self.s._save(self.state)
        if consumed is not None:
            await self.s._run(self.s.objects.delete, self.s.bucket, consumed)

    async def commit(self, expires: float | None) -> Upload:
        s, state = self.s, self.state
        await self._stop_streaming()
        waited = time.perf_counter()
        await self.drain()
        self.store_wait += time.perf_counter() - waited
        log.debug(
            "upload %s: %d bytes in %.2f s, %.2f s of it waiting for the store",
            state.upload.id,
            self.received,
            time.perf_counter() - self.started,
            self.store_wait,
        )
        upload = state.upload
        new_offset = self.upload.offset + self.received
        if upload.size is not None and new_offset == upload.size:
            consumed = self._apply_parts(expires)
            # the buffer holds the tail: staged bytes not yet sent plus the body's last bytes
            await s._finish(state, self.buf, self.fill)
            if consumed is not None:
                await s._run(s.objects.delete, s.bucket, consumed)
            return state.upload
        if self.received == 0 and not self.new_parts:
            return upload
        if self.fill >= MIN_PART_SIZE:
            await self._hand_off()
            await self.drain()
        old_staged = state.staged_key
        consumed = self._apply_parts(expires)
        if self.fill and not (self.staged_in_buffer and self.fill == state.staged_size):
            assert self.buf is not None
            key = f"{s.state_prefix}{upload.id}.part.{secrets.token_hex(6)}"
            view = memoryview(self.buf)[: self.fill]
            try:
                await s._run(s.objects.put, s.bucket, key, view)
            finally:
                view.release()
            state.staged_key, state.staged_size = key, self.fill
        elif not self.fill:
            state.staged_key, state.staged_size = None, 0
        state.upload = replace(
            state.upload, offset=sum(p.size for p in state.parts) + state.staged_size
        )
        try:
            await s._save(state)
        except BaseException:
            if state.staged_key not in (None, old_staged):  # referenced by nothing now
                with contextlib.suppress(Exception):
                    await s._run(s.objects.delete, s.bucket, state.staged_key)
            raise
        for stale in {old_staged, consumed} - {None, state.staged_key}:
            assert stale is not None
            await s._run(s.objects.delete, s.bucket, stale)
        return state.upload

    async def close(self) -> None:
        """Stop an early send, release the buffer and wait for parts still in flight (a
        thread cannot be stopped); after a failure only the acknowledged parts before the
        first failed one count."""
        await self._stop_streaming()
        if self.part is not None:
            self.s.pool.release(self.part.buf)
            self.part = None
        tasks, self.inflight = self.inflight, {}
        for number, task in tasks.items():
            with contextlib.suppress(Exception):  # a failure was raised where it happened
                self.acked[number] = await task
