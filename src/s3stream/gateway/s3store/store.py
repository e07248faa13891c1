"""The S3 upload store: tus uploads as S3 multipart uploads, with all state in the bucket.

Because nothing lives in the process, any gateway process serves any upload: the state is
one ``.info`` object per upload (:mod:`.state`), written on condition of the ETag read under
the upload's lease (:class:`~s3stream.gateway.lease.Leases`). A PATCH's bytes become parts
as they arrive (:mod:`.chunks`), what the store acknowledged is recorded (:mod:`.commit`)
and reaching the length completes the object (:mod:`.finish`). Concatenation
(:mod:`.concat`) and expiry (:mod:`.expiry`) are capabilities of their own.

(State lives under ``{key_prefix}_uploads/``, not ``.uploads/``: SeaweedFS leaves keys
under a dot-directory out of ListObjects, and the expiration sweeper must list the state.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace as updated

from s3stream.checksums import ChecksumAlgorithm
from s3stream.engine.calls import MultipartCalls
from s3stream.engine.choices import ChecksumUse, check_no_clobber, checksum_use
from s3stream.engine.ledger import PartLedger
from s3stream.engine.plan import plan_parts
from s3stream.engine.retry import RetryPolicy
from s3stream.errors import ConfigError, NoSuchUpload
from s3stream.gateway.errors import HTTPError, offset_mismatch, too_large
from s3stream.gateway.lease import DEFAULT_LEASE_TTL, LeaseHolder, Leases, LocalLeases
from s3stream.gateway.locks import ProcessLocks
from s3stream.gateway.metrics import GatewayMetrics
from s3stream.gateway.model import ChunkBody, NewUpload, ProgressFn, StoredObject, Upload
from s3stream.gateway.s3store.attributes import ObjectAttributes
from s3stream.gateway.s3store.buffers import PartBuffers
from s3stream.gateway.s3store.chunks import ChunkWriter
from s3stream.gateway.s3store.commit import Commits
from s3stream.gateway.s3store.concat import Concatenation
from s3stream.gateway.s3store.expiry import Sweeper
from s3stream.gateway.s3store.finish import Finisher
from s3stream.gateway.s3store.state import StateObjects, UploadState, lease_key
from s3stream.gateway.threads import StoreThreads
from s3stream.limits import MAX_PART_SIZE, MIN_PART_SIZE, MiB
from s3stream.store.attributes import ObjectOptions
from s3stream.store.capabilities import ALGORITHMS, Capabilities
from s3stream.store.profiles import AWS
from s3stream.store.protocol import Objects, ObjectStore

log = logging.getLogger(__name__)

CRCS = tuple(a for a in ALGORITHMS if a.full_object)
"""The checksums the gateway may use: its parts' CRCs combine into the object's."""


class S3UploadStore:
    """Implements :class:`~s3stream.gateway.datastore.UploadStore` and every capability.

    ``part_size`` is the nominal part (and buffer) size. Memory::

        per upload  <= (pipeline_parts + 1) x part size
        all uploads <= max_buffers x part size      (enforced by one BufferPool)

    A request that finds no buffer free within ``buffer_wait`` seconds gets 503. Store calls
    run in at most ``threads`` threads. ``attributes`` gives the objects' attributes (the
    operator's defaults and the tus metadata clients may set).

    ``capabilities`` (default: S3 as AWS documents it) decide the checksum (``checksum``
    ``None``: the best CRC the store verifies), how parts are sent (streamed with a trailing
    checksum, or held and sent with a header), the part plan (``max_parts`` and
    ``equal_parts`` override the store's) and the locking: where the store does not honour
    conditional writes there are no leases in the bucket and states are written
    unconditionally, so the gateway must be the only instance (:attr:`single_instance`).
    """

    def __init__(
        self,
        store: ObjectStore,
        objects: Objects,
        bucket: str,
        *,
        key_prefix: str = "",
        state_prefix: str | None = None,
        part_size: int = 16 * MiB,
        max_buffers: int = 32,
        pipeline_parts: int = 1,
        buffer_wait: float = 30.0,
        checksum: ChecksumAlgorithm | str | None = ChecksumAlgorithm.CRC64NVME,
        retry: RetryPolicy | None = None,
        lock_wait: float = 5.0,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        no_clobber: bool = False,
        commit_interval: float = 1.0,
        threads: StoreThreads | None = None,
        attributes: ObjectAttributes | None = None,
        clock: Callable[[], float] = time.time,
        metrics: GatewayMetrics | None = None,
        capabilities: Capabilities = AWS,
        max_parts: int | None = None,
        equal_parts: bool | None = None,
    ) -> None:
        chosen = None if checksum is None else ChecksumAlgorithm.parse(checksum)
        if chosen is ChecksumAlgorithm.SHA256:
            raise ConfigError("the gateway stores CRC checksums (crc64nvme, crc32c, crc32) or none")
        self.use = checksum_use(chosen, capabilities, CRCS)
        algorithm = self.use.algorithm
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ConfigError(f"part size must be {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes")
        if pipeline_parts < 0:
            raise ConfigError("pipeline_parts must not be negative")
        self.store = store
        self.objects = objects
        self.bucket = bucket
        self.key_prefix = key_prefix
        self.state_prefix = f"{key_prefix}_uploads/" if state_prefix is None else state_prefix
        self.part_size = part_size
        self.algorithm = algorithm
        self.capabilities = capabilities
        self.max_parts = max_parts or capabilities.part_limit
        self.equal_parts = capabilities.needs_equal_parts if equal_parts is None else equal_parts
        self.single_instance = not capabilities.conditional_writes
        """Whether this gateway must be the only one serving its uploads."""
        if no_clobber:
            check_no_clobber(capabilities)
        self.retry = retry or RetryPolicy()
        self.no_clobber = no_clobber
        self.attributes = attributes or ObjectAttributes()
        self.commit_interval = commit_interval
        """Seconds between state writes that record a long PATCH's parts as they go."""
        self.clock = clock
        self.pipeline_parts = pipeline_parts
        self.threads = threads or StoreThreads(max(64, 2 * max_buffers))
        self.buffers = PartBuffers(max_buffers, part_size, buffer_wait)
        self.pool = self.buffers.pool
        self.states = StateObjects(
            objects,
            bucket,
            self.state_prefix,
            self.threads,
            algorithm,
            conditional=not self.single_instance,
        )
        self.locks = ProcessLocks(lock_wait)
        self.leases: LeaseHolder = (
            LocalLeases()
            if self.single_instance
            else Leases(objects, bucket, self.threads, ttl=lease_ttl, wait=lock_wait, clock=clock)
        )
        self.finisher = Finisher(
            store,
            self.states,
            self.buffers,
            self.threads,
            calls=self.calls,
            options=self.options,
            ledger=self.ledger,
            no_clobber=no_clobber,
            clock=clock,
        )
        self.commits = Commits(self.states, self.finisher, equal_parts=self.equal_parts)
        self.concatenation = Concatenation(
            store,
            objects,
            bucket,
            use=self.use,
            part_size=part_size,
            retry=self.retry,
            no_clobber=no_clobber,
            calls=self.calls,
            copy=capabilities.has("upload_part_copy"),
            max_parts=self.max_parts,
            equal_parts=self.equal_parts,
        )
        self.sweeper = Sweeper(self.states, self.locks, self.leases, self._expire)
        self.metrics = metrics or GatewayMetrics()
        self.metrics.watch_buffers(lambda: self.pool.lent_bytes, self.pool.budget)
        self.metrics.watch_leases(lambda: self.leases.held)
        self.finisher.on_sent = self.metrics.part_sent
        if self.threads.on_store_error is None:
            self.threads.on_store_error = self.metrics.store_error

    # ------------------------------------------------------------------ collaborators

    def calls(self, key: str, algorithm: ChecksumAlgorithm | None = None) -> MultipartCalls:
        """The store calls for the object ``key`` (``algorithm``: another than the store's)."""
        use = self.use
        if algorithm is not None and algorithm is not use.algorithm:
            use = ChecksumUse.native(algorithm)
        return MultipartCalls(self.store, self.bucket, key, algorithm=use, retry=self.retry)

    def ledger(self, state: UploadState) -> PartLedger:
        """The part ledger of an upload, with its recorded parts."""
        plan = plan_parts(
            state.upload.size,
            self.part_size,
            max_parts=self.max_parts,
            equal_parts=self.equal_parts,
        )
        return PartLedger(plan, state.parts, hint="send larger chunks")

    def options(self, upload: Upload) -> ObjectOptions:
        """The object's attributes (see :class:`ObjectAttributes`)."""
        return self.attributes.for_upload(upload)

    def _check_options(self, upload: Upload) -> None:
        try:
            self.options(upload)
        except ConfigError as exc:
            raise HTTPError(400, "BadMetadata", str(exc)) from None

    async def _exists(self, key: str) -> bool:
        return await self.threads.run(self.store.head_object, self.bucket, key) is not None

    # ------------------------------------------------------------------ core

    async def create(self, upload_id: str, key: str, new: NewUpload) -> Upload:
        self.states.check_id(upload_id)
        if new.partial:
            key = f"{self.state_prefix}{upload_id}.partial"
        elif self.no_clobber and await self._exists(key):
            raise HTTPError(409, "Exists", "an object with this name exists already")
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
        self._check_options(upload)
        state = UploadState(upload)
        await self.states.save(state, create=True)
        if new.size == 0:
            await self.finisher.finish(state, None, 0)
        return state.upload

    async def get(self, upload_id: str) -> Upload:
        return (await self.states.load(upload_id)).upload

    def lock(self, upload_id: str) -> AbstractAsyncContextManager[None]:
        return self._lock(upload_id)

    @asynccontextmanager
    async def _lock(self, upload_id: str) -> AsyncIterator[None]:
        self.states.check_id(upload_id)
        async with (
            self.locks.hold(upload_id),
            self.leases.hold(lease_key(self.state_prefix, upload_id)),
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
        state = await self.states.load(upload_id)
        upload = state.upload
        if upload.offset != offset:
            raise offset_mismatch(upload.offset, offset)
        if upload.finished:
            async for _ in body:
                raise too_large("the upload is already complete")
            return upload
        if upload.size is not None and upload.offset == upload.size:
            await self.finisher.finish_recorded(state)  # all recorded, completion cut short
            return state.upload
        writer = self.chunk_writer(state, body.expected)
        commits = self.commits
        saved = time.monotonic()
        try:
            staged = state.staged_size if state.staged_key is not None else 0
            await writer.start(
                (lambda buf: self.states.read_staged(state, buf)) if staged else None
            )
            async for data in body:
                await writer.add(data)
                if on_progress is not None:
                    on_progress(offset + body.received)
                if (
                    not body.checked
                    and time.monotonic() - saved >= self.commit_interval
                    and commits.new_parts(state, writer)
                    and not commits.parts_reach_length(state, writer)
                ):
                    # a long PATCH records its parts as it goes: a crash loses little
                    await commits.parts(state, writer, expires)
                    saved = time.monotonic()
            body.verify()
        except NoSuchUpload:
            await writer.close()
            if not await self.finisher.adopt_completed(state):
                raise
            async for _ in body:  # the store has it all: read the rest of the chunk away
                pass
            return state.upload
        except BaseException:
            await writer.close()  # waits for parts in flight, keeps the acknowledged ones
            await self._keep_acknowledged(state, writer, body, expires)
            raise
        try:
            return await commits.chunk(state, writer, expires)
        finally:
            await writer.close()

    def chunk_writer(self, state: UploadState, expected: int | None) -> ChunkWriter:
        upload = state.upload

        async def multipart() -> str:
            if state.mpu is None:
                state.mpu = await self.threads.run(
                    self.calls(upload.key).create, self.options(upload)
                )
                await self.states.save(state)  # recorded at once: never an orphan
            return state.mpu

        return ChunkWriter(
            upload,
            self.ledger(state),
            self.calls(upload.key),
            self.buffers,
            self.threads,
            start_offset=state.parts_bytes,
            expected=expected,
            pipeline_parts=self.pipeline_parts,
            multipart=multipart,
            on_part=self.metrics.part_sent,
        )

    async def _keep_acknowledged(
        self, state: UploadState, writer: ChunkWriter, body: ChunkBody, expires: float | None
    ) -> None:
        """After a failed chunk, record the parts the store acknowledged, unless the chunk
        must be discarded whole (its checksum did not match); a failure to record them is
        logged: the chunk's own failure is what the client gets."""
        if not self.commits.new_parts(state, writer):
            return
        try:
            body.verify()
        except Exception:
            return
        try:
            await self.commits.parts(state, writer, expires)
        except Exception as exc:
            log.warning(
                "upload %s: could not record the parts acknowledged before the chunk failed "
                "(they will be sent again): %s",
                state.upload.id,
                exc,
            )

    # ------------------------------------------------------------------ capabilities

    async def terminate(self, upload_id: str) -> None:
        state = await self.states.load(upload_id)
        await self._remove(state, delete_object=True)

    async def _expire(self, state: UploadState) -> None:
        await self._remove(state, delete_object=False)

    async def _remove(self, state: UploadState, *, delete_object: bool) -> None:
        upload = state.upload
        if state.mpu is not None and not upload.finished:
            await self.threads.run(self.calls(upload.key).abort, state.mpu)
        await self.states.delete_staged(upload.id)
        if upload.finished and (delete_object or upload.partial):
            await self.states.delete(upload.key)
        await self.states.remove(upload.id)

    async def declare_length(self, upload_id: str, size: int) -> Upload:
        state = await self.states.load(upload_id)
        upload = state.upload
        if upload.size is not None:
            raise HTTPError(400, "BadLength", "Upload-Length cannot be changed once set")
        if size < upload.offset:
            raise HTTPError(400, "BadLength", "Upload-Length is below the upload's offset")
        state.upload = updated(upload, size=size)
        await self.states.save(state)
        if size == upload.offset:
            await self.finisher.finish_recorded(state)
        return state.upload

    async def concatenate(
        self, upload_id: str, key: str, new: NewUpload, partials: Sequence[Upload]
    ) -> Upload:
        self.states.check_id(upload_id)
        if self.no_clobber and await self._exists(key):
            raise HTTPError(409, "Exists", "an object with this name exists already")
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
        self._check_options(upload)
        await self.threads.run(self.concatenation.build, upload, partials, self.options(upload))
        await self.states.save(UploadState(upload), create=True)
        return upload

    async def sweep(self, now: float) -> int:
        return await self.sweeper.sweep(now)

    async def describe(self, upload: Upload, expires_in: int) -> StoredObject | None:
        """A finished upload's object: size, stored checksum and a presigned GET (``None``
        when the object is gone)."""
        info = await self.threads.run(self.store.head_object, self.bucket, upload.key)
        if info is None:
            return None
        url = await self.threads.run(
            self.objects.presign_request,
            "get_object",
            {"Bucket": self.bucket, "Key": upload.key},
            expires_in,
        )
        algorithm = self.algorithm
        checksum = info.checksum
        return StoredObject(
            size=info.size if info.size is not None else upload.size or 0,
            checksum=checksum,
            checksum_algorithm=(
                algorithm.value.upper()
                if checksum and algorithm is not ChecksumAlgorithm.NONE
                else None
            ),
            url=url,
        )
