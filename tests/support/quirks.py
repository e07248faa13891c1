"""A quirk proxy: the fault proxy playing the documented refusals of stores that cannot run
here, in front of a real store (no tests here).

Each quirk is what a store's documentation or its users' bug reports show it answering:

``refuse_checksums``  400 ``InvalidArgument`` "Unsupported header 'x-amz-checksum-...'" for
                      the named algorithms (Backblaze B2, GCS, older Ceph and MinIO)
``refuse_trailers``   501 ``NotImplemented`` for aws-chunked bodies with a trailing checksum
                      (GCS, Infomaniak, older MinIO)
``part_limit``        400 ``InvalidArgument`` for part numbers above 1,000 (Scaleway)
``ignore_if_none_match``  If-None-Match (and If-Match) accepted, then ignored: the write goes
                      through (stores without conditional writes that ignore the headers)
``refuse_part_copy``  501 ``NotImplemented`` for UploadPartCopy (GCS XML API)
``equal_parts``       400 ``InvalidPart`` at CompleteMultipartUpload when a part but the last
                      differs in size from the first, or the last is larger (Cloudflare R2)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from tests.support.faultproxy import Fault, RequestInfo

R2_EQUAL_PARTS = "All non-trailing parts must have the same length."


@dataclass
class Quirks:
    """The policy of a :class:`FaultProxy` playing some stores' refusals."""

    refuse_checksums: frozenset[str] = frozenset()
    """Algorithm names (``crc64nvme``, ...) whose checksum headers are refused."""
    refuse_trailers: bool = False
    part_limit: int | None = None
    ignore_if_none_match: bool = False
    refuse_part_copy: bool = False
    equal_parts: bool = False
    played: list[str] = field(default_factory=list)
    """The quirks played, in order (one entry per refused or altered request)."""
    _sizes: dict[str, dict[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def all_checksums_refused(cls) -> Self:
        return cls(refuse_checksums=frozenset({"crc64nvme", "crc32c", "crc32", "sha256", "sha1"}))

    def _play(self, name: str, fault: Fault) -> Fault:
        with self._lock:
            self.played.append(name)
        return fault

    def __call__(self, request: RequestInfo) -> Fault | None:
        headers = request.headers
        query = _query(request.path)
        for name in headers:
            algorithm = name.removeprefix("x-amz-checksum-")
            if name.startswith("x-amz-checksum-") and algorithm in self.refuse_checksums:
                return self._play("checksum", _unsupported(name))
        declared = headers.get("x-amz-checksum-algorithm", "").lower()
        declared = declared or headers.get("x-amz-sdk-checksum-algorithm", "").lower()
        if declared in self.refuse_checksums:
            return self._play("checksum", _unsupported("x-amz-checksum-algorithm"))
        trailer = headers.get("x-amz-trailer", "")
        if trailer.removeprefix("x-amz-checksum-") in self.refuse_checksums and trailer:
            return self._play("checksum", _unsupported("x-amz-trailer"))
        if self.refuse_trailers and ("x-amz-trailer" in headers or _chunked(headers)):
            return self._play(
                "trailer",
                Fault.reply(
                    501,
                    "NotImplemented",
                    "Transferring payloads in multiple chunks using aws-chunked is not supported.",
                ),
            )
        number = query.get("partNumber")
        if number is not None and self.part_limit is not None and int(number) > self.part_limit:
            return self._play(
                "part limit",
                Fault.reply(
                    400,
                    "InvalidArgument",
                    f"Part number must be an integer between 1 and {self.part_limit}, inclusive",
                ),
            )
        if number is not None and "x-amz-copy-source" in headers and self.refuse_part_copy:
            return self._play(
                "part copy", Fault.reply(501, "NotImplemented", "UploadPartCopy is not supported")
            )
        if self.equal_parts:
            refused = self._equal_parts(request, query)
            if refused is not None:
                return refused
        if self.ignore_if_none_match and ("if-none-match" in headers or "if-match" in headers):
            return self._play("conditional", Fault.strip_headers("if-none-match", "if-match"))
        return None

    def _equal_parts(self, request: RequestInfo, query: dict[str, str]) -> Fault | None:
        upload_id = query.get("uploadId")
        if upload_id is None:
            return None
        number = query.get("partNumber")
        if request.method == "PUT" and number is not None:
            length = request.headers.get("x-amz-decoded-content-length")
            length = length or request.headers.get("content-length", "0")
            with self._lock:
                self._sizes.setdefault(upload_id, {})[int(number)] = int(length)
            return None
        if request.method != "POST":
            return None
        with self._lock:
            sizes = [size for _, size in sorted(self._sizes.pop(upload_id, {}).items())]
        if len(sizes) > 1 and (len(set(sizes[:-1])) > 1 or sizes[-1] > sizes[0]):
            return self._play("equal parts", Fault.reply(400, "InvalidPart", R2_EQUAL_PARTS))
        return None


def _unsupported(header: str) -> Fault:
    return Fault.reply(
        400, "InvalidArgument", f"Unsupported header '{header}' received for this API call."
    )


def _chunked(headers: Mapping[str, str]) -> bool:
    return "aws-chunked" in headers.get("content-encoding", "")


def _query(path: str) -> dict[str, str]:
    _, _, query = path.partition("?")
    found: dict[str, str] = {}
    for item in query.split("&"):
        name, _, value = item.partition("=")
        if name:
            found[name] = value
    return found


__all__ = ["R2_EQUAL_PARTS", "Quirks"]
