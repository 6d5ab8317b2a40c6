#!/usr/bin/env bash
# Real Docker (Debian's docker.io 20.10) running containers on wnet networks through
# wnet's Docker plugin (`wnet daemon --docker-plugin wnet`): networks from Docker's
# IPAM and from wnet's, two containers talking, a published port, `docker network
# connect/disconnect` on a running container, a wnet restart in between, driver errors
# reaching the user as Docker's error, removal — and nothing left behind. Everything
# happens inside a private pid + net + mount namespace (shared/reference/real-clients.md);
# the machine's /var/lib is overlaid, and the cgroup directories Docker makes are
# removed. At the end it prints every plugin call dockerd made, counted.
#
# Needs root and Debian's docker.io and busybox-static (apt-get install
# --no-install-recommends docker.io busybox-static), and a built wnet (default
# target/debug/wnet; WNET_BIN to choose). scripts/test.sh runs it when those are
# installed (.ci/run installs them). Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ENGINE=docker CGROUP_DIR=docker
. tests/engines/lib.sh
# /usr/local/bin may hold an older static client: the package's is the one to use.
DOCKER=/usr/bin/docker
for tool in dockerd containerd runc "$DOCKER"; do
    command -v "$tool" >/dev/null || { echo "docker.sh: $tool is not installed" >&2; exit 2; }
done
engine_start

