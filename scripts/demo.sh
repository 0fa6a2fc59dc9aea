#!/usr/bin/env bash
# demo.sh: five gossipd nodes on this machine, one item spread to all of them.
#
#   1. builds the release binaries;
#   2. starts node 1 (a new network) and nodes 2-5 bootstrapping through it,
#      all on 127.0.0.1 (API ports BASE+1..BASE+5, P2P ports BASE+101..BASE+105,
#      BASE = the first free one of 17100, 17300, ... or $DEMO_BASE);
#   3. waits until the network is connected: a `gossip-cli subscribe` of probe
#      type 9 runs on nodes 2-5 while node 1 announces probes until all arrive;
#   4. subscribes nodes 2-5 to type 42, announces ONE item "hello from node 1"
#      at node 1 and prints what every node received;
#   5. prints node 1's `gossip-cli status` and `gossip-cli peers` (the status
#      extension of the API, types 510/511).
#
# Exits 0 only when all four nodes got the item. Every process it started is
# stopped on exit (also on failure or Ctrl-C); the logs stay in a temp dir
# printed at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
NODES=5
CONNECT_DEADLINE_S=20 # connecting the five nodes normally takes a second or two
ITEM_TYPE=42
PROBE_TYPE=9
MESSAGE="hello from node 1"

LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/gossipd-demo.XXXXXX")"
# Indexed by node number (plain arrays, so bash 3 works too).
PIDS=()     # every background process this script started
API=()      # API port
P2P=()      # P2P port
NODE_PID=() # gossipd process
PROBE_PID=()
SUB_PID=()

say() { printf 'demo: %s\n' "$*"; }

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    # SIGTERM first: gossipd shuts down cleanly within about a second.
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    say "logs: $LOGDIR"
    exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

fail() {
    say "FAILED: $*"
    exit 1
}

# True when something accepts TCP connections on 127.0.0.1:$1.
listening() {
    if command -v timeout >/dev/null; then
        timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
    else
        bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
    fi
}

pick_base() {
    local bases base port used
    if [ -n "${DEMO_BASE:-}" ]; then bases="$DEMO_BASE"; else bases="$(seq 17100 200 19900)"; fi
    for base in $bases; do
        used=0
        for i in $(seq 1 "$NODES"); do
            for port in $((base + i)) $((base + 100 + i)); do
                if listening "$port"; then used=1; fi
            done
        done
        if [ "$used" = 0 ]; then
            echo "$base"
            return 0
        fi
    done
    return 1
}

start_node() {
    local i=$1
    # Temporary identities with a light proof of work, so start-up is instant.
    local args=(--api-address "127.0.0.1:${API[$i]}" --p2p-address "127.0.0.1:${P2P[$i]}"
        --pow-difficulty 12)
    if [ "$i" -gt 1 ]; then args+=(--bootstrapper "127.0.0.1:${P2P[1]}"); fi
    RUST_LOG="${RUST_LOG:-info}" "$BIN/gossipd" "${args[@]}" >"$LOGDIR/node$i.log" 2>&1 &
    NODE_PID[$i]=$!
    PIDS+=("$!")
}

# Waits until node $1 accepts API connections (its P2P listener is bound before).
wait_ready() {
    local i=$1 deadline=$((SECONDS + 10))
    until listening "${API[$i]}"; do
        if ! kill -0 "${NODE_PID[$i]}" 2>/dev/null; then
            tail -n 5 "$LOGDIR/node$i.log" >&2 || true
            fail "node $i exited during start-up (log: $LOGDIR/node$i.log)"
        fi
        [ "$SECONDS" -lt "$deadline" ] || fail "node $i did not open its API port ${API[$i]}"
        sleep 0.1
    done
}

check_nodes_alive() {
    local i
    for i in $(seq 1 "$NODES"); do
        kill -0 "${NODE_PID[$i]}" 2>/dev/null || fail "node $i died (log: $LOGDIR/node$i.log)"
    done
}

cli() { "$BIN/gossip-cli" "$@"; }

