#!/usr/bin/env bash
# Quickstart 1: set up, then run the upload gateway and its web page on the embedded S3 store
# (SeaweedFS on 127.0.0.1; data kept in ./s3stream-data) and print the page's address.
# Extra arguments go to `s3stream serve`, e.g. `scripts/start.sh --port 9000`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/s3stream serve --data-dir s3stream-data "$@"
