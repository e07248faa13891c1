#!/usr/bin/env bash
# Quickstart 1: set up, start the embedded S3 store, stream and upload, verify, print where.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m s3stream.embedded.demo "$@"
