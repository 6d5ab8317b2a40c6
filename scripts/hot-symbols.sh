#!/usr/bin/env bash
# Writes host/cli/hot-symbols.txt: the functions of the `wnet` binary that one-shot
# commands run, in the order the linker is to lay them out (scripts/linker). Run it, as
# root, after changes that move a connect's path (new crates, a wasmtime upgrade); a
# stale list costs speed, never correctness.
#
# It builds wnet for release, then, in network and mount namespaces of its own, runs the
# per-container pair first (connect, disconnect; also as a CNI plugin), then the other
# commands, then a daemon's start and a connect through it, each once under valgrind's
# callgrind, which lists every function a run executed. Needs valgrind (apt-get install
# valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "${1:-}" != --inside ]; then
    [ "$(id -u)" = 0 ] || { echo "hot-symbols.sh: run as root (it makes namespaces)" >&2; exit 2; }
    command -v valgrind >/dev/null || { echo "hot-symbols.sh: apt-get install valgrind" >&2; exit 2; }
    cargo build --release -p wnet
    exec unshare --net --mount --propagation private "$0" --inside
fi

work=$(mktemp -d /tmp/wnet-hot.XXXXXX)
mount -t tmpfs tmpfs "$work"
cleanup() {
    for ns in "$work"/ns/*; do umount "$ns" 2>/dev/null || true; done
    umount -l "$work" 2>/dev/null || true
    rmdir "$work"
}
trap cleanup EXIT
ip link set lo up
mkdir -p "$work/ns" "$work/out"
sandbox() { touch "$work/ns/$1" && unshare --net="$work/ns/$1" true; }
bin=$root/target/release/wnet
dirs=(--data-dir "$work/data" --run-dir "$work/run" --cache-dir "$work/cache")
w() { "$bin" "${dirs[@]}" "$@"; }
# callgrind with the names as the objects hold them (scripts/linker matches those).
record=(valgrind -q --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no)
n=0
# One run of the binary with exactly these arguments under callgrind.
callgrind() {
    n=$((n + 1))
    "${record[@]}" --callgrind-out-file="$work/out/$n" "$bin" "$@" >/dev/null
}
profile() { callgrind "${dirs[@]}" "$@"; }

# Valgrind's CPU differs from the machine's, so the drivers' code is compiled for it
# first (a minute); the profiled commands then take it from the cache, as they do in use.
valgrind -q "$bin" "${dirs[@]}" network create --subnet 10.250.0.0/16 bench >/dev/null
for i in 1 2 3; do sandbox "c$i"; w network connect bench "$work/ns/c$i" >/dev/null; done

sandbox p
profile network connect --ip 10.250.1.1 bench "$work/ns/p"
profile network disconnect bench "$work/ns/p"
sandbox q
CNI_COMMAND=ADD CNI_CONTAINERID=hot CNI_NETNS="$work/ns/q" CNI_IFNAME=eth0 CNI_PATH=/ \
    callgrind <<EOF
{"cniVersion": "1.0.0", "name": "bench", "type": "wnet",
 "dataDir": "$work/data", "runDir": "$work/run", "cacheDir": "$work/cache"}
EOF
profile network create --subnet 10.251.0.0/16 other
profile sandbox create s
profile network inspect bench
profile network ls
profile sandbox rm s
profile network rm other

# Through a daemon: its start and its side of a connect and a disconnect, and the
# client's. Last, since with a daemon answering the commands above would be clients.
sandbox d
# valgrind itself in the background (not the function), so that $! is its pid.
"${record[@]}" --callgrind-out-file="$work/out/daemon" "$bin" "${dirs[@]}" daemon &
daemon=$!
for _ in $(seq 600); do [ -S "$work/run/wnet.sock" ] && break; sleep 0.1; done
profile --host "unix://$work/run/wnet.sock" network connect --ip 10.250.1.2 bench "$work/ns/d"
profile --host "unix://$work/run/wnet.sock" network disconnect bench "$work/ns/d"
kill -TERM "$daemon"
wait "$daemon" || true

{
    echo "# Functions of the wnet binary one-shot commands run, connect's first."
    echo "# Written by scripts/hot-symbols.sh; read by scripts/linker (release builds)."
    for i in $(seq 1 "$n") daemon; do
        awk '/^ob=/ { ob = substr($0, 4) } /^fn=/ && ob ~ /\/wnet$/ { print substr($0, 4) }' \
            "$work/out/$i"
    done | sed -e "s/'[0-9]*$//" -e '/^0x/d' | "$root/scripts/linker" --normalize | awk '!seen[$0]++'
} > "$root/host/cli/hot-symbols.txt"
echo "host/cli/hot-symbols.txt: $(grep -vc '^#' "$root/host/cli/hot-symbols.txt") functions"
