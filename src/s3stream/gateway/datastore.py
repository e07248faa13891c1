"""The upload-store interface the tus handler talks to (after tusd's datastore + composer).

A store implements the core :class:`UploadStore`; the tus extensions beyond core and
creation are optional capabilities, each a small protocol of its own. The handler asks
:func:`capabilities` once and advertises (``Tus-Extension``) and serves only what the store
can do. Two stores implement it: :class:`~s3stream.gateway.memory.MemoryUploadStore` (a fake
for handler tests and a reference) and :class:`~s3stream.gateway.s3store.store.S3UploadStore`.

Stores raise :class:`~s3stream.gateway.errors.HTTPError` for protocol outcomes (404, 409,
410, 423) and let :class:`~s3stream.errors.StoreError` through for storage failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from s3stream.gateway.model import ChunkBody, NewUpload, ProgressFn, StoredObject, Upload


@runtime_checkable
class UploadStore(Protocol):
    """Core + creation: create, look up, lock and append to uploads."""

    async def create(self, upload_id: str, key: str, new: NewUpload) -> Upload:
        """Record a new upload that will become the object ``key`` (partial uploads ignore it).

        ``no_clobber``-style checks happen here: raise 409 when the key must not be reused.
        """
        ...

    async def get(self, upload_id: str) -> Upload:
        """The upload's current state; 404 :class:`HTTPError` when there is none."""
        ...

    def lock(self, upload_id: str) -> AbstractAsyncContextManager[None]:
        """Exclusive access for one writer (PATCH, DELETE), across processes where possible.

        Raises 423 :class:`HTTPError` when the upload stays locked past the store's wait.
        """
        ...

    async def write(
        self,
        upload_id: str,
        offset: int,
        body: ChunkBody,
        on_progress: ProgressFn | None = None,
        expires: float | None = None,
    ) -> Upload:
        """Append ``body`` at ``offset`` (caller holds the lock) and return the new state.

        ``expires``, when given, is the unfinished upload's new expiry time.
        409 when ``offset`` is not the upload's offset (nothing read, nothing changed). When
        the body ends early the bytes received are kept, unless ``body.verify()`` raises: then
        nothing changes and its error propagates. Reaching the declared size finishes the
        upload: the object exists when this returns.
        """
        ...


@runtime_checkable
class TerminationStore(Protocol):
    async def terminate(self, upload_id: str) -> None:
        """Delete the upload and everything stored for it (caller holds the lock)."""
        ...


@runtime_checkable
class DeferredLengthStore(Protocol):
    async def declare_length(self, upload_id: str, size: int) -> Upload:
        """Set the length of a deferred-length upload (caller holds the lock)."""
        ...


@runtime_checkable
class ConcatenationStore(Protocol):
    async def concatenate(
        self, upload_id: str, key: str, new: NewUpload, partials: Sequence[Upload]
    ) -> Upload:
        """Create a finished final upload whose object is the partials' bytes in order."""
        ...


@runtime_checkable
class ExpirationStore(Protocol):
    async def sweep(self, now: float) -> int:
        """Remove uploads expired by ``now`` (abort their multipart uploads); return the count."""
        ...


@runtime_checkable
class ObjectDescriber(Protocol):
    """A store whose finished uploads are objects it can describe (the upload page's
    ``/api/uploads/{id}``)."""

    async def describe(self, upload: Upload, expires_in: int) -> StoredObject | None:
        """The finished upload's object (``None`` when it is gone)."""
        ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    termination: bool
    deferred_length: bool
    concatenation: bool
    expiration: bool

    def extensions(self, checksum: bool) -> list[str]:
        names = ["creation", "creation-with-upload"]
        if self.deferred_length:
            names.append("creation-defer-length")
        if self.termination:
            names.append("termination")
        if checksum:
            names.append("checksum")
        if self.expiration:
            names.append("expiration")
        if self.concatenation:
            names.append("concatenation")
        return names


def capabilities(store: UploadStore) -> Capabilities:
    """Which optional protocols ``store`` implements (the composer's job in tusd)."""
    return Capabilities(
        termination=isinstance(store, TerminationStore),
        deferred_length=isinstance(store, DeferredLengthStore),
        concatenation=isinstance(store, ConcatenationStore),
        expiration=isinstance(store, ExpirationStore),
    )
