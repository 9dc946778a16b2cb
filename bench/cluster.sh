#!/usr/bin/env bash
# bench/cluster.sh: the hot-product buy-now load on one node against the
# same load spread over a cluster of three, measured in the same run on the
# same database.
#
# Makes a throwaway database in the cluster of DATABASE_URL, migrates it,
# and builds a marketplace through livemart's API (bench/orders_setup.py: a
# shop, a hot product with ample stock, --buyers buyers with tokens). Then,
# per round:
#   one_node     livemart alone (no cluster): bench_http_load with
#                --connections buyers, POST /orders (one-tap buy-now) of the
#                hot product, an Idempotency-Key per attempt;
#   three_nodes  three livemart nodes on loopback (a cluster, 200 ms beats),
#                started and settled (every slot owned, every link up), then
#                three bench_http_load at once, one per node, each with a
#                third of the connections. Two of every three requests
#                reach a node that does not own the product and cross to
#                its owner.
# Then the fan-out of one live stream, per round (bench_ws_fanout, buyers
# buying from the stream's drop at --rate a second through node 1):
#   fanout_one_node     --viewers viewers on one node;
#   fanout_three_nodes  the same viewers split evenly over three nodes, the
#                       stream's actor on one of them pushing to the hubs of
#                       the other two over their links.
# It prints every RESULT line, the medians over the rounds (requests/s is
# the sum over the three loads, p50 their median, p99 their largest), the
# ratio three_nodes/one_node, the messages per second that crossed nodes
# (livemart_cluster_forwarded_total), and the fan-out's delay from commit
# to viewer (p50, p99), messages delivered a second and viewers that ended
# on the final stock. On one machine the three nodes share its cores: this
# measures what forwarding costs, not a speed-up.
#
# Environment (required):
#   LIVEMART_BIN            the livemart server binary
#   LIVEMART_BUILD_DIR      build tree holding bench/bench_http_load
#   DATABASE_URL            a libpq conninfo of the cluster (keyword=value form)
#   LIVEMART_AUTH_JWT_KEYS  passed through to livemart (every node shares it)
#
# Flags:
#   --duration-s=S      measured seconds per run (default 10, max 120)
#   --connections=N     concurrent buyers in all (default 96)
#   --rounds=N          rounds (default 3)
#   --warmup-s=S        warm-up seconds per run (default 1)
#   --buyers=N          buyer accounts (default 32; connections share them)
#   --viewers=N         fan-out viewers (default 3000)
#   --rate=N            fan-out purchases a second (default 50)
#
# Exit status: 0 when every run completed with only 2xx responses and the
# ledgers balance; 2 when not (the numbers are printed but suspect); 1 when
# the benchmark could not run. Everything talks to 127.0.0.1 only.

set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

duration=10
connections=96
rounds=3
warmup=1
buyers=32
viewers=3000
rate=50
load_threads=1

set_flag() {
  case $1 in
    --duration-s) duration=$2 ;;
    --connections) connections=$2 ;;
    --rounds) rounds=$2 ;;
    --warmup-s) warmup=$2 ;;
    --buyers) buyers=$2 ;;
    --viewers) viewers=$2 ;;
    --rate) rate=$2 ;;
    *) die "unknown flag: $1 (see --help)" ;;
  esac
}
# shellcheck source=bench/flags.sh
source "$(dirname "${BASH_SOURCE[0]}")/flags.sh"
parse_flags "$@"

int_in --duration-s "$duration" 1 120
int_in --connections "$connections" 3 2000
int_in --rounds "$rounds" 1 20
int_in --warmup-s "$warmup" 0 60
int_in --buyers "$buyers" 1 1000
int_in --viewers "$viewers" 3 20000
int_in --rate "$rate" 1 1000

