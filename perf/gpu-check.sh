#!/usr/bin/env bash
# GPU check for the device machines (NVIDIA H100/H200 with the CUDA driver and no .NET):
#   perf/gpu-check.sh publish      build kvtier-gpu-check self-contained + trimmed for linux-x64 into
#                                  artifacts/gpu-check/ (checks it stays under 64 MiB); needs the .NET 10 SDK
#   perf/gpu-check.sh run [args]   run the published binary (no .NET needed); writes artifacts/gpu-check/gpu-check.json
#                                  args go to the program: --size-mib N (1024) --iterations N (5) --require-gpu
#                                  --load-blocks N (192; 0 skips the GPU load) --load-model NAME (llama-3-8b)
# On the device machine: carry artifacts/gpu-check and run `perf/gpu-check.sh run --require-gpu`.
# What it checks: the GPU is found, a large mmap'ed buffer (the node arena's shape) registers with
# cuMemHostRegister, arena -> GPU -> host copies are byte-identical, and host-to-device GB/s from the pinned arena
# beside the same async copy from pageable memory and a synchronous cuMemcpyHtoD (what cudaMemcpy does); then the
# client's GPU load end to end: two in-process nodes on loopback hold 192 Llama-3-8B blocks (384 MiB), a KvTierClient
# loads them into GPU memory through KvTier.Client.Gpu (pinned staging, per-layer async copies and events), the
# device bytes are copied back and compared; GB/s beside the host-only load of the same blocks, per-layer times.
# Then, in a separate process, a GPUDirect RDMA probe (gpu-check-gpudirect.json): where the machine also has an RDMA
# NIC, a GPU buffer is registered with it (dma-buf, else nvidia-peermem) and read into over the NIC's loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=artifacts/gpu-check
LIMIT_MIB=64

publish() {
  rm -rf "$OUT"
  dotnet publish perf/KvTier.GpuCheck -c Release -r linux-x64 --self-contained true -p:PublishTrimmed=true \
    -p:PublishSingleFile=true -p:DebugType=none -o "$OUT" -nologo -v:quiet
  rm -f "$OUT"/*.xml
  local mib
  mib=$(du -sm "$OUT" | cut -f1)
  if [ "$mib" -gt "$LIMIT_MIB" ]; then
    echo "error: $OUT is $mib MiB, over the $LIMIT_MIB MiB the device machine accepts" >&2
    exit 1
  fi
  echo "published $OUT/kvtier-gpu-check ($mib MiB)"
}

run() {
  [ -x "$OUT/kvtier-gpu-check" ] || { echo "error: $OUT/kvtier-gpu-check missing; run '$0 publish' first" >&2; exit 1; }
  local output=${GPU_CHECK_OUTPUT:-$OUT/gpu-check.json}
  nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv 2>/dev/null || true
  echo "memlock limit: $(ulimit -l)"
  local rc=0
  "$OUT/kvtier-gpu-check" --output "$output" "$@" || rc=$?
  [ -f "$output" ] && { cat "$output"; echo; }
  # GPUDirect RDMA probe (needs an RDMA NIC as well): its own process, so a fault in a NIC driver cannot cost the
  # results above; it never changes the exit status.
  local direct=${output%.json}-gpudirect.json
  "$OUT/kvtier-gpu-check" --gpudirect-only --output "$direct" || echo "GPUDirect probe exited with status $?"
  [ -f "$direct" ] && { cat "$direct"; echo; }
  return $rc
}

case "${1:-}" in
  publish) publish ;;
  run) shift; run "$@" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
