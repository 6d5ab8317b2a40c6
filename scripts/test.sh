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
# Real Podman on wnet networks through the CNI plugin, the reference CNI client (libcni)
# driving it, and real Docker through the Docker plugin (the binary `cargo test` built).
if command -v podman >/dev/null && command -v runc >/dev/null &&
    dpkg -s busybox-static >/dev/null 2>&1; then
    tests/engines/podman.sh
else
    echo "tests/engines/podman.sh skipped: apt-get install podman runc busybox-static (.ci/run does)"
fi
if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/containernetworking/cni ] &&
    dpkg -s busybox-static >/dev/null 2>&1; then
    tests/engines/libcni.sh
else
    echo "tests/engines/libcni.sh skipped: apt-get install golang-go golang-github-appc-cni-dev busybox-static (.ci/run does)"
fi
if command -v dockerd >/dev/null && [ -x /usr/bin/docker ] &&
    dpkg -s busybox-static >/dev/null 2>&1; then
    tests/engines/docker.sh
else
    echo "tests/engines/docker.sh skipped: apt-get install docker.io busybox-static (.ci/run does)"
fi