[[ -n ${LIVEMART_BIN:-} && -x ${LIVEMART_BIN:-} ]] || die "LIVEMART_BIN is not set or not executable"
[[ -n ${LIVEMART_BUILD_DIR:-} ]] || die "LIVEMART_BUILD_DIR is not set"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set"
[[ $DATABASE_URL != *://* ]] || die "DATABASE_URL must be a keyword=value conninfo here"
[[ -n ${LIVEMART_AUTH_JWT_KEYS:-} ]] || die "LIVEMART_AUTH_JWT_KEYS is not set"
export LIVEMART_AUTH_JWT_KEYS
load_bin=$LIVEMART_BUILD_DIR/bench/bench_http_load
fanout_bin=$LIVEMART_BUILD_DIR/bench/bench_ws_fanout
[[ -x $load_bin ]] || die "not built: $load_bin"
[[ -x $fanout_bin ]] || die "not built: $fanout_bin"
(($(ulimit -n) >= viewers + 100)) || ulimit -n $((viewers + 1000)) ||
  die "needs $((viewers + 100)) file descriptors (ulimit -n)"
command -v psql >/dev/null || die "psql is required"
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_database livemart_bench_cluster
results=$workdir/results
common=(--http.port=0 --http.access_log=false --auth.registrations_per_address_max=100000
  --auth.login_attempts_per_address_max=100000 --ws.connections_per_client_max=100000)
cluster_flags=(--cluster.enabled=true --cluster.port=0 --cluster.slots=1024 --cluster.heartbeat_ms=200
  --cluster.member_ttl_ms=4000 --cluster.handoff_drain_ms=200)

# start_node NAME [FLAGS...]: starts livemart in the background; sets
# $node_pid and $node_port.
start_node() {
  local name=$1
  shift
  "$LIVEMART_BIN" serve "${common[@]}" "$@" >"$workdir/$name.out" 2>"$workdir/$name.err" &
  node_pid=$!
  pids+=("$node_pid")
  node_port=$(wait_for_port "$name" "$node_pid" "$workdir/$name.out" "$workdir/$name.err" \
    '"url":"http://127\.0\.0\.1:') || exit 1
}

stop_nodes() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# The sum over the nodes of livemart_cluster_forwarded_total.
forwarded() {
  local total=0 port n
  for port in "$@"; do
    n=$(curl -fsS "http://127.0.0.1:$port/metrics" | sed -n 's/^livemart_cluster_forwarded_total \([0-9.e+]*\)$/\1/p')
    total=$(python3 -c "print(int($total + float('${n:-0}')))")
  done
  echo "$total"
}

# ---- the marketplace, made through one node ------------------------------------------

start_node setup
setup_pid=$node_pid
python3 "$(dirname "${BASH_SOURCE[0]}")/orders_setup.py" "$node_port" "$admin_email" "$admin_password" \
  "$workdir" "$buyers" 1 || die "could not build the marketplace"
units=$((rate * (duration + warmup + 4) * rounds * 2 + 1000))
setup=$(python3 "$(dirname "${BASH_SOURCE[0]}")/streams_setup.py" "$node_port" "$admin_email" "$admin_password" \
  "$workdir" $((units / 100 + 1)) $((units + 1000)) "$units") || die "could not build the live stream"
stream=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["stream"])' "$setup")
drop=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["drop"])' "$setup")
product=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["product"])' "$setup")
stop_nodes "$setup_pid"

# start_cluster ROUND: three nodes, settled; sets $node_pids and $node_ports.
start_cluster() {
  local round=$1 seed id
  start_node "node1_r$round" "${cluster_flags[@]}" --node.id=1
  node_pids=("$node_pid")
  node_ports=("$node_port")
  seed=$(sed -n 's/.*"cluster":"\([^"]*\)".*/\1/p' "$workdir/node1_r$round.out" | head -n 1)
  [[ -n $seed ]] || die "node 1 printed no cluster address"
  for id in 2 3; do
    start_node "node${id}_r$round" "${cluster_flags[@]}" --node.id=$id --cluster.seeds="$seed"
    node_pids+=("$node_pid")
    node_ports+=("$node_port")
  done
  python3 - "$admin_email" "$admin_password" "${node_ports[@]}" <<'PY' || die "the cluster did not settle within 30 s"
import http.client, json, sys, time
email, password, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
def call(port, method, path, body=None, token=None):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    return r.status, r.read()
token = json.loads(call(ports[0], "POST", "/auth/login", {"email": email, "password": password})[1])["access_token"]
deadline = time.time() + 30
while time.time() < deadline:
    views = [json.loads(call(p, "GET", "/admin/cluster", token=token)[1]) for p in ports]
    if all(sum(m["slots_owned"] for m in v["members"] if m["status"] == "up") == v["slots"]
           and sum(1 for m in v["members"] if m["status"] == "up") == len(ports)
           and all(m["connected"] for m in v["members"] if m["status"] == "up") and v["moving"] == 0 for v in views):
        sys.exit(0)
    time.sleep(0.05)  # bounded pacing: membership changes at the nodes' beats
sys.exit(1)
PY
}

