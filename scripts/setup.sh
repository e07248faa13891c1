#!/usr/bin/env bash
# Create .venv (if needed) and install s3stream with its development extras into it.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.s3stream-setup
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
# Bytecode for the checkout: an editable install compiles none, and where
# PYTHONDONTWRITEBYTECODE is set Python never writes it, so every command would compile
# s3stream again (0.07 CPU-s of each start). compileall skips what is up to date.
PYTHONDONTWRITEBYTECODE= .venv/bin/python -m compileall -q src >/dev/null
# npm packages for the gateway's interoperability tests and benchmark (tus-js-client,
# @tus/server, @tus/s3-store): installed when node is present and the lock file changed.
if command -v npm >/dev/null 2>&1 && [ -f package-lock.json ]; then
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --omit-lockfile-registry-resolved --loglevel=error
    fi
fi
# From Debian: Chromium for the web page's browser tests (Playwright drives it through
# executable_path; a Playwright browser download cannot work offline), and HAProxy, the load
# balancer in front of the gateways in the scale-out test. Needs root, as CI is.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# ffmpeg for the follow-mode tests (recordings whose muxers rewrite their headers at the
# end), from Debian. Needs root, as CI is.
if ! command -v ffmpeg >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
fi
