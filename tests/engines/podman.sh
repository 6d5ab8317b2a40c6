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
ENGINE=podman CGROUP_DIR=libpod_parent
. tests/engines/lib.sh
for tool in podman runc; do
    command -v "$tool" >/dev/null || { echo "podman.sh: $tool is not installed" >&2; exit 2; }
done
engine_start
mkdir -p "$W/cni/bin" "$W/cni/net.d"
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
SETTINGS=$(cni_settings)
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
podman_env() {
    inside env CONTAINERS_CONF="$W/containers.conf" CONTAINERS_STORAGE_CONF="$W/storage.conf" \
        TMPDIR="$W/tmp" "$@"
}

podman_env podman import "$W/bb.tar" localhost/bb:latest >/dev/null
podman_env podman run -d --name c1 --network web localhost/bb sleep 300 >/dev/null
podman_env podman run -d --name c2 --network web -p 8080:7000 localhost/bb \
    sh -c 'while true; do echo hello-from-c2 | nc -l -p 7000; done' >/dev/null
c2_ip=$(podman_env podman exec c2 ip -4 -o addr show eth0 | sed -E 's#.* inet ([0-9.]+)/.*#\1#')
[[ $c2_ip == 10.20.0.* ]] || fail "c2's address on web: $c2_ip"
check "two containers on wnet network web (c2 at $c2_ip)"
until_says hello-from-c2 podman_env podman exec c1 sh -c "nc $c2_ip 7000 </dev/null" ||
    fail "c1 reaches c2"
check "c1 reaches c2 over wnet's bridge"
until_says hello-from-c2 inside timeout 3 busybox nc 10.20.0.1 8080 </dev/null ||
    fail "the host reaches c2's published port"
check "-p 8080:7000 reaches c2 from the host"
podman_env podman network connect back c1
[[ $(podman_env podman exec c1 ip -4 -o addr show eth1) == *" 10.21.0."* ]] ||
    fail "podman network connect: c1 has eth1 on back"
check "podman network connect: c1 on back as eth1"
podman_env podman network disconnect back c1
! podman_env podman exec c1 ip link show eth1 >/dev/null 2>&1 || fail "disconnect: eth1 gone"
check "podman network disconnect: eth1 gone"
[[ $(wnet sandbox ls -q) == *cni-* ]] || fail "the containers are wnet sandboxes"
podman_env env WNET_LOG=info podman rm -f -t 0 c1 c2 >/dev/null 2>"$W/rm.log" || true
left=$(wnet sandbox ls -q)
[ -z "$left" ] || { cat "$W/rm.log" >&2; wnet sandbox inspect $left >&2; fail "sandboxes left after podman rm: $left"; }
links=$(inside ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')
[[ $links != *veth* ]] || fail "links left: $links"
[[ $links == *wnweb0* ]] || fail "the network's bridge stays: $links"
# (libpod_parent/conmon is Podman's own, shared by every container's monitor.)
left=$(find /sys/fs/cgroup/*/libpod_parent -mindepth 1 -type d ! -path '*/libpod_parent/conmon' \
    2>/dev/null || true)
[ -z "$left" ] || fail "container cgroups left: $left"
check "podman rm: no sandbox, no container link, no container cgroup left (links: $links)"
wnet network rm web back >/dev/null
echo "podman.sh: all checks passed"
