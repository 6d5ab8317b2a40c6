# Shared by the engine tests (tests/engines/*.sh): a private pid + net + mount namespace
# to run a real container engine in (shared/reference/real-clients.md), a busybox image
# to import offline, and the checks' helpers. Set ENGINE (the script's name, for
# messages) and CGROUP_DIR (the cgroup directory the engine makes under each hierarchy,
# removed at exit) before sourcing it; define engine_stop to stop the engine first.
#
# After `engine_start`: $W is a scratch directory (removed at exit), $W/bb.tar the
# image, $HOLDER_PID the namespace holder, and `inside CMD…` runs a command in there.

WNET_BIN=${WNET_BIN:-$PWD/target/debug/wnet}
CACHE=${WNET_CACHE_DIR:-/tmp/wnet-test-cache}
HOLDER_PID=
W=

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

inside() {
    nsenter -t "$HOLDER_PID" -n -m -p -- "$@"
}

# wnet over the scripts' directories (in the namespace's private /run), with the empty
# config file $W/wnet.toml so that the machine's is never read.
wnet() {
    inside "$WNET_BIN" --data-dir /run/wnet/data --run-dir /run/wnet/run --cache-dir "$CACHE" \
        --drivers-dir /run/wnet/drivers --config "$W/wnet.toml" "$@"
}

# The same settings as keys of a CNI network configuration: a runtime passes no flags,
# and may call its plugins with an environment of its own.
cni_settings() {
    printf '"dataDir": "/run/wnet/data", "runDir": "/run/wnet/run", "cacheDir": "%s",
 "driversDir": "/run/wnet/drivers", "config": "%s"' "$CACHE" "$W/wnet.toml"
}

engine_cleanup() {
    if [ -n "$HOLDER_PID" ] && declare -F engine_stop >/dev/null; then
        engine_stop || true
    fi
    if [ -n "$HOLDER_PID" ]; then kill -9 "$HOLDER_PID" 2>/dev/null || true; fi
    sleep 0.2
    for d in /sys/fs/cgroup/*/"$CGROUP_DIR"; do
        if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    done
    if [ -n "$W" ]; then rm -rf "$W"; fi
}

# Needs root, busybox-static and a built wnet: makes $W, the image and the namespace.
engine_start() {
    [ -x "$WNET_BIN" ] || { echo "$ENGINE: $WNET_BIN: build wnet first" >&2; exit 2; }
    # The image's only program: it must not need a libc (busybox-static's).
    if ! command -v busybox >/dev/null || ldd "$(command -v busybox)" >/dev/null 2>&1; then
        echo "$ENGINE: busybox is missing or not static: install busybox-static" >&2
        exit 2
    fi
    W=$(mktemp -d "/tmp/wnet-$ENGINE.XXXXXX")
    trap engine_cleanup EXIT
    mkdir -p "$W/rootfs/bin" "$W/rootfs/tmp" "$W/tmp"
    cp "$(command -v busybox)" "$W/rootfs/bin/"
    for a in sh ip cat sleep nc echo; do ln -s busybox "$W/rootfs/bin/$a"; done
    tar -C "$W/rootfs" -cf "$W/bb.tar" .
    : > "$W/wnet.toml"
    # /run is private, and /var/lib (where engines keep state) an overlay on scratch.
    cat > "$W/holder.sh" <<HOLDER
#!/bin/bash
mount --make-rprivate /
ip link set lo up
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/netns /run/docker/plugins "$W/upper" "$W/work"
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$W/upper,workdir=$W/work /var/lib
exec sleep infinity
HOLDER
    chmod +x "$W/holder.sh"
    # (unshare complains on stderr when its child is killed at the end.)
    setsid unshare --net --mount --propagation private --pid --fork --mount-proc "$W/holder.sh" 2>/dev/null &
    # The holder is the pid namespace's init: found as the unshare's child.
    for _ in $(seq 50); do
        HOLDER_PID=$(pgrep -P $! -f "sleep infinity" || true)
        [ -n "$HOLDER_PID" ] && break
        sleep 0.1
    done
    [ -n "$HOLDER_PID" ] || { echo "$ENGINE: the namespace holder did not start" >&2; exit 1; }
}
