#!/usr/bin/env bash
# Runs the verbs shim's data-path suite (native/build/kvtier_rdma_suite) against a REAL verbs provider: Debian's
# stock kernel booted under QEMU (software emulation) with Soft-RoCE (rdma_rxe) on a dummy interface, two RC QPs
# of one process on one rxe device. This machine's own kernel has no RDMA, hence the guest.
#
# Then (unless KVTIER_RXE_DOTNET=0) it publishes the self-contained C# check (perf/rdma-check.sh publish) and runs
# it in the guest, with no .NET there: the C# binding, the transport's parts, and a real node (gRPC control plane on
# the guest's loopback) with the real KvTierClient storing and loading over rxe0 (adds 40-60 s, most of it the publish).
#
# Exit status: 0 passed, 1 failed, 77 skipped (the reason is printed: no root/apt, qemu unusable, no shim built).
# A line "Soft-RoCE checks: N passed, N failed, N skipped", counts the guest's PASS/FAIL/SKIP lines (suite
# and C# check); eng/run-tests.sh adds them to the totals.
# Work folder (downloaded debs, unpacked kernel; reused between runs): $KVTIER_RXE_WORK, default /var/tmp/kvtier-rxe.
# Each run builds its image in its own folder under it, so concurrent runs (several worktrees) do not collide.
# Timeout for the guest: $KVTIER_RXE_TIMEOUT seconds (default 300).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
WORK=${KVTIER_RXE_WORK:-/var/tmp/kvtier-rxe}
GUEST_TIMEOUT=${KVTIER_RXE_TIMEOUT:-300}
SUITE=$ROOT/native/build/kvtier_rdma_suite
started=$(date +%s.%N)

