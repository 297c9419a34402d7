#!/bin/sh
# PID 1 of the Soft-RoCE guest (see run-rxe-tests.sh): bring up rxe0 on a dummy interface, run the shim's suite
# against it, print one result marker on the serial console and power off.
export PATH=/usr/sbin:/usr/bin:/bin LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "KVTIER-GUEST-UP at $(cut -d' ' -f1 /proc/uptime)s"
finish() {
  echo "KVTIER-RXE-RESULT rc=$1"
  poweroff -f
}
for module in crc32_generic ib_core ib_uverbs udp_tunnel ip6_udp_tunnel rdma_rxe; do
  insmod /modules/$module.ko || { echo "GUEST insmod $module failed"; finish 90; }
done
# numdummies=0: otherwise dummy.ko creates dummy0 itself and "ip link add" fails.
insmod /modules/dummy.ko numdummies=0 || finish 91
ulimit -l unlimited
ip link set lo up
ip link add dummy0 type dummy && ip addr add 10.0.0.1/24 dev dummy0 && ip link set dummy0 up || finish 92
rdma link add rxe0 type rxe netdev dummy0 || { echo "GUEST rdma link add failed"; finish 93; }
echo "GUEST rxe0 up at $(cut -d' ' -f1 /proc/uptime)s"
/kvtier/kvtier_rdma_suite --device rxe0
status=$?
echo "GUEST suite done at $(cut -d' ' -f1 /proc/uptime)s"
if [ -x /kvtier/dotnet/kvtier-rdma-check ]; then
  # The C# binding, self-contained (no .NET in the guest); its lines go to the console as they are.
  DOTNET_CLI_TELEMETRY_OPTOUT=1 /kvtier/dotnet/kvtier-rdma-check --device rxe0 --seconds 1
  echo "KVTIER-RXE-DOTNET rc=$?"
  echo "GUEST C# check done at $(cut -d' ' -f1 /proc/uptime)s"
fi
finish $status
