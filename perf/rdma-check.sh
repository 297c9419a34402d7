#!/usr/bin/env bash
# RDMA check through the C# binding on a real device (no .NET needed where it runs):
#   perf/rdma-check.sh publish        self-contained linux-x64 single file into artifacts/rdma-check/ with the shim
#   perf/rdma-check.sh run [args]     run it: --device NAME (default: first), --seconds N (throughput loop, default 1)
# eng/rxe/run-rxe-tests.sh also runs the published build inside its Soft-RoCE guest when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=artifacts/rdma-check
case "${1:-}" in
  publish)
    [ -f native/build/libkvtier_rdma.so ] || { echo "error: build native/ first (./build.sh)" >&2; exit 1; }
    rm -rf "$OUT"
    # Untrimmed (about 100 MiB): the runtime's and ASP.NET Core's assemblies keep their precompiled (ReadyToRun) code,
    # so the Soft-RoCE guest, whose CPU is emulated, does not JIT Kestrel and gRPC. Trimmed (23 MiB) drops that
    # code: the node then took 27 s to start in the guest instead of 6-12 s; trimmed and recompiled with ReadyToRun
    # (49 MiB) starts as fast but publishes about 1.6x slower (perf/RESULTS.md, "RDMA and GPU").
    dotnet publish perf/KvTier.RdmaCheck -c Release -r linux-x64 --self-contained true -p:PublishTrimmed=false \
      -p:PublishSingleFile=true -o "$OUT" -nologo -v:quiet
    # Not -p:DebugType=none: that global property rebuilds the referenced libraries into their usual bin folders
    # without symbols, under a build or test run of the same worktree.
    rm -f "$OUT"/*.xml "$OUT"/*.pdb
    cp native/build/libkvtier_rdma.so "$OUT/"
    echo "published $OUT/kvtier-rdma-check ($(du -sm "$OUT" | cut -f1) MiB)"
    ;;
  run)
    shift
    "$OUT/kvtier-rdma-check" "$@"
    ;;
  *) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
