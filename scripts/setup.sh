#!/usr/bin/env bash
# Sets up a fresh machine for wasmdask and builds the host and the Rust example task.
#
# - installs the pinned Rust toolchain and its wasm32-wasip2 target (rust-toolchain.toml);
# - builds the `wasmdask` host binary (target/release/wasmdask);
# - builds the Rust example component (target/guests/wasm32-wasip2/release/wasmdask_example.wasm).
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

echo >&2
echo "ready: target/release/wasmdask and target/guests/wasm32-wasip2/release/wasmdask_example.wasm" >&2
