#!/usr/bin/env bash
# Runs every test project under tests/ (xUnit v3 executables) and ends with one summary line:
#   "N passed, N failed, N skipped"
# Usage: eng/run-tests.sh CONFIGURATION [extra xUnit arguments, e.g. -class Name]
set -uo pipefail
configuration=${1:-Release}
shift || true
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0 broken=0
results_dir=$(mktemp -d -t kvtier-tests.XXXXXX)
for project in tests/*/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  assembly="$(dirname "$project")/bin/$configuration/net10.0/$name.dll"
  if [ ! -f "$assembly" ]; then
    echo "error: $assembly was not built" >&2
    broken=$((broken + 1))
    continue
  fi
  echo "==> $name"
  log="$results_dir/$name.log"
  dotnet "$assembly" -noColor "$@" 2>&1 | tee "$log" | grep -E '\[FAIL\]|\[SKIP\]|^\s+(Assert|System\.|Expected|Actual)|Total:' || true
  summary=$(grep -E "^\s*$name\s+Total:" "$log" | tail -1)
  if [ -z "$summary" ]; then
    echo "error: $name did not finish (see output above)" >&2
    tail -20 "$log" >&2
    broken=$((broken + 1))
    continue
  fi
  field() { grep -oE "$1: [0-9]+" <<<"$summary" | grep -oE '[0-9]+' || echo 0; }
  total=$(field Total)
  errors=$(field Errors)
  fails=$(field Failed)
  skips=$(field Skipped)
  notrun=$(field 'Not Run')
  passed=$((passed + total - fails - skips - notrun))
  failed=$((failed + fails + errors))
  skipped=$((skipped + skips + notrun))
done
rm -rf "$results_dir"
failed=$((failed + broken))
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