docker() { inside "$DOCKER" -H unix:///run/docker.sock "$@"; }
WNETD_PID=
# The daemon with the plugin; its log keeps each call's body (wnet::docker at debug).
start_wnet() {
    wnet --log-level "info,wnet::docker=debug" daemon --docker-plugin wnet \
        >>"$W/wnetd.log" 2>&1 &
    WNETD_PID=$!
    for _ in $(seq 100); do
        inside test -S /run/docker/plugins/wnet.sock && wnet network ls -q >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$W/wnetd.log" >&2
    fail "wnet daemon did not start"
}
stop_wnet() {
    kill -TERM "$WNETD_PID" 2>/dev/null || true
    wait "$WNETD_PID" 2>/dev/null || true
}
engine_stop() {
    inside sh -c 'kill -TERM $(cat /run/docker.pid)' 2>/dev/null || true
    for _ in $(seq 100); do
        inside test -e /run/docker.pid || break
        sleep 0.1
    done
    stop_wnet
}

start_wnet
inside dockerd --data-root "$W/docker" --exec-root /run/docker --pidfile /run/docker.pid \
    -H unix:///run/docker.sock --iptables=false --ip6tables=false --ip-masq=false \
    --bridge=none --userland-proxy=false --storage-driver=overlay2 >"$W/dockerd.log" 2>&1 &
for _ in $(seq 150); do
    docker version >/dev/null 2>&1 && break
    sleep 0.2
done
docker version >/dev/null 2>&1 || { tail -20 "$W/dockerd.log" >&2; fail "dockerd did not start"; }
docker import "$W/bb.tar" bb:latest >/dev/null

# n1: pool and addresses from wnet's IPAM; back: from Docker's, with IPv6.
n1=$(docker network create -d wnet --ipam-driver wnet n1)
docker network create -d wnet -o wnet.name=back -o com.docker.network.bridge.name=wnback0 \
    --ipv6 --subnet 10.31.0.0/24 --subnet fd31::/64 back >/dev/null
names=$(wnet network ls --format json)
[[ $names == *"\"docker-${n1:0:12}\""* && $names == *'"back"'* ]] ||
    fail "Docker's networks are wnet networks: $(wnet network ls)"
check "docker network create -d wnet: wnet networks docker-${n1:0:12} and back"
docker network create -d wnet --internal -o wnet.name=inner inner >/dev/null
[[ $(wnet network inspect inner) == *'"Internal": true'* ]] || fail "--internal: $(wnet network inspect inner)"
docker network rm inner >/dev/null
check "docker network create --internal: an internal wnet network"

docker run -d --name c1 --network n1 bb sleep 300 >/dev/null
docker run -d --name c2 --network n1 -p 8080:7000 bb \
    sh -c 'while true; do echo hello-from-c2 | nc -l -p 7000; done' >/dev/null
c2_ip=$(docker exec c2 ip -4 -o addr show eth0 | sed -E 's#.* inet ([0-9.]+)/.*#\1#')
gw=$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' n1)
[[ $(docker exec c1 ip route) == *"default via $gw dev eth0"* ]] || fail "c1 routes via $gw"
check "two containers on n1 (c2 at $c2_ip, gateway $gw)"
until_says hello-from-c2 docker exec c1 sh -c "nc $c2_ip 7000 </dev/null" || fail "c1 reaches c2"
check "c1 reaches c2 over wnet's bridge"
until_says hello-from-c2 inside timeout 3 busybox nc "$gw" 8080 </dev/null ||
    fail "the host reaches c2's published port"
check "-p 8080:7000 reaches c2 from the host"

docker network connect back c1
addrs=$(docker exec c1 ip -o addr show eth1)
[[ $addrs == *" 10.31.0."* && $addrs == *" fd31::"* ]] || fail "connect: c1's eth1: $addrs"
check "docker network connect: c1 on back as eth1, IPv4 and IPv6"
docker network disconnect back c1
! docker exec c1 ip link show eth1 >/dev/null 2>&1 || fail "disconnect: eth1 gone"
check "docker network disconnect: eth1 gone"

# wnet restarts under running containers; Docker neither re-activates nor replays.
stop_wnet
start_wnet
docker run -d --name c3 --network n1 bb sleep 300 >/dev/null
until_says hello-from-c2 docker exec c3 sh -c "nc $c2_ip 7000 </dev/null" ||
    fail "c3, started after the restart, reaches c2"
docker network connect back c2
docker network disconnect back c2
check "after a wnet restart: a new container talks to an old one; connect/disconnect work"

# Errors from wnet's drivers reach the user as Docker's.
out=$(docker network create -d wnet -o wnet.driver=nosuch bad 2>&1) && fail "unknown driver accepted"
[[ $out == *"unknown network driver \`nosuch\`"* ]] || fail "unknown driver: $out"
out=$(docker network create -d wnet -o com.docker.network.bridge.name=much-too-long-name bad 2>&1) &&
    fail "bad bridge name accepted"
[[ $out == *"is not a valid Linux interface name"* ]] || fail "bad bridge name: $out"
out=$(docker network create -d wnet --ipam-driver wnet --ipam-opt wnet.ipam=nosuch bad 2>&1) &&
    fail "unknown IPAM driver accepted"
[[ $out == *"unknown IPAM driver \`nosuch\`"* ]] || fail "unknown IPAM driver: $out"
[[ $(docker network ls --format '{{.Name}}') != *bad* ]] || fail "a refused network stayed in Docker"
[[ $(wnet network ls --format json) != *nosuch* ]] || fail "a refused network stayed in wnet"
check "driver and IPAM errors shown by docker network create; nothing stays"

docker rm -f c1 c2 c3 >/dev/null
docker network rm n1 back >/dev/null
[ -z "$(wnet network ls -q)" ] || fail "wnet networks left: $(wnet network ls)"
[ -z "$(wnet sandbox ls -q)" ] || fail "wnet sandboxes left: $(wnet sandbox ls)"
links=$(inside ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$links" = "lo " ] || fail "links left: $links"
left=$(find /sys/fs/cgroup/*/docker -mindepth 1 -type d 2>/dev/null || true)
[ -z "$left" ] || fail "container cgroups left: $left"
check "docker rm, docker network rm: no wnet network, sandbox, link or cgroup left"

echo "docker.sh: the plugin calls dockerd made:"
sed 's/\x1b\[[0-9;]*m//g' "$W/wnetd.log" | grep -o 'docker plugin call call=[A-Za-z.]*' |
    sed 's/.*call=//' | sort | uniq -c
# WNET_ENGINE_LOG=FILE keeps the daemon's log: every call's body and answer.
if [ -n "${WNET_ENGINE_LOG:-}" ]; then sed 's/\x1b\[[0-9;]*m//g' "$W/wnetd.log" > "$WNET_ENGINE_LOG"; fi
echo "docker.sh: all checks passed"
