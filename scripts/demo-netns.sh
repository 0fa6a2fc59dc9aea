#!/usr/bin/env bash
# demo-netns.sh: three gossipd hosts on one machine, each in its own network
# namespace, configured with config/three-hosts/host-{a,b,c}.ini as they are.
#
#   1. builds the release binaries;
#   2. creates namespaces gsd<PID>a, gsd<PID>b, gsd<PID>c with eth0 at
#      10.77.0.1, .2, .3/24, joined by a bridge in a fourth namespace
#      gsd<PID>br (nothing is added to the root namespace: the gossip traffic
#      stays on that bridge and on each namespace's own loopback);
#   3. starts one gossipd per namespace (`ip netns exec NS gossipd -c
#      config/three-hosts/host-X.ini`, plus a fresh --hostkey and a light
#      --pow-difficulty); b and c join through a;
#   4. waits until probes announced at a reach b and c;
#   5. subscribes a and c to type 42, announces ONE item at b and prints what
#      a and c received.
#
# Each API listens on 127.0.0.1:7001 inside its namespace (loopback only, as
# the configs say), so gossip-cli runs in the namespace: `ip netns exec NS
# gossip-cli ...`. Needs root and iproute2. Exits 0 only when a and c got the
# item; every process and namespace it made is removed on exit (also on failure
# or Ctrl-C). Logs stay in a temp dir printed at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
PREFIX="gsd$$"
HOSTS=(a b c)
ADDR_a=10.77.0.1 ADDR_b=10.77.0.2 ADDR_c=10.77.0.3
POW=12
ITEM_TYPE=42
PROBE_TYPE=9
MESSAGE="hello from host b"
CONNECT_DEADLINE_S=30

say() { printf 'demo-netns: %s\n' "$*"; }
fail() {
    say "FAILED: $*"
    exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces); try: sudo make demo-netns"
command -v ip >/dev/null || fail "needs the ip command (apt-get install iproute2)"

LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/gossipd-demo-netns.XXXXXX")"
NAMESPACES=() # created so far, deleted on exit
PIDS=()       # every background process, stopped on exit

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid ns
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in ${NAMESPACES[@]+"${NAMESPACES[@]}"}; do
        # Only this script's processes can be in its namespaces.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || say "could not delete namespace $ns"
    done
    [ "${#NAMESPACES[@]}" -gt 0 ] && say "namespaces removed"
    say "logs: $LOGDIR"
    exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

add_ns() {
    ip netns add "$1" || fail "cannot create network namespace $1"
    NAMESPACES+=("$1")
}
addr() { local v="ADDR_$1"; echo "${!v}"; }
in_ns() {
    local host=$1
    shift
    ip netns exec "$PREFIX$host" "$@"
}
cli() {
    local host=$1
    shift
    in_ns "$host" "$BIN/gossip-cli" "$@"
}

# --- 1. build --------------------------------------------------------------
say "building the release binaries"
(cd "$ROOT" && cargo build --release --quiet --bin gossipd --bin gossip-cli)

# --- 2. namespaces ---------------------------------------------------------
BR="${PREFIX}br"
say "creating namespaces ${PREFIX}{a,b,c} on a bridge in $BR"
add_ns "$BR"
ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
for h in "${HOSTS[@]}"; do
    ns="$PREFIX$h"
    add_ns "$ns"
    ip -n "$ns" link set lo up
    ip -n "$BR" link add "v$h" type veth peer name eth0 netns "$ns"
    ip -n "$BR" link set "v$h" master br0
    ip -n "$BR" link set "v$h" up
    ip -n "$ns" addr add "$(addr "$h")/24" dev eth0
    ip -n "$ns" link set eth0 up
    say "  $ns: eth0 $(addr "$h")/24, lo 127.0.0.1"
done

# --- 3. one gossipd per namespace ------------------------------------------
for h in "${HOSTS[@]}"; do
    "$BIN/gossipd" --generate-key "$LOGDIR/host-$h.pem" --pow-difficulty "$POW" >/dev/null
    args=(-c "$ROOT/config/three-hosts/host-$h.ini" --hostkey "$LOGDIR/host-$h.pem"
        --pow-difficulty "$POW")
    say "host $h: ip netns exec $PREFIX$h gossipd -c config/three-hosts/host-$h.ini"
    RUST_LOG="${RUST_LOG:-info}" in_ns "$h" "$BIN/gossipd" "${args[@]}" >"$LOGDIR/gossipd-$h.log" 2>&1 &
    PIDS+=("$!")
    eval "GOSSIPD_$h=$!"
done
for h in "${HOSTS[@]}"; do
    deadline=$((SECONDS + 15))
    until grep -q "API listening on" "$LOGDIR/gossipd-$h.log" 2>/dev/null; do
        pid="GOSSIPD_$h"
        kill -0 "${!pid}" 2>/dev/null || {
            tail -n 5 "$LOGDIR/gossipd-$h.log" >&2
            fail "gossipd on host $h exited"
        }
        [ "$SECONDS" -lt "$deadline" ] || fail "gossipd on host $h did not start"
        sleep 0.1
    done
    say "host $h: $(grep -o 'P2P listening on .*' "$LOGDIR/gossipd-$h.log")"
done

# --- 4. wait until b and c get what a announces ----------------------------
say "waiting until probes announced at a reach b and c"
PROBES=()
for h in b c; do
    cli "$h" subscribe --type "$PROBE_TYPE" --count 1 --timeout-ms $((CONNECT_DEADLINE_S * 1000)) \
        >"$LOGDIR/probe-$h.out" 2>&1 &
    PIDS+=("$!")
    PROBES+=("$!")
done
deadline=$((SECONDS + CONNECT_DEADLINE_S))
probe=0
while kill -0 "${PROBES[0]}" 2>/dev/null || kill -0 "${PROBES[1]}" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "probes did not reach b and c in ${CONNECT_DEADLINE_S}s"
    probe=$((probe + 1))
    cli a announce --type "$PROBE_TYPE" "probe $probe" || fail "cannot announce at a"
    sleep 0.3
done
say "connected ($probe probe(s)); host a's neighbours:"
grep -o 'peer up: .*' "$LOGDIR/gossipd-a.log" | sed 's/^/demo-netns:   /'

# --- 5. one item at b, received at a and c ---------------------------------
SUBS=()
for h in a c; do
    cli "$h" subscribe --type "$ITEM_TYPE" --count 1 --timeout-ms 15000 >"$LOGDIR/sub-$h.out" 2>&1 &
    PIDS+=("$!")
    SUBS+=("$!")
done
# NOTIFY has no acknowledgement: give the subscribers a moment.
sleep 1
say "host b announces: \"$MESSAGE\" (type $ITEM_TYPE)"
cli b announce --type "$ITEM_TYPE" "$MESSAGE" || fail "cannot announce at b"
got=0
i=0
for h in a c; do
    if wait "${SUBS[$i]}"; then
        line="$(grep -m1 '^msg_id=' "$LOGDIR/sub-$h.out" || true)"
        echo "host $h ($(addr "$h")) got: ${line#*data=}"
        [ "${line#*data=}" = "$MESSAGE" ] && got=$((got + 1))
    else
        echo "host $h got nothing ($(tail -n 1 "$LOGDIR/sub-$h.out"))"
    fi
    i=$((i + 1))
done
[ "$got" = 2 ] || fail "only $got of 2 hosts received the item"
say "OK: hosts a and c received the item announced at b"
