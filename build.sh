#!/usr/bin/env bash
# KvTier build entry point.
#   ./build.sh          restore and build everything (native code included once it exists)
#   ./build.sh test     format check, build, every test project with its services, summary line
#   ./build.sh run      the main job on the embedded default (in-process directory and node)
#   ./build.sh bench    the BenchmarkDotNet micro-benchmarks (extra arguments go to BenchmarkDotNet)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
CONFIGURATION=${CONFIGURATION:-Release}

source eng/prerequisites.sh
source eng/services.sh

build_native() {
  [ -f native/CMakeLists.txt ] || return 0
  command -v cmake >/dev/null 2>&1 || apt_install cmake libibverbs-dev
  echo "==> Building native/ (CMake)"
  cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build native/build -j "$(nproc)" >/dev/null
}

build_all() {
  require_dotnet
  build_native
  echo "==> Building ($CONFIGURATION)"
  dotnet build KvTier.sln -c "$CONFIGURATION" -nologo -clp:ErrorsOnly -v:minimal
}

command=${1:-build}
[ $# -gt 0 ] && shift
case "$command" in
  build)
    build_all
    ;;
  test)
    require_dotnet
    require_test_packages
    echo "==> Checking formatting (dotnet format --verify-no-changes)"
    dotnet format KvTier.sln --verify-no-changes -v:quiet || {
      echo "error: formatting differs from .editorconfig; run 'dotnet format KvTier.sln' and commit the result." >&2
      exit 1
    }
    build_all
    # The trap comes first, so a service that fails to start does not leave the others running.
    trap stop_test_services EXIT
    start_test_services
    eng/run-tests.sh "$CONFIGURATION" "$@"
    ;;
  run)
    build_all
    # The report's charts need a font; Debian's minimal images have none.
    [ -d /usr/share/fonts/truetype/dejavu ] || apt_install fonts-dejavu-core
    echo "==> Running the main job (prefill savings on a synthetic workload; kvtier savings --help for options)"
    dotnet "src/KvTier.Cli/bin/$CONFIGURATION/net10.0/kvtier.dll" savings "$@"
    ;;
  bench)
    require_dotnet
    [ $# -eq 0 ] && set -- --filter '*'
    echo "==> Running benchmarks ($*)"
    dotnet run -c Release --project perf/KvTier.Benchmarks -- "$@"
    ;;
  -h|--help|help)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    echo "error: unknown command '$command' (use build, test, run or bench)" >&2
    exit 2
    ;;
esac
