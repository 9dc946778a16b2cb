#!/usr/bin/env bash
# bench/search.sh: what search costs as the catalog grows.
#
# For each catalog size (--sizes), in a throwaway database of the cluster of
# DATABASE_URL: seeds the demo catalog (`livemart seed products=N`, a shop
# per 500 products), starts livemart on an ephemeral loopback port and
# measures the seconds until it listens and until its search index is in
# (it serves while the index loads; search answers 503 meanwhile), the
# index's heap bytes (its log line) and the process's resident memory,
# then runs the mixed searches of bench/run.sh (bench/search_queries.py) at
# --connections clients for --rounds rounds.
# It prints every RESULT line and a table: per size the medians over the
# rounds, bytes per product, and each figure's growth against the smallest
# size (a cost that grows no faster than the catalog has a ratio no larger
# than the size's). Targets at the largest size: p99 under 25 ms, listening
# within 5 s, under 400 bytes per product.
#
# Environment (required):
#   LIVEMART_BIN            the livemart server binary
#   LIVEMART_BUILD_DIR      build tree holding bench/bench_http_load
#   DATABASE_URL            a libpq conninfo of the cluster (keyword=value form)
#   LIVEMART_AUTH_JWT_KEYS  passed through to livemart
#
# Flags:
#   --sizes=A,B,C       catalog sizes (default 100000,300000,1000000)
#   --duration-s=S      measured seconds per run (default 10, max 120)
#   --connections=N     concurrent search clients (default 32)
#   --rounds=N          rounds per size (default 3)
#   --warmup-s=S        warm-up seconds per run (default 1)
#
# Exit status: 0 when every run completed with only 2xx responses; 2 when
# not (the numbers are printed but suspect); 1 when the benchmark could not
# run. Everything talks to 127.0.0.1 only.

set -euo pipefail

die() { echo "search.sh: $*" >&2; exit 1; }

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

sizes=100000,300000,1000000
duration=10
connections=32
rounds=3
warmup=1
load_threads=1

set_flag() {
  case $1 in
    --sizes) sizes=$2 ;;
    --duration-s) duration=$2 ;;
    --connections) connections=$2 ;;
    --rounds) rounds=$2 ;;
    --warmup-s) warmup=$2 ;;
    *) die "unknown flag: $1 (see --help)" ;;
  esac
}
# shellcheck source=bench/flags.sh
source "$(dirname "${BASH_SOURCE[0]}")/flags.sh"
parse_flags "$@"

