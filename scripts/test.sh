#!/usr/bin/env bash
# Quickstart 2: set up, lint, type-check and run the whole test suite (slow tests included).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests bench build_backend
.venv/bin/ruff format --check src tests bench build_backend
.venv/bin/mypy
exec .venv/bin/pytest "$@"
