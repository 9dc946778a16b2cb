#!/usr/bin/env bash
# bench/run.sh: livemart HTTP throughput against a fixed Beast baseline.
#
# Seeds the demo catalog (100,000 products) when the database has none,
# starts livemart and bench_fixed_server on ephemeral loopback ports,
# registers a throwaway user, then for each round runs bench_http_load:
#   fixed             bench_fixed_server  GET /
#   livemart_healthz  livemart            GET /healthz
#   livemart_auth_me  livemart            GET /auth/me  (Authorization: Bearer <token>)
#   livemart_product  livemart            GET /products/:id over 1,000 products
#   livemart_search   livemart            GET /products?... over a mixed set of
#                                         searches, at --search-connections
#   nginx             nginx (Debian's nginx-light, when installed), 2 workers,
#                     access log on: one product's JSON as a static file
# livemart runs with its access log on, as the run command starts it.
# It prints every RESULT line, then medians over the rounds, the rps ratios
# against the baseline (targets: auth_me and product >= 40% of fixed), the
# product page against nginx (target: >= 50%) and the search latencies
# (target: p99 under 25 ms at 32 clients).
#
# Environment (required):
#   LIVEMART_BIN            the livemart server binary
#   LIVEMART_BUILD_DIR      build tree holding bench/bench_fixed_server and bench/bench_http_load
#   DATABASE_URL            passed through to livemart
#   LIVEMART_AUTH_JWT_KEYS  passed through to livemart
#
# Flags:
#   --duration-s=S      measured seconds per run (default 10, max 120)
#   --connections=N     concurrent connections (default 64)
#   --search-connections=N  concurrent search clients (default 32)
#   --rounds=N          rounds (default 3)
#   --warmup-s=S        warm-up seconds per run (default 1)
#   --load-threads=N    bench_http_load io threads (default 1)
#   --fixed-threads=N   bench_fixed_server io threads (default 2)
#
# Exit status: 0 when every run completed with only 2xx responses and no
# errors; 2 when some run saw non-2xx, errors or no requests (the numbers
# are printed but suspect); 1 when the benchmark could not run.
# Everything talks to 127.0.0.1 only.

set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 1; }

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

duration=10
connections=64
search_connections=32
rounds=3
warmup=1
load_threads=1
fixed_threads=2

set_flag() {
  case $1 in
    --duration-s) duration=$2 ;;
    --connections) connections=$2 ;;
    --search-connections) search_connections=$2 ;;
    --rounds) rounds=$2 ;;
    --warmup-s) warmup=$2 ;;
    --load-threads) load_threads=$2 ;;
    --fixed-threads) fixed_threads=$2 ;;
    *) die "unknown flag: $1 (see --help)" ;;
  esac
}
# shellcheck source=bench/flags.sh
source "$(dirname "${BASH_SOURCE[0]}")/flags.sh"
parse_flags "$@"

int_in --duration-s "$duration" 1 120
int_in --connections "$connections" 1 10000
int_in --search-connections "$search_connections" 1 10000
int_in --rounds "$rounds" 1 50
int_in --warmup-s "$warmup" 0 60
int_in --load-threads "$load_threads" 1 256
int_in --fixed-threads "$fixed_threads" 1 256

[[ -n ${LIVEMART_BIN:-} ]] || die "LIVEMART_BIN is not set"
[[ -x $LIVEMART_BIN ]] || die "LIVEMART_BIN is not executable: $LIVEMART_BIN"
[[ -n ${LIVEMART_BUILD_DIR:-} ]] || die "LIVEMART_BUILD_DIR is not set"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set"
[[ -n ${LIVEMART_AUTH_JWT_KEYS:-} ]] || die "LIVEMART_AUTH_JWT_KEYS is not set"
export DATABASE_URL LIVEMART_AUTH_JWT_KEYS

fixed_bin=$LIVEMART_BUILD_DIR/bench/bench_fixed_server
load_bin=$LIVEMART_BUILD_DIR/bench/bench_http_load
[[ -x $fixed_bin ]] || die "not built: $fixed_bin"
[[ -x $load_bin ]] || die "not built: $load_bin"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- catalog and servers ---------------------------------------------------

# A catalog to search: the demo seed, unless the database has one already.
"$LIVEMART_BIN" seed >"$workdir/seed.out" 2>"$workdir/seed.err" ||
  die "livemart seed failed: $(tail -n 5 "$workdir/seed.err")"
head -n 1 "$workdir/seed.out"

"$LIVEMART_BIN" serve --http.port=0 --http.access_log=true \
  >"$workdir/livemart.out" 2>"$workdir/livemart.err" &
livemart_pid=$!
pids+=("$livemart_pid")

