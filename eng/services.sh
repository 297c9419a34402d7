# Starts the services the tests need on free loopback ports and stops them afterwards. Sourced by build.sh.
# Tests find them through environment variables (KVTIER_TEST_REDIS=host:port).

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
  # Usage: start_redis NAME [extra redis-server arguments]; sets STARTED_PORT.
  # Not called through $(...): the pid must be recorded in this shell so that stop_test_services can stop it.
  local name=$1
  shift
  local port dir
  port=$(free_port)
  dir="$SERVICES_DIR/$name"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize no "$@" >/dev/null 2>&1 &
  SERVICE_PIDS+=($!)
  wait_for_redis "$port"
  STARTED_PORT=$port
}

start_test_services() {
  SERVICES_DIR=$(mktemp -d -t kvtier-services.XXXXXX)
  start_redis single
  export KVTIER_TEST_REDIS="127.0.0.1:$STARTED_PORT"
  echo "==> redis-server on $KVTIER_TEST_REDIS"
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
