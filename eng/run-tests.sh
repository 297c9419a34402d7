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

# Native shim tests (CTest: the fake-device data path and the exported-symbol check), counted like the others.
if [ -f native/build/CTestTestfile.cmake ]; then
  echo "==> native (CTest)"
  log="$results_dir/native.log"
  (cd native/build && ctest --output-on-failure --timeout 120) >"$log" 2>&1 || true
  grep -E '\*\*\*|Failed|tests passed' "$log" || true
  native_total=$(grep -oE 'tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  native_failed=$(grep -oE '[0-9]+ tests failed' "$log" | grep -oE '^[0-9]+' || echo 0)
  if [ "${native_total:-0}" -eq 0 ]; then
    echo "error: CTest did not run" >&2
    tail -20 "$log" >&2
    broken=$((broken + 1))
  else
    passed=$((passed + native_total - native_failed))
    failed=$((failed + native_failed))
  fi
fi
# Adds a script's own "<Label> checks: N passed, N failed, N skipped" line to the totals (77: skipped as one); a
# failure outside its counted checks (a guest that crashed, a check that gave no result) counts as one more.
add_checks() {
  local label=$1 log=$2 status=$3 counts checks_passed checks_failed checks_skipped
  counts=$(grep -oE "^$label checks: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped" "$log" | tail -1 | grep -oE '[0-9]+' | tr '\n' ' ')
  if [ "$status" -eq 77 ]; then
    skipped=$((skipped + 1))
  elif [ -n "$counts" ]; then
    read -r checks_passed checks_failed checks_skipped <<<"$counts"
    passed=$((passed + checks_passed))
    skipped=$((skipped + checks_skipped))
    failed=$((failed + checks_failed))
    if [ "$status" -ne 0 ] && [ "$checks_failed" -eq 0 ]; then failed=$((failed + 1)); fi
  elif [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
}
# Real verbs: the shim's suite and the C# check (binding, transport, node + client) against Soft-RoCE in a QEMU guest
# (skips with a reason where qemu cannot run).
if [ -x eng/rxe/run-rxe-tests.sh ] && [ "${KVTIER_SKIP_RXE:-0}" != 1 ]; then
  echo "==> native and C# on Soft-RoCE (QEMU guest)"
  log="$results_dir/rxe.log"
  eng/rxe/run-rxe-tests.sh 2>&1 | tee "$log"
  add_checks Soft-RoCE "$log" "${PIPESTATUS[0]}"
fi
# The Helm chart rendered by real Helm (skips with a reason where none can be had).
if [ -x eng/chart-check.sh ]; then
  echo "==> Helm chart (helm lint, helm template)"
  log="$results_dir/chart.log"
  eng/chart-check.sh 2>&1 | tee "$log"
  add_checks Chart "$log" "${PIPESTATUS[0]}"
fi
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