# fanout LABEL ROUND PORT [FLAGS...]: one bench_ws_fanout run, buyers and the
# final read through PORT.
fanout() {
  local label=$1 round=$2 port=$3 line
  shift 3
  timeout $((duration + 120)) "$fanout_bin" --port="$port" --target="/streams/$stream/ws" --hello \
    --viewers="$viewers" --rate="$rate" --duration-s="$duration" --settle-ms=2000 \
    --buy-path="/streams/$stream/drops/$drop/buy" --buyers-file="$workdir/buyers.txt" \
    --final-url="/products/$product" --label="${label}_r$round" --reader-threads=2 "$@" \
    >"$workdir/fanout.out" 2>>"$workdir/fanout.err" || true
  line=$(grep '^RESULT ' "$workdir/fanout.out" || true)
  [[ -n $line ]] || die "bench_ws_fanout printed no RESULT for $label: $(tail -n 5 "$workdir/fanout.err")"
  echo "$line"
  echo "$label $round $line" >>"$results"
}

echo "cluster bench: $rounds round(s), ${duration}s measured + ${warmup}s warm-up per run, $connections buyers" \
  "in flight ($buyers accounts), one hot product, $(nproc) CPU(s)"
per_node=$((connections / 3))
for ((round = 1; round <= rounds; round++)); do
  # One node.
  start_node "single_r$round"
  single_pid=$node_pid
  run_load one_node "$round" "http://127.0.0.1:$node_port/" "--requests-file=$workdir/livemart_hot.txt" \
    --unique-header=Idempotency-Key
  stop_nodes "$single_pid"

  # Three nodes: node 1 first, the others join through it.
  start_cluster "$round"
  before=$(forwarded "${node_ports[@]}")
  load_pids=()
  for i in 0 1 2; do
    "$load_bin" --url="http://127.0.0.1:${node_ports[$i]}/" --connections="$per_node" --threads="$load_threads" \
      --duration-s="$duration" --warmup-s="$warmup" --label="three_nodes_n$((i + 1))_r$round" \
      "--requests-file=$workdir/livemart_hot.txt" --unique-header=Idempotency-Key \
      >"$workdir/load$i.out" 2>>"$workdir/load.err" &
    load_pids+=($!)
  done
  for pid in "${load_pids[@]}"; do wait "$pid" || true; done
  after=$(forwarded "${node_ports[@]}")
  for i in 0 1 2; do
    line=$(grep '^RESULT ' "$workdir/load$i.out" || true)
    [[ -n $line ]] || die "bench_http_load printed no RESULT for node $((i + 1)) (round $round)"
    echo "$line"
    echo "three_nodes_n$((i + 1)) $round $line" >>"$results"
  done
  echo "forwarded $round $((after - before))" >>"$results"
  stop_nodes "${node_pids[@]}"
done

for ((round = 1; round <= rounds; round++)); do
  start_node "fanout_single_r$round"
  single_pid=$node_pid
  fanout fanout_one_node "$round" "$node_port"
  stop_nodes "$single_pid"
  start_cluster "f$round"
  fanout fanout_three_nodes "$round" "${node_ports[0]}" \
    --viewer-ports="${node_ports[0]},${node_ports[1]},${node_ports[2]}"
  stop_nodes "${node_pids[@]}"
done

