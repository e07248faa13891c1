"""``python -m tests.gateway_entry ARGS``: ``s3stream serve ARGS`` with a shorter upload lease.

A gateway process that is SIGKILLed leaves its upload's lease object behind, and another
process takes the upload over only once that lease has expired (30 s after its last renewal).
The crash tests set ``S3STREAM_TEST_LEASE_TTL`` to a few seconds so that every trial does not
wait half a minute; nothing else differs from ``s3stream serve``.
"""

from __future__ import annotations

import os
import sys

from s3stream.gateway import command
from s3stream.gateway.s3store import S3UploadStore


def main() -> int:
    defaults = getattr(S3UploadStore.__init__, "__kwdefaults__", None)
    assert isinstance(defaults, dict) and "lease_ttl" in defaults
    defaults["lease_ttl"] = float(os.environ["S3STREAM_TEST_LEASE_TTL"])
    return command.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
