# Starts the services the tests need on free loopback ports and stops them afterwards. Sourced by build.sh.
# Tests find them through environment variables: KVTIER_TEST_REDIS=host:port (one redis-server) and
# KVTIER_TEST_REDIS_CLUSTER=host:port,host:port,host:port (a three-master Redis Cluster, no replicas).

SERVICES_DIR=""
SERVICE_PIDS=()

free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "error: found no free loopback port" >&2
  return 1
}

free_cluster_port() {
  # A cluster node also listens on its bus port, port + 10000; both must be free and below 65536.
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 35000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "error: found no free loopback port pair for a cluster node" >&2
  return 1
}

wait_for_redis() {
  local port=$1
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "error: redis-server on port $port did not answer" >&2
  return 1
}

start_redis() {
  # Usage: start_redis NAME [extra redis-server arguments]; sets STARTED_PORT. PORT_PICKER may name another picker.
  # Not called through $(...): the pid must be recorded in this shell so that stop_test_services can stop it.
  local name=$1
  shift
  local port dir
  port=$(${PORT_PICKER:-free_port})
  dir="$SERVICES_DIR/$name"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize no "$@" >/dev/null 2>&1 &
  SERVICE_PIDS+=($!)
  wait_for_redis "$port"
  STARTED_PORT=$port
}

start_redis_cluster() {
  # Three masters in cluster mode on free loopback ports; sets STARTED_CLUSTER (host:port,host:port,host:port).
  local endpoints=() name
  for name in cluster-a cluster-b cluster-c; do
    PORT_PICKER=free_cluster_port start_redis "$name" --cluster-enabled yes --cluster-config-file "$SERVICES_DIR/$name/nodes.conf" \
      --cluster-node-timeout 15000
    endpoints+=("127.0.0.1:$STARTED_PORT")
  done
  redis-cli --cluster create "${endpoints[@]}" --cluster-replicas 0 --cluster-yes >"$SERVICES_DIR/cluster-create.log" 2>&1 || {
    echo "error: redis-cli --cluster create failed:" >&2
    cat "$SERVICES_DIR/cluster-create.log" >&2
    return 1
  }
  local port
  for port in "${endpoints[@]##*:}"; do
    for _ in $(seq 1 100); do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
      sleep 0.1
    done
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || {
      echo "error: the Redis Cluster node on port $port did not reach cluster_state:ok" >&2
      return 1
    }
  done
  STARTED_CLUSTER=$(IFS=,; echo "${endpoints[*]}")
}

start_test_services() {
  SERVICES_DIR=$(mktemp -d -t kvtier-services.XXXXXX)
  start_redis single
  export KVTIER_TEST_REDIS="127.0.0.1:$STARTED_PORT"
  echo "==> redis-server on $KVTIER_TEST_REDIS"
  start_redis_cluster
  export KVTIER_TEST_REDIS_CLUSTER="$STARTED_CLUSTER"
  echo "==> Redis Cluster (3 masters) on $KVTIER_TEST_REDIS_CLUSTER"
}

stop_test_services() {
  for pid in "${SERVICE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVICE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  SERVICE_PIDS=()
  [ -n "$SERVICES_DIR" ] && rm -rf "$SERVICES_DIR"
}
