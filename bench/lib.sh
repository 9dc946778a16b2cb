# bench/lib.sh: what the bench scripts share. Source it after defining
# `die`. It makes a work directory ($workdir) and tracks the processes a
# script starts ($pids, and $load_pid for the running load generator), all
# of which end with the script; wait_for_port learns a server's port from
# the line it prints.

workdir=$(mktemp -d "${TMPDIR:-/tmp}/livemart-bench.XXXXXX")
pids=()
load_pid=""

cleanup() {
  local pid i
  if [[ -n $load_pid ]]; then kill -TERM "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for_port NAME PID STDOUT STDERR PREFIX: prints the port once STDOUT has
# a line "<PREFIX><port>"; gives up after 30 s or when PID exits.
wait_for_port() {
  local name=$1 pid=$2 out=$3 err=$4 prefix=$5 port
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    # The port's digits end at the first non-digit (more fields may follow).
    port=$(sed -n "s|^.*${prefix}\([0-9]\{1,5\}\)\([^0-9].*\)\{0,1\}\$|\1|p" "$out" | head -n 1)
    if [[ -n $port ]]; then
      echo "$port"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "${0##*/}: $name exited before listening; its stderr:" >&2
      tail -n 20 "$err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "${0##*/}: $name printed no '${prefix//\\/}<port>' line within 30 s (is stdout flushed?); its stderr:" >&2
  tail -n 20 "$err" >&2
  return 1
}


# run_load TARGET ROUND URL [EXTRA FLAGS...]: one bench_http_load run with
# $connections, $load_threads, $duration and $warmup; prints its RESULT line
# and appends "TARGET ROUND RESULT..." to $results.
run_load() {
  local target=$1 round=$2 url=$3 line
  shift 3
  # In the background + wait, so a signal to this script is handled at once.
  "$load_bin" --url="$url" --connections="$connections" --threads="$load_threads" \
    --duration-s="$duration" --warmup-s="$warmup" --label="${target}_r${round}" "$@" \
    >"$workdir/load.out" 2>>"$workdir/load.err" &
  load_pid=$!
  wait "$load_pid" || true
  load_pid=""
  line=$(grep '^RESULT ' "$workdir/load.out" || true)
  [[ -n $line ]] || die "bench_http_load printed no RESULT for $target (round $round): $(tail -n 5 "$workdir/load.err")"
  echo "$line"
  echo "$target $round $line" >>"$results"
}


# bench_database NAME: a throwaway database NAME_<pid> in the cluster of
# DATABASE_URL, migrated by $LIVEMART_BIN, with an admin ($admin_email,
# $admin_password); exports DATABASE_URL for it ($bench_url) and drops it
# when the script ends.
bench_database() {
  dbname=$1_$$
  psql "$DATABASE_URL" -qAt -c "CREATE DATABASE $dbname" >/dev/null || die "cannot create database $dbname"
  bench_url="$DATABASE_URL dbname=$dbname"
  drop_database() { psql "$DATABASE_URL" -qAt -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null 2>&1 || true; }
  trap 'cleanup; drop_database' EXIT
  export DATABASE_URL=$bench_url
  "$LIVEMART_BIN" migrate >"$workdir/migrate.out" 2>&1 || die "migrate failed: $(tail -n 5 "$workdir/migrate.out")"
  admin_email=bench.admin@example.com
  admin_password="bench-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  LIVEMART_ADMIN_PASSWORD=$admin_password "$LIVEMART_BIN" create-admin "$admin_email" >/dev/null ||
    die "create-admin failed"
}

# wait_for_search URL: returns once GET URL/products answers 200 (the search
# index is loaded; a node serves while it loads, answering 503), or fails
# after 300 s. Prints the seconds waited.
wait_for_search() {
  local url=$1 started=$SECONDS status
  while ((SECONDS - started < 300)); do
    status=$(curl --silent --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "$url/products?limit=1" || echo 000)
    if [[ $status == 200 ]]; then
      echo $((SECONDS - started))
      return 0
    fi
    sleep 0.2
  done
  echo "${0##*/}: the search index of $url did not load within 300 s" >&2
  return 1
}