int_in --duration-s "$duration" 1 120
int_in --connections "$connections" 1 10000
int_in --rounds "$rounds" 1 50
int_in --warmup-s "$warmup" 0 60
IFS=, read -r -a size_list <<<"$sizes"
((${#size_list[@]} >= 1)) || die "--sizes needs at least one size"
for n in "${size_list[@]}"; do int_in "--sizes (each)" "$n" 100 10000000; done

[[ -n ${LIVEMART_BIN:-} && -x ${LIVEMART_BIN:-} ]] || die "LIVEMART_BIN is not set or not executable"
[[ -n ${LIVEMART_BUILD_DIR:-} ]] || die "LIVEMART_BUILD_DIR is not set"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set"
[[ $DATABASE_URL != *://* ]] || die "DATABASE_URL must be a keyword=value conninfo here"
[[ -n ${LIVEMART_AUTH_JWT_KEYS:-} ]] || die "LIVEMART_AUTH_JWT_KEYS is not set"
export LIVEMART_AUTH_JWT_KEYS
load_bin=$LIVEMART_BUILD_DIR/bench/bench_http_load
[[ -x $load_bin ]] || die "not built: $load_bin"
for tool in psql python3 curl; do command -v "$tool" >/dev/null || die "$tool is required"; done
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=bench/lib.sh
source "$bench_dir/lib.sh"

cluster_url=$DATABASE_URL
databases=()
drop_databases() {
  local db
  for db in "${databases[@]}"; do
    psql "$cluster_url" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap 'cleanup; drop_databases' EXIT

now() { date +%s.%N; }
results=$workdir/results
sizes_file=$workdir/sizes

echo "search bench: sizes ${sizes}, $rounds round(s) of ${duration}s (+${warmup}s warm-up) at $connections clients," \
  "$(nproc) CPU(s)"
for n in "${size_list[@]}"; do
  db=livemart_bench_search_$$_$n
  psql "$cluster_url" -qAt -c "CREATE DATABASE $db" >/dev/null || die "cannot create database $db"
  databases+=("$db")
  export DATABASE_URL="$cluster_url dbname=$db"
  "$LIVEMART_BIN" migrate >"$workdir/migrate.out" 2>&1 || die "migrate failed: $(tail -n 5 "$workdir/migrate.out")"
  sellers=$((n / 500 > 10 ? n / 500 : 10))
  seed_started=$(now)
  "$LIVEMART_BIN" seed products="$n" sellers="$sellers" >"$workdir/seed.out" 2>"$workdir/seed.err" ||
    die "livemart seed failed: $(tail -n 5 "$workdir/seed.err")"
  seed_s=$(python3 -c "print(f'{$(now) - $seed_started:.1f}')")
  active=$(psql "$DATABASE_URL" -qAt -c "SELECT count(*) FROM products WHERE status = 'active'")

  started=$(now)
  "$LIVEMART_BIN" serve --http.port=0 --http.access_log=false \
    >"$workdir/livemart.out" 2>"$workdir/livemart.err" &
  livemart_pid=$!
  pids+=("$livemart_pid")
  port=$(wait_for_port livemart "$livemart_pid" "$workdir/livemart.out" "$workdir/livemart.err" \
    '"url":"http://127\.0\.0\.1:') || exit 1
  listening=$(now)
  url=http://127.0.0.1:$port
  wait_for_search "$url" >/dev/null || exit 1
  ready=$(now)
  index_bytes=$(sed -n 's/.*"search index loaded".*"bytes":\([0-9]*\).*/\1/p' "$workdir/livemart.out" | head -n 1)
  python3 "$bench_dir/search_queries.py" "$url" "$workdir/paths" || die "could not read the catalog"

  for ((round = 1; round <= rounds; round++)); do
    kill -0 "$livemart_pid" 2>/dev/null || die "livemart died: $(tail -n 20 "$workdir/livemart.err")"
    run_load "search_$n" "$round" "$url/" "--paths-file=$workdir/paths"
  done
  rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$livemart_pid/status")
  echo "$n $active $seed_s $(python3 -c "print(f'{$listening - $started:.2f} {$ready - $started:.2f}')") ${index_bytes:-0} $rss_kb" \
    >>"$sizes_file"
  kill -TERM "$livemart_pid" 2>/dev/null || true
  wait "$livemart_pid" 2>/dev/null || true
done

python3 - "$results" "$sizes_file" <<'PY'
import statistics, sys

results, sizes_path = sys.argv[1:3]
runs = {}
for raw in open(results):
    target, rnd, _, *kv = raw.split()
    runs.setdefault(target, []).append(dict(item.split("=", 1) for item in kv))
rows = []
for raw in open(sizes_path):
    n, active, seed_s, listen_s, ready_s, index_bytes, rss_kb = raw.split()
    rs = runs.get(f"search_{n}", [])
    med = lambda key: statistics.median(float(r[key]) for r in rs) if rs else float("nan")
    rows.append(dict(n=int(n), active=int(active), seed=float(seed_s), listen=float(listen_s), ready=float(ready_s),
                     index=int(index_bytes), rss=int(rss_kb) * 1024, rps=med("rps"), p50=med("p50_us") / 1000,
                     p99=med("p99_us") / 1000, p99s=[float(r["p99_us"]) / 1000 for r in rs],
                     bad=sum(int(r["non2xx"]) + int(r["errors"]) for r in rs) + sum(int(r["requests"]) == 0 for r in rs)))
print()
print("SUMMARY (median over rounds; index bytes per indexed product; RSS after the runs)")
print(f"{'products':>9} {'indexed':>8} {'seed_s':>7} {'listen_s':>8} {'ready_s':>7} {'index_MB':>8} {'B/prod':>6} "
      f"{'rss_MB':>7} {'rps':>7} {'p50_ms':>7} {'p99_ms':>7}  p99 per round")
for r in rows:
    print(f"{r['n']:>9} {r['active']:>8} {r['seed']:>7.1f} {r['listen']:>8.2f} {r['ready']:>7.2f} "
          f"{r['index'] / 1e6:>8.1f} {r['index'] / max(r['active'], 1):>6.0f} {r['rss'] / 1e6:>7.1f} {r['rps']:>7.0f} "
          f"{r['p50']:>7.2f} {r['p99']:>7.2f}  " + ", ".join(f"{x:.1f}" for x in r["p99s"]))
base = rows[0]
print()
for r in rows[1:]:
    slope = (r["rss"] - base["rss"]) / max(r["active"] - base["active"], 1)
    print(f"{r['n']} against {base['n']}: catalog x{r['active'] / base['active']:.2f}, "
          f"index bytes x{r['index'] / max(base['index'], 1):.2f}, p99 x{r['p99'] / base['p99']:.2f}, "
          f"index ready x{r['ready'] / base['ready']:.2f}; resident memory grew {slope:.0f} B per product")
last = rows[-1]
per_product = last["index"] / max(last["active"], 1)
if len(rows) > 1: # what the process really holds more per product, if more than the index counts
    per_product = max(per_product, (last["rss"] - base["rss"]) / max(last["active"] - base["active"], 1))
print()
print(f"targets at {last['n']} products: p99 {last['p99']:.1f} ms < 25 ms: {'MET' if last['p99'] < 25 else 'NOT MET'}; "
      f"listening after {last['listen']:.1f} s <= 5 s: {'MET' if last['listen'] <= 5 else 'NOT MET'} "
      f"(index in after {last['ready']:.1f} s); "
      f"{per_product:.0f} B per product < 400: {'MET' if per_product < 400 else 'NOT MET'}")
sys.exit(2 if any(r["bad"] for r in rows) else 0)
PY
