#!/usr/bin/env bash
# wnet's CNI plugin driven by the reference CNI client: libcni (Debian's
# golang-github-appc-cni-dev 1.1, spec up to 1.0.0), through tests/engines/cnitool, a
# small command over it. ValidateNetworkList and GetVersionInfo (VERSION), ADD with the
# result parsed by libcni and cached, CHECK and DEL with that cached result as
# prevResult, for a 1.0.0 and a 0.4.0 configuration; traffic between two containers;
# CHECK failing once the interface is gone; DEL twice and after the namespace went —
# and nothing left. Inside a private pid + net + mount namespace.
#
# Needs root, Debian's golang-go, golang-github-appc-cni-dev and busybox-static, and a
# built wnet (default target/debug/wnet; WNET_BIN to choose). scripts/test.sh runs it
# when those are installed (.ci/run installs them). Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ENGINE=libcni CGROUP_DIR=wnet-libcni-none
. tests/engines/lib.sh
GOPATH_CNI=/usr/share/gocode
[ -d "$GOPATH_CNI/src/github.com/containernetworking/cni/libcni" ] && command -v go >/dev/null ||
    { echo "libcni.sh: install golang-go and golang-github-appc-cni-dev" >&2; exit 2; }
engine_start
mkdir -p "$W/cni/bin" "$W/gocache"
ln -s "$WNET_BIN" "$W/cni/bin/wnet"
# Offline: libcni from the Debian package, no modules.
(cd tests/engines/cnitool && GO111MODULE=off GOPATH=$GOPATH_CNI GOCACHE="$W/gocache" \
    go build -o "$W/cnitool" .) || fail "building cnitool over libcni"
SETTINGS=$(cni_settings)
cat > "$W/web.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "web", "plugins": [{"type": "wnet", $SETTINGS,
 "options": {"com.docker.network.bridge.name": "wnweb0"},
 "ipam": {"subnet": "10.60.0.0/24", "gateway": "10.60.0.1"},
 "capabilities": {"portMappings": true}}]}
EOF
cat > "$W/back.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "back", "plugins": [{"type": "wnet", $SETTINGS,
 "options": {"com.docker.network.bridge.name": "wnback0"},
 "ipam": {"subnet": "10.61.0.0/24"}}]}
EOF
cnitool() {
    inside env PLUGIN_DIR="$W/cni/bin" CACHE_DIR="$W/cnicache" "$W/cnitool" "$@"
}
ID1=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd01
ID2=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd02
inside ip netns add c1
inside ip netns add c2

[[ $(cnitool validate "$W/web.conflist") == *portMappings* ]] || fail "ValidateNetworkList"
versions=$(cnitool version "$W/web.conflist" wnet)
[[ $versions == *1.0.0* && $versions == *0.4.0* && $versions == *0.3.1* ]] ||
    fail "GetVersionInfo: $versions"
check "VERSION: libcni validates the configuration; wnet supports $versions"

r1=$(cnitool add "$W/web.conflist" $ID1 /run/netns/c1 eth0)
[[ $r1 == *'"sandbox":"/run/netns/c1"'* && $r1 == *'"address":"10.60.0.'* && $r1 == *'"gateway":"10.60.0.1"'* ]] ||
    fail "ADD c1: $r1"
r2=$(cnitool add "$W/web.conflist" $ID2 /run/netns/c2 eth0 "IgnoreUnknown=1;IP=10.60.0.50")
[[ $r2 == *'"address":"10.60.0.50/24"'* ]] || fail "ADD c2 with IP=: $r2"
check "ADD: libcni parses wnet's results (c1 $(echo "$r1" | grep -o '10.60.0.[0-9]*/24'), c2 10.60.0.50 from CNI_ARGS)"
inside ip netns exec c2 sh -c 'while true; do echo hello-from-c2 | busybox nc -l -p 7000; done' \
    >/dev/null 2>&1 &
until_says hello-from-c2 inside ip netns exec c1 busybox nc 10.60.0.50 7000 </dev/null ||
    fail "c1 reaches c2"
check "c1 reaches c2"

cnitool check "$W/web.conflist" $ID1 /run/netns/c1 eth0 || fail "CHECK c1"
r3=$(cnitool add "$W/back.conflist" $ID1 /run/netns/c1 eth1)
[[ $r3 == *'"address":"10.61.0.'* ]] || fail "ADD c1 to back (0.4.0): $r3"
cnitool check "$W/back.conflist" $ID1 /run/netns/c1 eth1 || fail "CHECK c1 on back"
check "CHECK with libcni's cached prevResult, for 1.0.0 and 0.4.0"
inside ip -n c1 link del eth1
out=$(cnitool check "$W/back.conflist" $ID1 /run/netns/c1 eth1 2>&1) && fail "CHECK passed without eth1"
check "CHECK fails once the interface is gone: $out"

cnitool del "$W/back.conflist" $ID1 /run/netns/c1 eth1 || fail "DEL c1 from back"
cnitool del "$W/web.conflist" $ID1 /run/netns/c1 eth0 || fail "DEL c1"
cnitool del "$W/web.conflist" $ID1 /run/netns/c1 eth0 || fail "DEL c1 again"
inside ip netns del c2
cnitool del "$W/web.conflist" $ID2 /run/netns/c2 eth0 || fail "DEL c2 after its namespace went"
check "DEL: twice, and after the namespace went"
[ -z "$(wnet sandbox ls -q)" ] || fail "sandboxes left: $(wnet sandbox ls)"
links=$(inside ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')
[[ $links != *veth* && $links != *@* ]] || fail "links left: $links"
wnet network rm web back >/dev/null
check "nothing left (links: $links)"
echo "libcni.sh: all checks passed"