"$fixed_bin" --port=0 --threads="$fixed_threads" \
  >"$workdir/fixed.out" 2>"$workdir/fixed.err" &
fixed_pid=$!
pids+=("$fixed_pid")

livemart_port=$(wait_for_port livemart "$livemart_pid" "$workdir/livemart.out" "$workdir/livemart.err" \
  '"url":"http://127\.0\.0\.1:') || exit 1
fixed_port=$(wait_for_port bench_fixed_server "$fixed_pid" "$workdir/fixed.out" "$workdir/fixed.err" \
  'listening on http://127\.0\.0\.1:') || exit 1
livemart_url=http://127.0.0.1:$livemart_port
fixed_url=http://127.0.0.1:$fixed_port
wait_for_search "$livemart_url" >/dev/null || exit 1

# ---- user and token --------------------------------------------------------

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# post_json PATH JSON: POSTs to livemart; body in $workdir/resp, prints the status.
post_json() {
  curl --silent --show-error --noproxy '*' --max-time 10 \
    -o "$workdir/resp" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary "$2" "$livemart_url$1" || echo 000
}

email="bench-$(rand_hex 8)@example.com"
password="Bench-$(rand_hex 12)-pw"

status=$(post_json /auth/register \
  "{\"email\":\"$email\",\"password\":\"$password\",\"display_name\":\"Bench\"}")
[[ $status == 2?? ]] || die "POST /auth/register -> $status: $(head -c 500 "$workdir/resp" 2>/dev/null)"

token=""
token_at=0
# Access tokens live 15 minutes: log in again once the token is 10 minutes
# old (a round's auth_me run then still ends well inside its lifetime).
login() {
  local st
  st=$(post_json /auth/login "{\"email\":\"$email\",\"password\":\"$password\"}")
  [[ $st == 200 ]] || die "POST /auth/login -> $st: $(head -c 500 "$workdir/resp" 2>/dev/null)"
  token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <"$workdir/resp") ||
    die "POST /auth/login: no access_token in $(head -c 500 "$workdir/resp")"
  [[ -n $token && $token != *[[:space:]]* ]] || die "POST /auth/login: unusable access_token"
  token_at=$SECONDS
}

# ---- workloads from the catalog ------------------------------------------------

# Product pages: 1,000 products from the newest and cheapest listings.
products_file=$workdir/product_paths
search_file=$workdir/search_paths
python3 - "$livemart_url" "$products_file" "$search_file" "$(dirname "${BASH_SOURCE[0]}")" <<'PY' || die "could not read the catalog"
import json, sys, urllib.request

base, products_out, search_out, bench_dir = sys.argv[1:5]
def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)

ids = []
for sort in ("newest", "price_asc", "price_desc"):
    cursor = None
    for _ in range(4):
        page = get(f"/products?sort={sort}&limit=100" + (f"&cursor={cursor}" if cursor else ""))
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
ids = list(dict.fromkeys(ids))[:1000]
if not ids:
    sys.exit("no products to request")
with open(products_out, "w") as f:
    f.writelines(f"/products/{i}\n" for i in ids)

sys.path.insert(0, bench_dir)
from search_queries import search_paths
paths, category_count = search_paths(base)
with open(search_out, "w") as f:
    f.writelines(p + "\n" for p in paths)
print(f"workloads: {len(ids)} product pages, {len(paths)} searches ({category_count} categories)")
PY

# ---- nginx: the same product page as a static file -------------------------

nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
nginx_url=""
if [[ -x $nginx_bin ]]; then
  mkdir -p "$workdir/static"
  chmod 711 "$workdir" # nginx's workers run as nobody
  chmod 755 "$workdir/static"
  curl --silent --show-error --noproxy '*' --max-time 10 -o "$workdir/static/product.json" \
    "$livemart_url$(head -n 1 "$products_file")" || die "could not read a product page"
  chmod 644 "$workdir/static/product.json"
  nginx_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$workdir/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $workdir/nginx.pid;
error_log $workdir/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log $workdir/nginx.access;
  default_type application/json;
  server {
    listen 127.0.0.1:$nginx_port;
    root $workdir/static;
    location / { try_files /product.json =404; }
  }
}
NGINX
  "$nginx_bin" -e "$workdir/nginx.err" -c "$workdir/nginx.conf" >"$workdir/nginx.out" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  nginx_url=http://127.0.0.1:$nginx_port
  for ((i = 0; i < 50; i++)); do
    [[ $(curl --silent --noproxy '*' -o /dev/null -w '%{http_code}' "$nginx_url/" || true) == 200 ]] && break
    kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(tail -n 5 "$workdir/nginx.err" "$workdir/nginx.out")"
    sleep 0.1
  done
