#!/usr/bin/env bash
# bench/streams.sh: WebSocket fan-out of one live stream while buyers buy
# from its drop, against a bare Beast broadcast server in the same run.
#
# Makes a throwaway database in the cluster of DATABASE_URL, starts livemart
# on an ephemeral loopback port and builds a live stream through its API
# (bench/streams_setup.py: a product, a stream featuring it, a drop, buyers).
# Then, per round:
#   coalesced    --viewers-large viewers (default 5000); buyers buy --rate-large
#                times a second (default 50) for --duration-s; livemart's
#                default streams.push_interval_ms=60 coalesces the stock pushes
#   uncoalesced  (livemart restarted with streams.push_interval_ms=0)
#                --viewers-small viewers (default 1000), --rate-small buys a
#                second (default 100), every change pushed
#   bare_small, bare_large
#                bench_ws_bare broadcasting as fast as the connections take
#                it, to the same numbers of viewers: Beast's own capacity
#   bare_paced   bench_ws_bare at --rate-small messages a second to
#                --viewers-small viewers: the delay of a bare server
#   bare_paced_large
#                bench_ws_bare at livemart's coalesced push rate (1000 /
#                streams.push_interval_ms a second) to --viewers-large viewers
# The bare server's messages are padded to the mean size of livemart's
# pushes in the same run (--message-bytes, when livemart did not run).
# bench_ws_fanout drives the viewers (read by --reader-threads threads: a
# single thread reading 5,000 sockets was itself the floor of the delay)
# and the buyers (on a thread of their own), and reports the delay
# from each stock change's commit (at_us) to its receipt (p50/p99/max),
# the staleness (from the oldest change a coalesced push replaced, p99),
# the fan-out delay (from the moment the stream actor sent the push: the
# delay without coalescing's wait, comparable with the bare server's),
# the CPU time the server and the client used per message delivered,
# messages delivered a second, the most stock pushes one viewer got in one
# second, how many viewers ended on the final stock, and the server's
# resident memory per connection. Medians over the rounds are printed with
# the targets: large: p99 < 100 ms, at most 20 pushes a second per viewer,
# every viewer on the final stock; small: p99 < 50 ms.
#
# Environment (required):
#   LIVEMART_BIN            the livemart server binary
#   LIVEMART_BUILD_DIR      build tree holding bench/bench_ws_fanout and bench/bench_ws_bare
#   DATABASE_URL            a libpq conninfo of the cluster (keyword=value form)
#   LIVEMART_AUTH_JWT_KEYS  passed through to livemart
#
# Flags (--name=value):
#   --duration-s=S       measured seconds per run (default 10, max 60)
#   --rounds=N           rounds (default 3)
#   --viewers-large=N    (default 5000)    --rate-large=N   buys a second (default 50)
#   --viewers-small=N    (default 1000)    --rate-small=N   buys a second (default 100)
#   --only=coalesced|uncoalesced|bare      run one group of scenarios
#   --reader-threads=N   threads of the load client reading the viewers (default 2)
#   --message-bytes=N    the bare server's message size when livemart did not run (default: unpadded)
#
# LIVEMART_BENCH_FLAGS (optional): more flags for `livemart serve`.
#
# Exit status: 0 when every run completed, every buy succeeded and every
# viewer ended on the final stock; 2 when not; 1 when it could not run.
# Everything binds to and talks to 127.0.0.1 only.

set -euo pipefail

