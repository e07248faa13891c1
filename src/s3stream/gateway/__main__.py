"""``python -m s3stream.gateway``: the ``serve`` command on its own."""

import sys

from .command import main

sys.exit(main())
