#!/usr/bin/env bash
# docs/api.md documents exactly the routes the server answers: the rows of
# its route tables ("| METHOD | `/pattern...` |", the query string left
# out) and its "### WebSocket: `GET /pattern`" headings, against what the
# binary's router and WebSocket endpoints say (`livemart routes`). A route
# without a row, or a row without a route, fails the build's tests.
set -euo pipefail
bin=${1:?usage: api_doc_check.sh LIVEMART_BINARY PROJECT_ROOT}
root=${2:?usage: api_doc_check.sh LIVEMART_BINARY PROJECT_ROOT}
doc="$root/docs/api.md"

served=$("$bin" routes | sort -u)
documented=$({
  grep -oE '^\| (GET|POST|PUT|PATCH|DELETE) \| `[^`]+`' "$doc" | sed -E 's/^\| ([A-Z]+) \| `([^`?]+).*$/\1 \2/'
  grep -oE '^### WebSocket: `GET [^`]+`' "$doc" | sed -E 's/^### WebSocket: `(GET [^`]+)`$/\1/'
} | sort -u)

undocumented=$(comm -23 <(printf '%s\n' "$served") <(printf '%s\n' "$documented"))
vanished=$(comm -13 <(printf '%s\n' "$served") <(printf '%s\n' "$documented"))
status=0
if [[ -n $undocumented ]]; then
  echo "served but not in docs/api.md:" >&2
  echo "$undocumented" | sed 's/^/  /' >&2
  status=1
fi
if [[ -n $vanished ]]; then
  echo "in docs/api.md but not served:" >&2
  echo "$vanished" | sed 's/^/  /' >&2
  status=1
fi
if ((status == 0)); then
  echo "docs/api.md: all $(printf '%s\n' "$served" | wc -l) routes documented, none extra"
fi
exit "$status"
