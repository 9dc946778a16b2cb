#!/usr/bin/env bash
# bench/orders.sh: orders placed per second, livemart against the
# conventional way, measured in the same run on the same database.
#
# Makes a throwaway database in the cluster of DATABASE_URL, migrates it,
# starts livemart and bench_conventional_orders on ephemeral loopback
# ports, and builds a marketplace through livemart's API (bench/orders_setup.py:
# a shop, --products spread products, two hot products with ample stock,
# --buyers buyers with addresses and access tokens). Then, per round, four
# runs of bench_http_load with --connections concurrent buyers:
#   livemart_hot       POST /orders (one-tap buy-now: checkout, hold and place,
#                      with an Idempotency-Key per attempt) on one hot product
#   conventional_hot   the same order as one transaction locking the product row
#   livemart_spread    like livemart_hot over the spread products
#   conventional_spread
# It prints every RESULT line, the medians over the rounds, the ratios
# livemart/conventional (targets, issue 16: hot at least 20x with a p99
# under 50 ms, spread at least 3x), and a check that no unit was oversold
# and every ledger balances.
#
# Environment (required):
#   LIVEMART_BIN            the livemart server binary
#   LIVEMART_BUILD_DIR      build tree holding bench/bench_http_load and bench/bench_conventional_orders
#   DATABASE_URL            a libpq conninfo of the cluster (keyword=value form)
#   LIVEMART_AUTH_JWT_KEYS  passed through to livemart
#
# Flags:
#   --duration-s=S      measured seconds per run (default 10, max 120)
#   --connections=N     concurrent buyers (default 256)
#   --rounds=N          rounds (default 3)
#   --warmup-s=S        warm-up seconds per run (default 1)
#   --products=N        spread products (default 10000)
#   --buyers=N          buyer accounts (default 32; connections share them)
#   --workers=N         the conventional server's database connections (default 32)
#   --load-threads=N    bench_http_load io threads (default 1)
#
# Exit status: 0 when every run completed with only 2xx responses and the
# checks held; 2 when not (the numbers are printed but suspect); 1 when the
# benchmark could not run. Everything talks to 127.0.0.1 only.

set -euo pipefail

die() { echo "orders.sh: $*" >&2; exit 1; }

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

duration=10
connections=256
rounds=3
warmup=1
products=10000
buyers=32
workers=32
load_threads=1

set_flag() {
  case $1 in
    --duration-s) duration=$2 ;;
    --connections) connections=$2 ;;
    --rounds) rounds=$2 ;;
    --warmup-s) warmup=$2 ;;
    --products) products=$2 ;;
    --buyers) buyers=$2 ;;
    --workers) workers=$2 ;;
    --load-threads) load_threads=$2 ;;
    *) die "unknown flag: $1 (see --help)" ;;
  esac
}
# shellcheck source=bench/flags.sh
source "$(dirname "${BASH_SOURCE[0]}")/flags.sh"
parse_flags "$@"

int_in --duration-s "$duration" 1 120
int_in --connections "$connections" 1 2000
int_in --rounds "$rounds" 1 20
int_in --warmup-s "$warmup" 0 60
int_in --products "$products" 1 100000
int_in --buyers "$buyers" 1 1000
int_in --workers "$workers" 1 90
int_in --load-threads "$load_threads" 1 64

