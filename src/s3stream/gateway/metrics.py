"""The gateway's metrics, in the Prometheus text format (``GET /metrics``).

Every :class:`GatewayMetrics` has a registry of its own (so several gateways in one process,
as in the tests, never mix their numbers). What is counted, and where:

==========================================  ================================================
``s3stream_uploads_started_total{door}``    a tus upload created, a presigned multipart upload
                                            created (``door``: ``tus`` or ``presign``)
``s3stream_uploads_finished_total{door}``   a tus upload whose last byte was stored, a
                                            presigned upload completed
``s3stream_uploads_failed_total{door}``     a request writing an upload (tus ``POST``/``PATCH``,
                                            presign ``complete``) that ended in a server error
``s3stream_received_bytes_total``           request body bytes read from clients
``s3stream_store_sent_bytes_total``         part and object bytes the gateway sent to the store
``s3stream_part_upload_seconds``            histogram: one part's UploadPart, from start to reply
``s3stream_store_errors_total{kind,code}``  failed store calls (``kind``: the exception,
                                            ``NotFound``, ``PreconditionFailed``, ...)
``s3stream_buffer_bytes_in_use``            part buffer bytes lent out now (and ``..._limit``)
``s3stream_leases_held``                    upload leases this process holds now
``s3stream_requests_total{method,status}``  every answered request
==========================================  ================================================
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from s3stream.errors import StoreError

PART_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter("s3stream_uploads_started", "Uploads started", ["door"], registry=r)
        self.finished = Counter(
            "s3stream_uploads_finished", "Uploads finished (object stored)", ["door"], registry=r
        )
        self.failed = Counter(
            "s3stream_uploads_failed",
            "Requests writing an upload that ended in a server error",
            ["door"],
            registry=r,
        )
        self.received = Counter(
            "s3stream_received_bytes", "Request body bytes read from clients", registry=r
        )
        self.sent = Counter(
            "s3stream_store_sent_bytes", "Bytes sent to the store in parts and objects", registry=r
        )
        self.part_seconds = Histogram(
            "s3stream_part_upload_seconds",
            "Seconds one UploadPart took, from start to the store's reply",
            buckets=PART_SECONDS_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "s3stream_store_errors", "Failed store calls", ["kind", "code"], registry=r
        )
        self.requests = Counter(
            "s3stream_requests", "Answered requests", ["method", "status"], registry=r
        )
        self.buffer_in_use = Gauge(
            "s3stream_buffer_bytes_in_use", "Part buffer bytes lent out", registry=r
        )
        self.buffer_limit = Gauge(
            "s3stream_buffer_bytes_limit", "Part buffer budget in bytes", registry=r
        )
        self.leases = Gauge("s3stream_leases_held", "Upload leases held", registry=r)

    def watch_buffers(self, in_use: Callable[[], float], limit: float) -> None:
        """Report the buffer pool's use (read at each scrape)."""
        self.buffer_in_use.set_function(in_use)
        self.buffer_limit.set(limit)

    def watch_leases(self, held: Callable[[], float]) -> None:
        self.leases.set_function(held)

    def store_error(self, exc: StoreError) -> None:
        self.store_errors.labels(type(exc).__name__, exc.code).inc()

    def part_sent(self, size: int, seconds: float) -> None:
        self.sent.inc(size)
        self.part_seconds.observe(seconds)

    def exposition(self) -> bytes:
        """The current values in the Prometheus text format."""
        return generate_latest(self.registry)
