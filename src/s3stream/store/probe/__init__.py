"""The store probe: what a store honours, measured by a few small requests (``doctor``)."""

from s3stream.store.probe.checks import Probe, ProbeReport
from s3stream.store.probe.session import PROBE_PREFIX, Finding, ProbeError

__all__ = ["PROBE_PREFIX", "Finding", "Probe", "ProbeError", "ProbeReport"]