die() { echo "streams.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

duration=10
rounds=3
viewers_large=5000
rate_large=50
viewers_small=1000
rate_small=100
only=""
message_bytes=0
reader_threads=2
for arg in "$@"; do
  case $arg in
    --help|-h) usage; exit 0 ;;
    --duration-s=*) duration=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --viewers-large=*) viewers_large=${arg#*=} ;;
    --rate-large=*) rate_large=${arg#*=} ;;
    --viewers-small=*) viewers_small=${arg#*=} ;;
    --rate-small=*) rate_small=${arg#*=} ;;
    --only=*) only=${arg#*=} ;;
    --message-bytes=*) message_bytes=${arg#*=} ;;
    --reader-threads=*) reader_threads=${arg#*=} ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done
# shellcheck source=bench/flags.sh
source "$(dirname "${BASH_SOURCE[0]}")/flags.sh" # int_in
int_in --duration-s "$duration" 1 60
int_in --rounds "$rounds" 1 10
int_in --viewers-large "$viewers_large" 1 9000
int_in --viewers-small "$viewers_small" 1 9000
int_in --rate-large "$rate_large" 1 1000
int_in --rate-small "$rate_small" 1 1000
int_in --message-bytes "$message_bytes" 0 65536
int_in --reader-threads "$reader_threads" 1 16

[[ -n ${LIVEMART_BIN:-} && -x ${LIVEMART_BIN:-} ]] || die "LIVEMART_BIN is not set or not executable"
[[ -n ${LIVEMART_BUILD_DIR:-} ]] || die "LIVEMART_BUILD_DIR is not set"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set"
[[ $DATABASE_URL != *://* ]] || die "DATABASE_URL must be a keyword=value conninfo here"
[[ -n ${LIVEMART_AUTH_JWT_KEYS:-} ]] || die "LIVEMART_AUTH_JWT_KEYS is not set"
export LIVEMART_AUTH_JWT_KEYS
fanout_bin=$LIVEMART_BUILD_DIR/bench/bench_ws_fanout
bare_bin=$LIVEMART_BUILD_DIR/bench/bench_ws_bare
[[ -x $fanout_bin && -x $bare_bin ]] || die "not built: $fanout_bin, $bare_bin"
command -v psql >/dev/null || die "psql is required"
command -v python3 >/dev/null || die "python3 is required"
(($(ulimit -n) >= viewers_large + 100)) || ulimit -n $((viewers_large + 1000)) ||
  die "needs $((viewers_large + 100)) file descriptors (ulimit -n)"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_database livemart_bench_streams

livemart_pid=""
# start_livemart FLAGS...: one node at a time (a live stream has one actor).
start_livemart() {
  "$LIVEMART_BIN" serve --http.port=0 --http.access_log=false --auth.registrations_per_address_max=100000 \
    --auth.login_attempts_per_address_max=100000 --ws.connections_per_client_max=100000 ${LIVEMART_BENCH_FLAGS:-} "$@" \
    >"$workdir/livemart.out" 2>"$workdir/livemart.err" &
  livemart_pid=$!
  pids+=("$livemart_pid")
  livemart_port=$(wait_for_port livemart "$livemart_pid" "$workdir/livemart.out" "$workdir/livemart.err" \
    '"url":"http://127\.0\.0\.1:') || exit 1
}
stop_livemart() {
  kill -TERM "$livemart_pid" 2>/dev/null || true
  wait "$livemart_pid" 2>/dev/null || true
}

units=$(((rate_large + rate_small) * (duration + 2) * rounds + 1000))
start_livemart
setup=$(python3 "$(dirname "${BASH_SOURCE[0]}")/streams_setup.py" "$livemart_port" "$admin_email" "$admin_password" \
  "$workdir" $((units / 100 + 1)) $((units + 1000)) "$units") || die "could not build the live stream"
stream=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["stream"])' "$setup")
drop=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["drop"])' "$setup")
product=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["product"])' "$setup")

