#!/usr/bin/env bash
# Each third-party library has one home (docs/architecture.md): this check
# fails when an include shows up anywhere else.
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
check 'simdjson' 'protocol'
# And the direction: lower layers never include higher ones.
check 'http/' 'http|app'
check 'actors/' 'actors|http|app'
check 'persistence/' 'persistence|actors|http|app'
[[ $status -eq 0 ]] && echo "layering: ok"
exit $status
