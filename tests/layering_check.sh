#!/usr/bin/env bash
# The table in docs/architecture.md ("Modules and the direction of
# dependencies"): each third-party library has one home, and each module
# includes only the modules it may. This check fails on any other include.
set -euo pipefail
root=${1:?usage: layering_check.sh SOURCE_DIR}
cd "$root"
status=0
check() {
  local pattern=$1 allowed=$2 hits
  hits=$(grep -rlE "#include <$pattern" --include='*.cpp' --include='*.hpp' \
           app actors conf http persistence protocol | grep -vE "^($allowed)/" || true)
  if [[ -n $hits ]]; then
    echo "FAIL: <$pattern...> included outside $allowed/:"
    echo "$hits" | sed 's/^/  /'
    status=1
  fi
}
check 'boost/(beast|asio)' 'http'
check 'libpq-fe\.h' 'persistence'
check 'simdjson' 'protocol/support'
check 'sodium' 'actors|app'
# And the direction: who may include each of our modules.
check 'http/' 'http|app'
check 'actors/' 'actors|http|app'
check 'persistence/' 'persistence|actors|app'
check 'protocol/' 'protocol|persistence|actors|http|app'
check 'conf/' 'conf|protocol/domain|protocol/wire|persistence|actors|http|app'
# Inside protocol/: support <- domain <- wire. The three parts share the
# <protocol/...> prefix, so a part is told by the directory a header is in.
check 'protocol/wire/' 'protocol/wire|persistence|actors|http|app'
check 'protocol/json\.hpp' 'protocol/support|protocol/wire|persistence|actors|http|app'
domain_headers=$(cd protocol/domain/include/protocol && ls -- *.hpp | sed 's/\.hpp$//' | paste -sd '|')
check "protocol/($domain_headers)\\.hpp" 'protocol/domain|protocol/wire|persistence|actors|http|app'
[[ $status -eq 0 ]] && echo "layering: ok"
exit $status
