"""The engine's choices on a store of known capabilities, each a visible fallback.

* The checksum: the user's, or else the best the store verifies, preferring a full-object
  CRC over a composite one over part checksums only. Where the store verifies none, s3stream
  still computes CRC64NVME for every part (the journal and ``--verify`` compare with it) but
  sends none: a store that ignores a checksum proves nothing with it, and one that refuses
  it would fail the upload.
* What the completion carries: the whole object's CRC where the store verifies it, else the
  ``COMPOSITE`` of the part checksums, else nothing.
* The part plan: at most the store's part limit, and equal parts where the store needs them.
* ``no_clobber`` on a store that does not honour ``If-None-Match`` is refused: a write that
  only pretends not to overwrite would be worse than none.

An explicit setting beats the store's profile (it is said once, at debug level).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Literal

from s3stream.checksums import ChecksumAlgorithm
from s3stream.config import UploadConfig
from s3stream.errors import ConfigError
from s3stream.store.capabilities import ALGORITHMS, Capabilities, Support, Whole

log = logging.getLogger(__name__)

Verified = Literal["full-object", "parts", "read-back", "none"]
"""What was checked: the whole object's checksum, each part's, the object read back, nothing."""
VerifiedBy = Literal["store", "s3stream"]

LOCAL = ChecksumAlgorithm.CRC64NVME
"""What s3stream computes when the store verifies no checksum (fast, and it combines)."""

_said: set[tuple[str, str]] = set()
_said_lock = threading.Lock()


def _say_once(caps: Capabilities, setting: str, message: str) -> None:
    with _said_lock:
        if (caps.name, setting) in _said:
            return
        _said.add((caps.name, setting))
    log.debug("%s (store profile %s): the setting wins", message, caps.name)


@dataclass(frozen=True, slots=True)
class ChecksumUse:
    """How an upload's checksums meet the store.

    ``algorithm`` is computed for every part; ``sent`` says whether the store gets it (part
    headers or trailers, the completion); ``whole`` what the completion carries;
    ``store_verifies`` whether the store checks what it gets; ``trailers`` whether it may
    trail a streamed body.
    """

    algorithm: ChecksumAlgorithm
    sent: bool = True
    whole: Whole = "full_object"
    store_verifies: bool = True
    trailers: bool = True

    @classmethod
    def native(cls, algorithm: ChecksumAlgorithm) -> ChecksumUse:
        """S3 as AWS documents it: sent, verified, full-object for CRCs, composite SHA-256."""
        if algorithm is ChecksumAlgorithm.NONE:
            return cls(algorithm, sent=False, whole="none", store_verifies=False)
        return cls(algorithm, whole="full_object" if algorithm.full_object else "composite")

    @property
    def sent_algorithm(self) -> ChecksumAlgorithm:
        """The algorithm the store calls get (``NONE`` when nothing is sent)."""
        return self.algorithm if self.sent else ChecksumAlgorithm.NONE

    def verification(self, *, multipart: bool) -> tuple[Verified, VerifiedBy | None]:
        """What the store verified of an upload that went up as one PutObject (``multipart``
        False) or as parts."""
        if not self.sent or not self.store_verifies:
            return "none", None
        if not multipart or self.whole == "full_object":
            return "full-object", "store"
        return "parts", "store"


def _best(caps: Capabilities, allowed: tuple[ChecksumAlgorithm, ...]) -> ChecksumAlgorithm:
    verified = [a for a in allowed if caps.support(a) is Support.VERIFIED]
    for whole in ("full_object", "composite"):
        for algorithm in verified:
            if caps.whole(algorithm) == whole:
                return algorithm
    if verified:
        return verified[0]
    return LOCAL


def checksum_use(
    choice: ChecksumAlgorithm | None,
    caps: Capabilities,
    allowed: tuple[ChecksumAlgorithm, ...] = ALGORITHMS,
) -> ChecksumUse:
    """How to checksum on a store of ``caps``: ``choice`` is the user's (``None``: the best
    of ``allowed`` the store verifies)."""
    algorithm = _best(caps, allowed) if choice is None else choice
    if algorithm is ChecksumAlgorithm.NONE:
        return ChecksumUse.native(algorithm)
    support = caps.support(algorithm)
    if choice is not None and support is Support.REFUSED:
        _say_once(caps, "checksum", f"the store refuses {algorithm.value} checksum headers")
    sent = choice is not None or support is Support.VERIFIED
    whole = caps.whole(algorithm) if support is Support.VERIFIED else "none"
    return ChecksumUse(
        algorithm,
        sent=sent,
        whole=whole,
        store_verifies=support is Support.VERIFIED,
        trailers=caps.has("trailers"),
    )


def for_store(config: UploadConfig, caps: Capabilities) -> tuple[UploadConfig, ChecksumUse]:
    """``config`` with what it leaves open decided for a store of ``caps``, and how its
    checksums are used. Settings the user made are kept (a contradiction is logged)."""
    use = checksum_use(config.chosen_checksum, caps)
    max_parts = config.max_parts
    if max_parts is None:
        max_parts = caps.part_limit
    elif caps.max_parts is not None and max_parts > caps.max_parts:
        _say_once(caps, "max_parts", f"the store takes at most {caps.max_parts} parts")
    equal = config.equal_parts
    if equal is None:
        equal = caps.needs_equal_parts
    elif not equal and caps.equal_parts:
        _say_once(caps, "equal_parts", "the store needs parts of equal size")
    if config.no_clobber:
        check_no_clobber(caps)
    effective = replace(config, checksum=use.algorithm, max_parts=max_parts, equal_parts=equal)
    return effective, use


def check_no_clobber(caps: Capabilities) -> None:
    """Refuse ``no_clobber`` where the store would overwrite anyway."""
    missing = [
        name
        for flag, name in (
            ("if_none_match_put", "PutObject"),
            ("if_none_match_complete", "CompleteMultipartUpload"),
        )
        if not caps.has(flag)
    ]
    if missing:
        raise ConfigError(
            f"the store (profile {caps.name}) does not honour If-None-Match on "
            f"{' and '.join(missing)}, so no-clobber cannot be guaranteed: drop --no-clobber, "
            "or check the store with `s3stream doctor`"
        )


def consequences(caps: Capabilities) -> dict[str, str]:
    """Per fact, what s3stream does about it on a store of ``caps`` (``doctor``'s table)."""
    use = checksum_use(None, caps)
    name = use.algorithm.value.upper()
    if use.store_verifies:
        checksums = f"sends {name}; the store verifies it"
    else:
        checksums = f"computes {name}, sends none (unchecked); --verify reads objects back"
    whole = {
        "full_object": f"completes with the {name} of the whole object",
        "composite": f"completes with the composite {name} of the parts",
        "none": "no whole-object checksum: --verify reads objects back",
    }[use.whole]
    conditional = caps.conditional_writes
    return {
        "checksums": checksums,
        "multipart": whole,
        "list_parts_checksums": "resume checks parts by number, ETag and size",
        "trailers": "the gateway streams parts as they arrive"
        if use.trailers or not use.sent
        else "the gateway holds each part, checksum in a header",
        "if_none_match_put": "--no-clobber is atomic"
        if caps.has("if_none_match_put")
        else "--no-clobber is refused",
        "if_none_match_complete": "--no-clobber is atomic"
        if caps.has("if_none_match_complete")
        else "--no-clobber is refused",
        "if_match_put": "gateway instances share uploads (leases)"
        if conditional
        else "the gateway runs as one instance (in-process locks)",
        "if_match_delete": "gateway leases are released safely"
        if conditional
        else "the gateway runs as one instance (in-process locks)",
        "upload_part_copy": "gateway concatenation copies server-side"
        if caps.has("upload_part_copy")
        else "gateway concatenation streams the bytes through",
        "max_parts": f"plans at most {caps.part_limit} parts",
        "equal_parts": "keeps parts equal (streams do not grow their parts)"
        if caps.needs_equal_parts
        else "streams grow their parts after the first tenth of the part limit",
        "addressing": f"{caps.addressing}-style requests",
    }
