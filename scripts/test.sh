#!/usr/bin/env bash
# Runs every test: the host workspace (controller, runtime, built-in drivers through
# WASM, end-to-end) and the guest workspaces' native unit tests (driver logic through
# the SDK's fake host).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
for ws in drivers examples/third-party-driver; do
    if [ -f "$ws/Cargo.toml" ]; then
        cargo test --manifest-path "$ws/Cargo.toml"
    fi
done