results=$workdir/results
: >"$results"
# fanout LABEL ROUND VIEWERS RATE [FLAGS...]: one bench_ws_fanout run against livemart.
fanout() {
  local label=$1 round=$2 viewers=$3 rate=$4 line
  shift 4
  timeout $((duration + 120)) "$fanout_bin" --port="$livemart_port" --target="/streams/$stream/ws" --hello \
    --viewers="$viewers" --rate="$rate" --duration-s="$duration" --settle-ms=2000 \
    --buy-path="/streams/$stream/drops/$drop/buy" --buyers-file="$workdir/buyers.txt" \
    --final-url="/products/$product" --server-pid="$livemart_pid" --label="$label" --reader-threads="$reader_threads" "$@" \
    >"$workdir/fanout.out" 2>>"$workdir/fanout.err" || true
  line=$(grep '^RESULT ' "$workdir/fanout.out" || true)
  [[ -n $line ]] || die "bench_ws_fanout printed no RESULT for $label: $(tail -n 5 "$workdir/fanout.err")"
  echo "$line"
  echo "$label $round $line" >>"$results"
}
# bare LABEL ROUND VIEWERS RATE: the same client against bench_ws_bare.
bare() {
  local label=$1 round=$2 viewers=$3 rate=$4 line port pid final=-1 count=0
  local -a pacing=(--rate=0 --duration-s="$duration")
  if ((rate > 0)); then
    count=$((rate * duration))
    pacing=(--rate="$rate" --count="$count")
    final=$((1000000000 - count))
  fi
  "$bare_bin" --viewers="$viewers" "${pacing[@]}" --message-bytes="$message_bytes" >"$workdir/bare.out" 2>"$workdir/bare.err" &
  pid=$!
  pids+=("$pid")
  port=$(wait_for_port bench_ws_bare "$pid" "$workdir/bare.out" "$workdir/bare.err" 'listening on ') || exit 1
  timeout $((duration + 120)) "$fanout_bin" --port="$port" --target=/ --viewers="$viewers" --rate=1 \
    --duration-s="$duration" --settle-ms=2000 --final="$final" --server-pid="$pid" --label="$label" \
    --reader-threads="$reader_threads" \
    >"$workdir/fanout.out" 2>>"$workdir/fanout.err" || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  line=$(grep '^RESULT ' "$workdir/fanout.out" || true)
  [[ -n $line ]] || die "bench_ws_fanout printed no RESULT for $label: $(tail -n 5 "$workdir/fanout.err")"
  echo "$line"
  echo "$label $round $line" >>"$results"
}

if [[ -z $only || $only == coalesced ]]; then
  echo "# livemart, streams.push_interval_ms=60 (default): $viewers_large viewers, $rate_large buys/s"
  for ((r = 1; r <= rounds; r++)); do fanout coalesced "$r" "$viewers_large" "$rate_large"; done
fi
stop_livemart
if [[ -z $only || $only == uncoalesced ]]; then
  start_livemart --streams.push_interval_ms=0
  echo "# livemart, streams.push_interval_ms=0: $viewers_small viewers, $rate_small buys/s"
  for ((r = 1; r <= rounds; r++)); do fanout uncoalesced "$r" "$viewers_small" "$rate_small"; done
  stop_livemart
fi
if [[ -z $only || $only == bare ]]; then
  # Messages as large as livemart's pushes were in this run.
  sizes=$(grep -o 'push_bytes=[0-9]*' "$results" | cut -d= -f2 || true)
  if [[ -n $sizes ]]; then
    message_bytes=$(printf '%s\n' $sizes | awk '{ s += $1 } END { printf "%d", s / NR }')
  fi
  echo "# bench_ws_bare (Beast alone), messages of ${message_bytes} bytes (0: unpadded)"
  for ((r = 1; r <= rounds; r++)); do
    bare bare_small "$r" "$viewers_small" 0
    bare bare_large "$r" "$viewers_large" 0
    bare bare_paced "$r" "$viewers_small" "$rate_small"
    bare bare_paced_large "$r" "$viewers_large" $((1000 / 60))
  done
fi

python3 - "$results" "$viewers_large" "$viewers_small" <<'PY'
import statistics, sys
path, large, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = {}
for line in open(path):
    label, _round, _tag, *pairs = line.split()
    runs.setdefault(label, []).append(dict(p.split("=", 1) for p in pairs))
def med(label, key):
    return statistics.median(float(r[key]) for r in runs[label])
def top(label, key):  # memory: later rounds reuse what the first one grew
    return max(float(r[key]) for r in runs[label])