[[ -n ${LIVEMART_BIN:-} && -x ${LIVEMART_BIN:-} ]] || die "LIVEMART_BIN is not set or not executable"
[[ -n ${LIVEMART_BUILD_DIR:-} ]] || die "LIVEMART_BUILD_DIR is not set"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set"
[[ $DATABASE_URL != *://* ]] || die "DATABASE_URL must be a keyword=value conninfo here"
[[ -n ${LIVEMART_AUTH_JWT_KEYS:-} ]] || die "LIVEMART_AUTH_JWT_KEYS is not set"
export LIVEMART_AUTH_JWT_KEYS
load_bin=$LIVEMART_BUILD_DIR/bench/bench_http_load
conventional_bin=$LIVEMART_BUILD_DIR/bench/bench_conventional_orders
[[ -x $load_bin ]] || die "not built: $load_bin"
[[ -x $conventional_bin ]] || die "not built: $conventional_bin"
command -v psql >/dev/null || die "psql is required"
command -v python3 >/dev/null || die "python3 is required"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- a throwaway database ------------------------------------------------------

bench_database livemart_bench_orders

# ---- servers ---------------------------------------------------------------------

# Registration limits are per client address, and every buyer comes from here.
"$LIVEMART_BIN" serve --http.port=0 --http.access_log=false --auth.registrations_per_address_max=100000 \
  >"$workdir/livemart.out" 2>"$workdir/livemart.err" &
livemart_pid=$!
pids+=("$livemart_pid")
"$conventional_bin" --database-url="$bench_url" --workers="$workers" \
  >"$workdir/conventional.out" 2>"$workdir/conventional.err" &
conventional_pid=$!
pids+=("$conventional_pid")
livemart_port=$(wait_for_port livemart "$livemart_pid" "$workdir/livemart.out" "$workdir/livemart.err" \
  '"url":"http://127\.0\.0\.1:') || exit 1
conventional_port=$(wait_for_port bench_conventional_orders "$conventional_pid" "$workdir/conventional.out" \
  "$workdir/conventional.err" 'listening on http://127\.0\.0\.1:') || exit 1

python3 "$(dirname "${BASH_SOURCE[0]}")/orders_setup.py" "$livemart_port" "$admin_email" "$admin_password" \
  "$workdir" "$buyers" "$products" || die "could not build the marketplace"

# ---- rounds ------------------------------------------------------------------------

results=$workdir/results
check_alive() {
  kill -0 "$livemart_pid" 2>/dev/null || die "livemart died: $(tail -n 20 "$workdir/livemart.err")"
  kill -0 "$conventional_pid" 2>/dev/null || die "bench_conventional_orders died: $(tail -n 20 "$workdir/conventional.err")"
}

echo "orders bench: $rounds round(s), ${duration}s measured + ${warmup}s warm-up per run, $connections buyers" \
  "in flight ($buyers accounts), $products spread products, conventional pool $workers connections, $(nproc) CPU(s)"
for ((round = 1; round <= rounds; round++)); do
  for workload in hot spread; do
    check_alive
    run_load "livemart_$workload" "$round" "http://127.0.0.1:$livemart_port/" \
      "--requests-file=$workdir/livemart_$workload.txt" --unique-header=Idempotency-Key
    run_load "conventional_$workload" "$round" "http://127.0.0.1:$conventional_port/" \
      "--requests-file=$workdir/conventional_$workload.txt" --unique-header=Idempotency-Key
  done
done

# ---- checks: no oversell, ledgers balance --------------------------------------------

# Every product: stock + held + sold = units ever stocked, nothing negative,
# and livemart's hot product sold exactly as many units as its orders that
# stand hold (unpaid orders older than orders.hold_ttl_s are cancelled and
# give their units back).
mapfile -t hot < "$workdir/hot_products.txt"
checks=$(psql "$bench_url" -qAt -F ' ' -c "
  SELECT (SELECT count(*) FROM products p WHERE p.stock < 0 OR p.reserved < 0 OR p.stock + p.reserved + p.sold <>
            (SELECT COALESCE(sum(quantity), 0) FROM stock_ledger l WHERE l.product_id = p.id AND l.kind = 'restock')),
         (SELECT sold FROM products WHERE id = ${hot[0]}),
         (SELECT COALESCE(sum(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id
           WHERE i.product_id = ${hot[0]} AND o.status <> 'cancelled'),
         (SELECT count(*) FROM orders),
         (SELECT count(*) FROM bench_conventional_orders)") || die "the checks could not run"
read -r unbalanced hot_sold hot_items livemart_orders conventional_orders <<<"$checks"

# ---- summary -------------------------------------------------------------------------

python3 - "$results" "$rounds" "$unbalanced" "$hot_sold" "$hot_items" "$livemart_orders" "$conventional_orders" <<'PY'
import statistics, sys

path, rounds = sys.argv[1], int(sys.argv[2])
unbalanced, hot_sold, hot_items, livemart_orders, conventional_orders = (int(x) for x in sys.argv[3:8])
runs = {}
for raw in open(path):
    target, rnd, _, *kv = raw.split()
    runs.setdefault(target, {})[int(rnd)] = dict(item.split("=", 1) for item in kv)
med = lambda xs: statistics.median(xs) if xs else float("nan")

print()
print(f"SUMMARY (median over {rounds} round(s); orders placed per second)")
print(f"{'target':<20} {'orders/s':>10} {'p50_ms':>8} {'p99_ms':>8} {'max_ms':>8} {'non2xx':>7} {'errors':>7}")
suspect = False
for t in ["livemart_hot", "conventional_hot", "livemart_spread", "conventional_spread"]:
    rs = list(runs.get(t, {}).values())
    non2xx = sum(int(r["non2xx"]) for r in rs)
    errors = sum(int(r["errors"]) for r in rs)
    suspect = suspect or non2xx > 0 or errors > 0 or any(int(r["requests"]) == 0 for r in rs)
    print(f"{t:<20} {med([float(r['rps']) for r in rs]):>10.1f} {med([float(r['p50_us']) for r in rs]) / 1000:>8.2f} "
          f"{med([float(r['p99_us']) for r in rs]) / 1000:>8.2f} {med([float(r['max_us']) for r in rs]) / 1000:>8.1f} "
          f"{non2xx:>7} {errors:>7}")
print()
for w in ["hot", "spread"]:
    per_round = []
    for rnd, ours in runs.get(f"livemart_{w}", {}).items():
        theirs = runs.get(f"conventional_{w}", {}).get(rnd)
        if theirs and float(theirs["rps"]) > 0:
            per_round.append(float(ours["rps"]) / float(theirs["rps"]))
    r = med(per_round)
    line = f"ratio livemart/conventional ({w}) = {r:.2f}x (per round: " + ", ".join(f"{x:.2f}" for x in per_round) + ")"
    if w == "hot":
        p99 = med([float(x["p99_us"]) for x in runs.get("livemart_hot", {}).values()]) / 1000
        line += f"  target >= 20x: {'MET' if r >= 20 else 'NOT MET'}; p99 {p99:.1f} ms < 50 ms: {'MET' if p99 < 50 else 'NOT MET'}"
    else:
        line += f"  target >= 3x: {'MET' if r >= 3 else 'NOT MET'}"
    print(line)
print()
print(f"orders: livemart {livemart_orders}, conventional {conventional_orders}")
ok = unbalanced == 0 and hot_sold == hot_items
print(f"checks: products whose ledger does not balance or whose stock is negative: {unbalanced}; "
      f"livemart hot product sold {hot_sold} units for {hot_items} order items: {'OK' if ok else 'FAILED'}")
if suspect or not ok:
    print()
    print("WARNING: some runs saw non-2xx responses, errors or no requests, or a check failed; the numbers are suspect.")
    sys.exit(2)
PY
