#!/usr/bin/env bash
# Smoke run of the benchmark tools so they never rot: the fixed server and
# the load generator, then the WebSocket broadcast server and the fan-out
# client, each for about a second on loopback. It checks that they
# work, never how fast (figures come from bench/run.sh, not from tests).
set -euo pipefail
build=${1:?usage: smoke.sh BUILD_DIR}
coproc SERVER { exec "$build/bench/bench_fixed_server" --port=0; }
server=$SERVER_PID
trap 'kill "$server" 2>/dev/null || true' EXIT
# Await the server's one line (it prints it once it listens).
read -r -t 10 line <&"${SERVER[0]}" || { echo "fixed server did not start"; exit 1; }
port=${line##*:}
[[ $port =~ ^[0-9]+$ ]] || { echo "unexpected line: $line"; exit 1; }
result=$("$build/bench/bench_http_load" --url="http://127.0.0.1:$port/" --connections=4 --duration-s=1 --warmup-s=0 --label=smoke)
echo "$result"
requests=$(sed -n 's/.* requests=\([0-9]*\) .*/\1/p' <<<"$result")
errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$result")
[[ ${requests:-0} -gt 0 && ${errors:-1} -eq 0 ]]

kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true # bash runs one coprocess at a time

# The WebSocket fan-out pair: 20 viewers read 50 messages from the bare
# broadcast server, two reader threads, and all end on the last value.
coproc BARE { exec "$build/bench/bench_ws_bare" --viewers=20 --rate=50 --count=50 --message-bytes=300; }
bare=$BARE_PID
trap 'kill "$server" "$bare" 2>/dev/null || true' EXIT
read -r -t 10 line <&"${BARE[0]}" || { echo "bench_ws_bare did not start"; exit 1; }
port=${line##* }
[[ $port =~ ^[0-9]+$ ]] || { echo "unexpected line: $line"; exit 1; }
result=$("$build/bench/bench_ws_fanout" --port="$port" --target=/ --viewers=20 --rate=1 --duration-s=1 --settle-ms=500 \
  --final=$((1000000000 - 50)) --reader-threads=2 --label=smoke)
echo "$result"
[[ $result == *" connected=20 "* && $result == *" viewers_on_final=20 "* ]]