print("\n# medians over the rounds")
for label in [l for l in ["coalesced", "uncoalesced", "bare_small", "bare_large", "bare_paced", "bare_paced_large"] if l in runs]:
    print(f"{label:12} viewers={runs[label][0]['viewers']:>5} msgs/s={med(label, 'msgs_per_s'):>10.0f} "
          f"p50={med(label, 'delay_p50_ms'):7.2f} ms p99={med(label, 'delay_p99_ms'):7.2f} ms "
          f"max={med(label, 'delay_max_ms'):7.2f} ms per viewer and second at most: {med(label, 'pushes_per_viewer_s_max'):4.0f} "
          f"stock pushes, {med(label, 'messages_per_viewer_s_max'):4.0f} messages "
          f"rss/conn={top(label, 'rss_per_conn_kib'):6.1f} KiB stale p99={med(label, 'staleness_p99_ms'):7.2f} ms "
          f"fan-out p50={med(label, 'fanout_p50_ms'):7.2f} ms p99={med(label, 'fanout_p99_ms'):7.2f} ms "
          f"wait p99={med(label, 'wait_p99_ms'):7.2f} ms {med(label, 'push_bytes'):5.0f} B/push "
          f"cpu: server {med(label, 'server_cpu_us_per_msg'):5.2f} us/msg ({med(label, 'server_cores'):4.2f} cores), "
          f"client {med(label, 'client_cpu_us_per_msg'):5.2f} us/msg ({med(label, 'client_cores'):4.2f} cores)")
ok = True
for label, n in [("coalesced", large), ("uncoalesced", small)]:
    for r in runs.get(label, []):
        if int(r["viewers_on_final"]) != n or int(r["connected"]) != n or int(r["buy_errors"]) != 0:
            ok = False
            print(f"CHECK FAILED {label}: connected={r['connected']} on_final={r['viewers_on_final']} "
                  f"buy_errors={r['buy_errors']}")
if not all(l in runs for l in ["coalesced", "uncoalesced", "bare_large", "bare_small", "bare_paced", "bare_paced_large"]):
    sys.exit(0 if ok else 2)
print("\n# targets")
print(f"coalesced: p99 {med('coalesced', 'delay_p99_ms'):.1f} ms (< 100), "
      f"messages per viewer and second at most {med('coalesced', 'messages_per_viewer_s_max'):.0f} (<= 20), "
      f"every viewer on the final stock: {ok}")
print(f"uncoalesced: p99 {med('uncoalesced', 'delay_p99_ms'):.1f} ms (< 50)")
print(f"delivery vs Beast alone: coalesced {med('coalesced', 'msgs_per_s'):.0f} msgs/s at a paced load; "
      f"capacity of bench_ws_bare {med('bare_large', 'msgs_per_s'):.0f} msgs/s ({large} viewers), "
      f"{med('bare_small', 'msgs_per_s'):.0f} msgs/s ({small} viewers)")
print(f"delay ratio uncoalesced/bare_paced p99: {med('uncoalesced', 'delay_p99_ms') / max(med('bare_paced', 'delay_p99_ms'), 0.001):.2f}, "
      f"coalesced/bare_paced_large p99: {med('coalesced', 'delay_p99_ms') / max(med('bare_paced_large', 'delay_p99_ms'), 0.001):.2f}")
print(f"server CPU per message, livemart/bare: coalesced/bare_paced_large "
      f"{med('coalesced', 'server_cpu_us_per_msg') / max(med('bare_paced_large', 'server_cpu_us_per_msg'), 0.001):.2f}, "
      f"uncoalesced/bare_paced {med('uncoalesced', 'server_cpu_us_per_msg') / max(med('bare_paced', 'server_cpu_us_per_msg'), 0.001):.2f}")
print(f"fan-out delay ratio (from the push leaving the stream actor) p99: uncoalesced/bare_paced "
      f"{med('uncoalesced', 'fanout_p99_ms') / max(med('bare_paced', 'fanout_p99_ms'), 0.001):.2f}, "
      f"coalesced/bare_paced_large {med('coalesced', 'fanout_p99_ms') / max(med('bare_paced_large', 'fanout_p99_ms'), 0.001):.2f}")
sys.exit(0 if ok else 2)
PY