unbalanced=$(psql "$bench_url" -qAt -c "
  SELECT count(*) FROM products p WHERE p.stock < 0 OR p.reserved < 0 OR p.stock + p.reserved + p.sold <>
    (SELECT COALESCE(sum(quantity), 0) FROM stock_ledger l WHERE l.product_id = p.id AND l.kind = 'restock')") ||
  die "the checks could not run"

python3 - "$results" "$rounds" "$((duration + warmup))" "$unbalanced" <<'PY'
import statistics, sys

path, rounds, seconds, unbalanced = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
runs, forwarded = {}, {}
for raw in open(path):
    target, rnd, *rest = raw.split()
    if target == "forwarded":
        forwarded[int(rnd)] = int(rest[0])
        continue
    runs.setdefault(target, {})[int(rnd)] = dict(item.split("=", 1) for item in rest[1:])
med = lambda xs: statistics.median(xs) if xs else float("nan")
suspect = False
per_round = {"one_node": {}, "three_nodes": {}}
for rnd, r in runs.get("one_node", {}).items():
    per_round["one_node"][rnd] = (float(r["rps"]), float(r["p50_us"]), float(r["p99_us"]))
for rnd in range(1, rounds + 1):
    parts = [runs.get(f"three_nodes_n{i}", {}).get(rnd) for i in (1, 2, 3)]
    if all(parts):
        per_round["three_nodes"][rnd] = (sum(float(p["rps"]) for p in parts),
                                         statistics.median(float(p["p50_us"]) for p in parts),
                                         max(float(p["p99_us"]) for p in parts))
for name, t in runs.items():
    if name.startswith("fanout"):
        continue
    for r in t.values():
        suspect = suspect or int(r["non2xx"]) > 0 or int(r["errors"]) > 0 or int(r["requests"]) == 0
print()
print(f"SUMMARY (median over {rounds} round(s); buy-now orders of one hot product)")
print(f"{'target':<12} {'orders/s':>10} {'p50_ms':>8} {'p99_ms':>8}")
for t in ("one_node", "three_nodes"):
    xs = list(per_round[t].values())
    print(f"{t:<12} {med([x[0] for x in xs]):>10.1f} {med([x[1] for x in xs]) / 1000:>8.2f} {med([x[2] for x in xs]) / 1000:>8.2f}")
ratios = [per_round["three_nodes"][r][0] / per_round["one_node"][r][0]
          for r in per_round["three_nodes"] if r in per_round["one_node"] and per_round["one_node"][r][0] > 0]
print()
print(f"ratio three_nodes/one_node = {med(ratios):.2f} (per round: " + ", ".join(f"{x:.2f}" for x in ratios) + ")")
rates = [forwarded[r] / seconds for r in sorted(forwarded)]
print(f"messages crossing nodes (livemart_cluster_forwarded_total, per second of the measured run and its warm-up): "
      f"median {med(rates):.0f}/s (per round: " + ", ".join(f"{x:.0f}" for x in rates) + ")")
print()
print(f"FAN-OUT (median over {rounds} round(s)): delay from commit to viewer, messages delivered a second")
print(f"{'target':<20} {'p50_ms':>8} {'p99_ms':>8} {'msgs/s':>10} {'on_final':>12}")
fan = {}
for t in ("fanout_one_node", "fanout_three_nodes"):
    xs = list(runs.get(t, {}).values())
    fan[t] = xs
    if xs:
        print(f"{t:<20} {med([float(x['delay_p50_ms']) for x in xs]):>8.1f} {med([float(x['delay_p99_ms']) for x in xs]):>8.1f} "
              f"{med([float(x['msgs_per_s']) for x in xs]):>10.0f} "
              f"{min(int(x['viewers_on_final']) for x in xs):>5}/{int(xs[0]['viewers']):<6}")
for t, xs in fan.items():
    for x in xs:
        if int(x["viewers_on_final"]) != int(x["viewers"]) or int(x["buy_errors"]) > 0:
            suspect = True
print(f"checks: products whose ledger does not balance or whose stock is negative: {unbalanced}")
if suspect or unbalanced != 0:
    print()
    print("WARNING: some runs saw non-2xx responses, errors or no requests, or a check failed; the numbers are suspect.")
    sys.exit(2)
PY
