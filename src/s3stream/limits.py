"""The S3 multipart limits, in one place (bytes unless the name says otherwise).

https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
"""

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

MIN_PART_SIZE = 5 * MiB
"""Every part but the last must be at least this large."""
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE
"""10,000 x 5 GiB = 48.8 TiB."""
MAX_SINGLE_PUT_SIZE = 5 * GiB
MAX_KEY_BYTES = 1024
"""Object keys are at most 1,024 bytes of UTF-8."""
