#!/usr/bin/env bash
# Sets up the Python side of the wasmdask-vs-Dask benchmark (bench/vs_dask.py):
# creates .venv at the repo root (if missing) and installs bench/requirements.txt into it.
#
# Safe to run again: an existing .venv is reused and pip skips what is already installed.
# Usage: bash scripts/bench-setup.sh        (then: .venv/bin/python bench/vs_dask.py)
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "error: $*" >&2; exit 1; }

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.10+ (or set PYTHON=/path/to/python3)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$("$PYTHON" --version 2>&1) is too old; dask 2026.x needs Python 3.10+ (set PYTHON=...)"

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv" >&2
    "$PYTHON" -m venv .venv \
        || die "could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi

echo "==> installing bench/requirements.txt into .venv" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt \
    || die "pip could not install bench/requirements.txt (is PyPI reachable?)"

.venv/bin/python -c 'import dask, distributed; print(f"ready: .venv with dask {dask.__version__}, distributed {distributed.__version__}")' \
    || die "dask/distributed installed but do not import"
