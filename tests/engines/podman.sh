#!/usr/bin/env bash
# Real Podman (Debian's 4.3, CNI backend) running containers on wnet networks through
# wnet's CNI plugin: two containers talking, a published port, `podman network
# connect/disconnect`, removal — and nothing left behind. Everything happens inside a
# private pid + net + mount namespace (shared/reference/real-clients.md); the
# machine's /var/lib is overlaid, and the cgroup directories Podman makes are removed.
#
# Needs root and Debian's podman, runc and busybox-static
# (apt-get install --no-install-recommends podman runc busybox-static), and a built
# wnet (default target/debug/wnet; WNET_BIN to choose). scripts/test.sh runs it when
# those are installed (.ci/run installs them). Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
WNET_BIN=${WNET_BIN:-$PWD/target/debug/wnet}
for tool in podman runc busybox; do
    command -v "$tool" >/dev/null || { echo "podman.sh: $tool is not installed" >&2; exit 2; }
done
[ -x "$WNET_BIN" ] || { echo "podman.sh: $WNET_BIN: build wnet first" >&2; exit 2; }

W=$(mktemp -d /tmp/wnet-podman.XXXXXX)
HOLDER_PID=
cleanup() {
    [ -n "$HOLDER_PID" ] && kill -9 "$HOLDER_PID" 2>/dev/null || true
    sleep 0.2
    for d in /sys/fs/cgroup/*/libpod_parent; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    rm -rf "$W"
}
trap cleanup EXIT

# The image: busybox and its applets, imported offline.
mkdir -p "$W/rootfs/bin" "$W/rootfs/tmp" "$W/cni/bin" "$W/cni/net.d" "$W/tmp"
# The image's only program: it must not need a libc (busybox-static's).
ldd "$(command -v busybox)" >/dev/null 2>&1 && { echo "podman.sh: busybox is not static: install busybox-static" >&2; exit 2; }
cp "$(command -v busybox)" "$W/rootfs/bin/"
for a in sh ip cat sleep nc echo; do ln -s busybox "$W/rootfs/bin/$a"; done
tar -C "$W/rootfs" -cf "$W/bb.tar" .
ln -s "$WNET_BIN" "$W/cni/bin/wnet"
cat > "$W/containers.conf" <<EOF
[containers]
netns = "bridge"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
runtime = "runc"
tmp_dir = "/run/libpod"
[network]
network_backend = "cni"
cni_plugin_dirs = ["$W/cni/bin"]
network_config_dir = "$W/cni/net.d"
EOF
cat > "$W/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "$W/storage"
EOF
# wnet's settings go in the configuration: Podman's cleanup after a container exits
# calls the plugin with an environment of its own.
CACHE=${WNET_CACHE_DIR:-/tmp/wnet-test-cache}
SETTINGS="\"dataDir\": \"/run/wnet/data\", \"runDir\": \"/run/wnet/run\", \"cacheDir\": \"$CACHE\",
 \"driversDir\": \"/run/wnet/drivers\", \"config\": \"$W/wnet.toml\""
cat > "$W/cni/net.d/web.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "web", "plugins": [{"type": "wnet", "driver": "bridge",
 $SETTINGS,
 "options": {"com.docker.network.bridge.name": "wnweb0"},
 "ipam": {"subnet": "10.20.0.0/24", "gateway": "10.20.0.1"},
 "capabilities": {"portMappings": true}}]}
EOF
cat > "$W/cni/net.d/back.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "back", "plugins": [{"type": "wnet", $SETTINGS,
 "options": {"com.docker.network.bridge.name": "wnback0"},
 "ipam": {"subnet": "10.21.0.0/24"}}]}
EOF
: > "$W/wnet.toml"
cat > "$W/holder.sh" <<EOF
#!/bin/bash
mount --make-rprivate /
ip link set lo up
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/netns "$W/upper" "$W/work"
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$W/upper,workdir=$W/work /var/lib
exec sleep infinity
EOF
chmod +x "$W/holder.sh"
setsid unshare --net --mount --propagation private --pid --fork --mount-proc "$W/holder.sh" &
for _ in $(seq 50); do
    HOLDER_PID=$(pgrep -P $! -f "sleep infinity" || true)
    [ -n "$HOLDER_PID" ] && break
    sleep 0.1
done
[ -n "$HOLDER_PID" ] || { echo "podman.sh: the namespace holder did not start" >&2; exit 1; }
# The holder is the pid namespace's init: find it as the unshare's child.
inside() {
    nsenter -t "$HOLDER_PID" -n -m -p -- env \
        CONTAINERS_CONF="$W/containers.conf" CONTAINERS_STORAGE_CONF="$W/storage.conf" \
        TMPDIR="$W/tmp" "$@"
}
wnet() {
    inside "$WNET_BIN" --data-dir /run/wnet/data --run-dir /run/wnet/run --cache-dir "$CACHE" \
        --drivers-dir /run/wnet/drivers --config "$W/wnet.toml" "$@"
}
fail() { echo "FAILED: $*" >&2; exit 1; }
check() { echo "ok: $*"; }
# Output of "$@" once it equals $1, trying for up to 10 s (a container's listener may
# not be up yet on a loaded machine).
until_says() {
    local want=$1; shift
    for _ in $(seq 50); do
        [ "$("$@" 2>/dev/null)" = "$want" ] && return 0
        sleep 0.2
    done
    return 1
}

inside podman import "$W/bb.tar" localhost/bb:latest >/dev/null
inside podman run -d --name c1 --network web localhost/bb sleep 300 >/dev/null
inside podman run -d --name c2 --network web -p 8080:7000 localhost/bb \
    sh -c 'while true; do echo hello-from-c2 | nc -l -p 7000; done' >/dev/null
c2_ip=$(inside podman exec c2 ip -4 -o addr show eth0 | sed -E 's#.* inet ([0-9.]+)/.*#\1#')
[[ $c2_ip == 10.20.0.* ]] || fail "c2's address on web: $c2_ip"
check "two containers on wnet network web (c2 at $c2_ip)"
until_says hello-from-c2 inside podman exec c1 sh -c "nc $c2_ip 7000 </dev/null" ||
    fail "c1 reaches c2"
check "c1 reaches c2 over wnet's bridge"
until_says hello-from-c2 inside timeout 3 busybox nc 10.20.0.1 8080 </dev/null ||
    fail "the host reaches c2's published port"
check "-p 8080:7000 reaches c2 from the host"
inside podman network connect back c1
[[ $(inside podman exec c1 ip -4 -o addr show eth1) == *" 10.21.0."* ]] ||
    fail "podman network connect: c1 has eth1 on back"
check "podman network connect: c1 on back as eth1"
inside podman network disconnect back c1
! inside podman exec c1 ip link show eth1 >/dev/null 2>&1 || fail "disconnect: eth1 gone"
check "podman network disconnect: eth1 gone"
[[ $(wnet sandbox ls -q) == *cni-* ]] || fail "the containers are wnet sandboxes"
inside env WNET_LOG=info podman rm -f -t 0 c1 c2 >/dev/null 2>"$W/rm.log" || true
left=$(wnet sandbox ls -q)
[ -z "$left" ] || { cat "$W/rm.log" >&2; wnet sandbox inspect $left >&2; fail "sandboxes left after podman rm: $left"; }
links=$(inside ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')
[[ $links != *veth* ]] || fail "links left: $links"
[[ $links == *wnweb0* ]] || fail "the network's bridge stays: $links"
check "podman rm: no sandbox, no container link left (links: $links)"
wnet network rm web back >/dev/null
echo "podman.sh: all checks passed"