run_dir=
skip() { echo "SKIP Soft-RoCE suite: $*"; [ -n "$run_dir" ] && rm -rf "$run_dir"; exit 77; }
elapsed() { awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[ -x "$SUITE" ] || skip "$SUITE is not built (cmake -S native -B native/build && cmake --build native/build)"
[ "$(uname -m)" = x86_64 ] || skip "the guest recipe is for x86_64 hosts (this is $(uname -m))"
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || skip "needs Debian's apt-get and dpkg-deb"
if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then skip "needs root (or passwordless sudo) to install qemu"; fi

# shellcheck source=../prerequisites.sh
source eng/prerequisites.sh
# apt_install exits on failure; run it in a subshell so that a missing qemu skips instead of failing the tests.
(apt_install qemu-system-x86 busybox-static iproute2 cpio) || skip "could not install qemu-system-x86, busybox-static, iproute2"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 missing after install"

mkdir -p "$WORK/debs"
kernel_package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$kernel_package" ] || skip "apt knows no linux-image-amd64 (add Debian's main archive)"
kernel_version=${kernel_package#linux-image-}
userspace=(libibverbs1 ibverbs-providers libnl-3-200 libnl-route-3-200)
need=()
for package in "$kernel_package" "${userspace[@]}"; do
  ls "$WORK/debs/${package}"_*.deb >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "    downloading ${need[*]} into $WORK/debs"
  (cd "$WORK/debs" && apt-get download "${need[@]}" >/dev/null 2>&1) || {
    (apt-get update -qq >/dev/null 2>&1; cd "$WORK/debs" && apt-get download "${need[@]}" >/dev/null 2>&1) ||
      skip "could not download ${need[*]} (no Debian mirror reachable?)"
  }
fi
if [ ! -d "$WORK/kernel/lib/modules/$kernel_version" ]; then
  rm -rf "$WORK/kernel" && mkdir -p "$WORK/kernel"
  dpkg-deb -x "$WORK/debs/${kernel_package}"_*.deb "$WORK/kernel"
fi
run_dir=$(mktemp -d "$WORK/run.XXXXXX")
trap 'rm -rf "$run_dir"' EXIT
mkdir -p "$run_dir/userspace"
for package in "${userspace[@]}"; do dpkg-deb -x "$WORK/debs/${package}"_*.deb "$run_dir/userspace"; done

# The initramfs: busybox, the rxe modules, libibverbs + providers from the debs, ip/rdma from the host, our suite.
image=$run_dir/initramfs
mkdir -p "$image"/{bin,etc,proc,sys,dev,tmp,modules,kvtier} "$image"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64}
ln -s usr/lib "$image/lib"
ln -s usr/lib64 "$image/lib64"
cp /bin/busybox "$image/bin/busybox"
ln -s busybox "$image/bin/sh"
cp -a "$run_dir/userspace/etc/libibverbs.d" "$image/etc/"
for dir in "$run_dir/userspace/usr/lib/x86_64-linux-gnu" "$run_dir/userspace/lib/x86_64-linux-gnu"; do
  [ -d "$dir" ] && cp -a "$dir/." "$image/usr/lib/x86_64-linux-gnu/"
done
cp "$(command -v ip)" "$(command -v rdma)" "$image/usr/sbin/"
cp "$SUITE" "$image/kvtier/"
dotnet_check=$ROOT/artifacts/rdma-check
if [ "${KVTIER_RXE_DOTNET:-1}" = 1 ]; then
  perf/rdma-check.sh publish | sed 's/^/    /' || { echo "FAIL Soft-RoCE suite: could not publish the C# check"; exit 1; }
  mkdir -p "$image/kvtier/dotnet"
  cp "$dotnet_check/kvtier-rdma-check" "$dotnet_check/libkvtier_rdma.so" "$image/kvtier/dotnet/"
fi
# Copy every shared library the binaries and providers need that the image does not hold yet.
for binary in "$image"/usr/sbin/* "$image"/kvtier/kvtier_rdma_suite "$image"/kvtier/dotnet/* "$image"/usr/lib/x86_64-linux-gnu/libibverbs/*.so \
  "$image"/usr/lib/x86_64-linux-gnu/libibverbs.so.1; do
  LD_LIBRARY_PATH=$image/usr/lib/x86_64-linux-gnu ldd "$binary" 2>/dev/null |
    awk '/=> \// { print $3 } /^[ \t]*\/lib64/ { print $1 }'
done | sort -u | while read -r library; do
  case $library in "$image"/*) continue ;; esac
  mkdir -p "$image$(dirname "$library")"
  cp -L "$library" "$image$library"
done
modules=$WORK/kernel/lib/modules/$kernel_version/kernel
# crc32_generic: rxe's ICRC needs the crypto "crc32" algorithm, a soft dependency its depends= line omits.
for module in crypto/crc32_generic net/ipv4/udp_tunnel net/ipv6/ip6_udp_tunnel drivers/infiniband/core/ib_core \
  drivers/infiniband/core/ib_uverbs drivers/infiniband/sw/rxe/rdma_rxe drivers/net/dummy; do
  file=$(ls "$modules/$module".ko* 2>/dev/null | head -1)
  [ -n "$file" ] || skip "the kernel package has no $module module"
  case $file in
    *.xz) xz -dc "$file" >"$image/modules/$(basename "$module").ko" ;;
    *.zst) zstd -qdc "$file" >"$image/modules/$(basename "$module").ko" ;;
    *) cp "$file" "$image/modules/$(basename "$module").ko" ;;
  esac
done
cp eng/rxe/guest-init.sh "$image/init"
chmod +x "$image/init"
(cd "$image" && find . | cpio -o -H newc --quiet | gzip -1 >"$run_dir/initrd.gz")
prepared=$(elapsed)

# KVM on some hosts (nested or pvm) cannot boot a stock kernel, so TCG: slower, but it runs everywhere.
log=$run_dir/guest.log
timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 1024 -nographic -nic none \
  -no-reboot -kernel "$WORK/kernel/boot/vmlinuz-$kernel_version" -initrd "$run_dir/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 rdinit=/init" </dev/null 2>&1 | tr -d '\r' >"$log"
qemu_status=${PIPESTATUS[0]}
# The last run's log stays where the messages below point (the run folder goes).
cp "$log" "$WORK/guest.log" 2>/dev/null && log=$WORK/guest.log
grep -E '^(PASS|FAIL|SKIP|PASSED|FAILED|GUEST|KVTIER|detect|port |READ|client over|RDMA-CHECK)' "$log" | sed 's/^/    /'
count() { grep -cE "^$1 " "$log"; }
echo "Soft-RoCE checks: $(count PASS) passed, $(count FAIL) failed, $(count SKIP) skipped"
result=$(grep -oE 'KVTIER-RXE-RESULT rc=[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
dotnet_result=$(grep -oE 'KVTIER-RXE-DOTNET rc=[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
echo "    prepare ${prepared}s, total $(elapsed)s (kernel $kernel_version, guest log $log)"
if [ -z "$result" ]; then
  if grep -q 'KVTIER-GUEST-UP' "$log"; then
    echo "FAIL Soft-RoCE suite: the guest started but gave no result (qemu status $qemu_status); see $log"
    exit 1
  fi
  if [ "$qemu_status" -eq 124 ] || ! grep -q 'Linux version' "$log"; then
    tail -5 "$log"
    skip "qemu could not boot the guest here (status $qemu_status)"
  fi
  echo "FAIL Soft-RoCE suite: no result marker (qemu status $qemu_status); see $log"
  exit 1
fi
if [ -n "$dotnet_result" ]; then
  [ "$dotnet_result" = 0 ] && echo "    C# check in the guest (binding, transport, node and client) passed" || echo "    C# check in the guest FAILED (rc=$dotnet_result)"
fi
if [ "$result" = 0 ] && [ "${dotnet_result:-0}" = 0 ]; then echo "PASS Soft-RoCE suite (real rdma_rxe verbs)"; exit 0; fi
echo "FAIL Soft-RoCE suite (rc=$result); see $log"
exit 1
