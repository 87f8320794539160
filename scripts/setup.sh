#!/usr/bin/env bash
# Sets up a fresh machine for wasmdask and builds the host and the Rust example task.
#
# - installs the pinned Rust toolchain and its wasm32-wasip2 target (rust-toolchain.toml);
# - builds the `wasmdask` host binary (target/release/wasmdask);
# - builds the Rust example component (target/guests/wasm32-wasip2/release/wasmdask_example.wasm);
# - creates .venv with the Python tools the tests drive for real (scripts/requirements.txt:
#   flytekit + flytekitplugins-dask, flyte-sdk + flyteplugins-dask (Flyte 2), moto's S3 server,
#   componentize-py for Python tasks, ...);
# - installs the C task toolchain (clang, wasm-ld, wasi-libc, wasm32 compiler-rt: Debian packages,
#   needs root or sudo) and the JavaScript one (componentize-js, pinned in package.json, into
#   node_modules with `npm ci`), so `wasmdask build` and the test guests can build every language;
#   and Debian's umoci, with which the image test unpacks scripts/build-image.py's OCI image.
# - installs Debian's chromium (needs root or sudo), the headless browser of the dashboard test.
#
# Safe to run again: every step is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

if ! command -v rustup >/dev/null 2>&1; then
    echo "error: rustup is required (https://rustup.rs); install it and run this script again" >&2
    exit 1
fi

step "Rust toolchain and the wasm32-wasip2 target (rust-toolchain.toml)"
rustup toolchain install >/dev/null
rustup target add wasm32-wasip2 >/dev/null

step "Building the wasmdask host (release)"
cargo build --release -p wasmdask

step "Building the Rust example component"
cargo build --release --target wasm32-wasip2 \
    --manifest-path examples/rust/Cargo.toml --target-dir target/guests

step "Python tools for the tests (.venv from scripts/requirements.txt)"
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found; install Python 3.10+ (or set PYTHON=/path/to/python3)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv || {
        echo "error: could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    }
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt || {
    echo "error: pip could not install scripts/requirements.txt into .venv (is PyPI reachable?)" >&2
    exit 1
}

step "C and JavaScript task toolchains (clang + wasi-libc; componentize-js), umoci"
# Debian package names; each is checked with dpkg so a machine that has them skips apt entirely.
C_PACKAGES=(clang lld wasi-libc libclang-rt-dev-wasm32)
missing=()
for package in "${C_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
# umoci: the image test unpacks scripts/build-image.py's OCI layout with a standard tool.
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo)
        else
            echo "error: installing ${missing[*]} needs root; run as root or install them:" >&2
            echo "  apt-get install ${missing[*]}" >&2
            exit 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: no apt-get; install the equivalents of: ${missing[*]}" >&2
        exit 1
    fi
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || {
        echo "error: apt-get could not install ${missing[*]}" >&2
        exit 1
    }
fi
# `npm ci` wipes node_modules and reinstalls (about 40 s), so it runs only when package-lock.json
# changed since the last install.
lock_stamp=node_modules/.wasmdask-lock.sha256
if ! sha256sum --check --status "$lock_stamp" 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null || {
        echo "error: npm ci failed (is the npm registry reachable? node: $(node --version 2>&1))" >&2
        exit 1
    }
    sha256sum package-lock.json > "$lock_stamp"
fi

step "Chromium, for the dashboard test (a real headless browser; Debian's package)"
if [ ! -x /usr/bin/chromium ]; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium >/dev/null || {
        echo "error: apt-get could not install chromium (tests/it/observability.rs needs it)" >&2
        exit 1
    }
fi

echo >&2
echo "ready: target/release/wasmdask and target/guests/wasm32-wasip2/release/wasmdask_example.wasm" >&2