# --- 1. build --------------------------------------------------------------
say "building the release binaries"
(cd "$ROOT" && cargo build --release --quiet --bin gossipd --bin gossip-cli)

# --- 2. start five nodes ---------------------------------------------------
BASE="$(pick_base)" || fail "no free port range found (set DEMO_BASE to a free base port)"
for i in $(seq 1 "$NODES"); do
    API[$i]=$((BASE + i))
    P2P[$i]=$((BASE + 100 + i))
done
say "starting $NODES nodes: API ports ${API[1]}-${API[$NODES]}, P2P ports ${P2P[1]}-${P2P[$NODES]}"
start_node 1
wait_ready 1
for i in $(seq 2 "$NODES"); do start_node "$i"; done
for i in $(seq 2 "$NODES"); do wait_ready "$i"; done

# --- 3. wait until they are connected -------------------------------------
say "waiting until nodes 2-$NODES receive probes announced at node 1"
for i in $(seq 2 "$NODES"); do
    cli subscribe --api "127.0.0.1:${API[$i]}" --type "$PROBE_TYPE" --count 1 \
        --timeout-ms $((CONNECT_DEADLINE_S * 1000 + 5000)) >"$LOGDIR/probe$i.out" 2>&1 &
    PROBE_PID[$i]=$!
    PIDS+=("$!")
done
deadline=$((SECONDS + CONNECT_DEADLINE_S))
probe=0
while :; do
    waiting=0
    for i in $(seq 2 "$NODES"); do
        if kill -0 "${PROBE_PID[$i]}" 2>/dev/null; then waiting=$((waiting + 1)); fi
    done
    [ "$waiting" = 0 ] && break
    check_nodes_alive
    [ "$SECONDS" -lt "$deadline" ] ||
        fail "$waiting node(s) still unreached after ${CONNECT_DEADLINE_S}s"
    probe=$((probe + 1))
    cli announce --api "127.0.0.1:${API[1]}" --type "$PROBE_TYPE" "probe $probe" ||
        fail "cannot announce a probe at node 1"
    sleep 0.3
done
for i in $(seq 2 "$NODES"); do
    wait "${PROBE_PID[$i]}" ||
        fail "probe subscriber on node $i failed: $(tail -n 1 "$LOGDIR/probe$i.out")"
done
say "connected ($probe probe(s) announced)"

# --- 4. one item, four receivers ------------------------------------------
for i in $(seq 2 "$NODES"); do
    cli subscribe --api "127.0.0.1:${API[$i]}" --type "$ITEM_TYPE" --count 1 \
        --timeout-ms 10000 >"$LOGDIR/sub$i.out" 2>&1 &
    SUB_PID[$i]=$!
    PIDS+=("$!")
done
# The API has no acknowledgement for NOTIFY: give the subscribers a moment to
# connect and subscribe before the single item is announced.
sleep 1
say "node 1 announces: \"$MESSAGE\" (type $ITEM_TYPE)"
cli announce --api "127.0.0.1:${API[1]}" --type "$ITEM_TYPE" "$MESSAGE" ||
    fail "cannot announce at node 1"

got=0
for i in $(seq 2 "$NODES"); do
    if wait "${SUB_PID[$i]}"; then
        line="$(grep -m1 '^msg_id=' "$LOGDIR/sub$i.out" || true)"
        echo "node $i got: ${line#*data=}"
        [ "${line#*data=}" = "$MESSAGE" ] && got=$((got + 1))
    else
        echo "node $i got nothing ($(tail -n 1 "$LOGDIR/sub$i.out"))"
    fi
done

# --- 5. what node 1 reports about itself ----------------------------------
say "gossip-cli status --api 127.0.0.1:${API[1]}"
cli status --api "127.0.0.1:${API[1]}" || fail "gossip-cli status failed at node 1"
say "gossip-cli peers --api 127.0.0.1:${API[1]}"
cli peers --api "127.0.0.1:${API[1]}" || fail "gossip-cli peers failed at node 1"

if [ "$got" = $((NODES - 1)) ]; then
    say "OK: all $got nodes received the item"
else
    fail "only $got of $((NODES - 1)) nodes received the item"
fi