else
  echo "nginx is not installed (Debian: nginx-light): no nginx reference in this run"
fi

# ---- rounds ----------------------------------------------------------------

results=$workdir/results

check_alive() {
  kill -0 "$livemart_pid" 2>/dev/null || die "livemart died: $(tail -n 20 "$workdir/livemart.err")"
  kill -0 "$fixed_pid" 2>/dev/null || die "bench_fixed_server died: $(tail -n 20 "$workdir/fixed.err")"
}

echo "livemart bench: $rounds round(s), ${duration}s measured + ${warmup}s warm-up per run," \
  "$connections connections, load threads $load_threads, fixed server threads $fixed_threads, $(nproc) CPU(s)"
echo "livemart at $livemart_url, fixed server at $fixed_url"

for ((round = 1; round <= rounds; round++)); do
  check_alive
  if [[ -z $token ]] || ((SECONDS - token_at >= 600)); then login; fi
  run_load fixed "$round" "$fixed_url/"
  [[ -z $nginx_url ]] || run_load nginx "$round" "$nginx_url/"
  run_load livemart_healthz "$round" "$livemart_url/healthz"
  run_load livemart_auth_me "$round" "$livemart_url/auth/me" "--header=Authorization: Bearer $token"
  run_load livemart_product "$round" "$livemart_url/" "--paths-file=$products_file"
  run_load livemart_search "$round" "$livemart_url/" "--paths-file=$search_file" "--connections=$search_connections"
done

# ---- summary ---------------------------------------------------------------

python3 - "$results" "$rounds" <<'PY'
import statistics, sys

path, rounds = sys.argv[1], int(sys.argv[2])
runs = {}  # target -> {round: fields}
for raw in open(path):
    target, rnd, _, *kv = raw.split()
    fields = dict(item.split("=", 1) for item in kv)
    runs.setdefault(target, {})[int(rnd)] = fields

targets = ["fixed", "nginx", "livemart_healthz", "livemart_auth_me", "livemart_product", "livemart_search"]
med = lambda xs: statistics.median(xs) if xs else float("nan")

print()
print(f"SUMMARY (median over {rounds} round(s))")
print(f"{'target':<18} {'rps':>11} {'p50_us':>8} {'p99_us':>8} {'non2xx':>8} {'errors':>8}")
suspect = False
for t in targets:
    rs = list(runs.get(t, {}).values())
    rps = med([float(r["rps"]) for r in rs])
    p50 = med([float(r["p50_us"]) for r in rs])
    p99 = med([float(r["p99_us"]) for r in rs])
    non2xx = sum(int(r["non2xx"]) for r in rs)
    errors = sum(int(r["errors"]) for r in rs)
    if non2xx or errors or any(int(r["requests"]) == 0 for r in rs):
        suspect = True
    print(f"{t:<18} {rps:>11.1f} {p50:>8.0f} {p99:>8.0f} {non2xx:>8} {errors:>8}")

def ratio(t, reference="fixed"):
    per_round = []
    for rnd, fixed in runs.get(reference, {}).items():
        other = runs.get(t, {}).get(rnd)
        if other and float(fixed["rps"]) > 0:
            per_round.append(float(other["rps"]) / float(fixed["rps"]))
    return med(per_round), per_round

print()
for t in ["livemart_healthz", "livemart_auth_me", "livemart_product"]:
    r, per_round = ratio(t)
    rounds_txt = ", ".join(f"{x:.3f}" for x in per_round)
    line = f"ratio {t}/fixed rps = {r:.3f} ({r * 100:.1f}%; per round: {rounds_txt})"
    if t in ("livemart_auth_me", "livemart_product"):
        line += f"  target >= 40% of fixed: {'MET' if r >= 0.40 else 'NOT MET'}"
    print(line)
if runs.get("nginx"):
    r, per_round = ratio("livemart_product", "nginx")
    print(f"ratio livemart_product/nginx rps = {r:.3f} ({r * 100:.1f}%; per round: "
          + ", ".join(f"{x:.3f}" for x in per_round) + f")  target >= 50% of nginx: {'MET' if r >= 0.50 else 'NOT MET'}")
search = list(runs.get("livemart_search", {}).values())
if search:
    p50 = med([float(r["p50_us"]) for r in search]) / 1000
    p99 = med([float(r["p99_us"]) for r in search]) / 1000
    print(f"search latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms (median over rounds; per round p99: "
          + ", ".join(f"{float(r['p99_us']) / 1000:.2f}" for r in search)
          + f")  target p99 < 25 ms: {'MET' if p99 < 25 else 'NOT MET'}")

if suspect:
    print()
    print("WARNING: some runs saw non-2xx responses, errors or no requests; the numbers above are suspect.")
    sys.exit(2)
PY
