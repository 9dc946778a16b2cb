#!/usr/bin/env bash
# CTest learns Catch2's tests through a CMake list, where ';' separates
# entries: a test name with ';' becomes two names that match no test, and
# the test it meant never runs (it "passes" in no time). Refuse them.
set -euo pipefail
root=${1:?usage: test_names_check.sh PROJECT_ROOT}
bad=$(grep -rnE 'TEST_CASE\("[^"]*;' "$root/tests" --include='*.cpp' || true)
if [[ -n $bad ]]; then
  echo "test names with ';' (CTest would split them and run nothing):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "test names: none has a ';'"
