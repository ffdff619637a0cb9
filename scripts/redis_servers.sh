#!/usr/bin/env bash
# Starts or stops the Redis servers the redis backend tests use, on 127.0.0.1 only:
# one standalone server and a 3-node cluster (no replicas), each with AOF and
# appendfsync always, data under $SHARDKV_REDIS_DIR.
#
#   bash scripts/redis_servers.sh start    # idempotent: starts what is not running
#   bash scripts/redis_servers.sh stop     # stops all and removes the data directory
#   bash scripts/redis_servers.sh status
#
# Ports (the tests read the same variables, with the same defaults):
#   SHARDKV_REDIS_URL            redis://127.0.0.1:16379
#   SHARDKV_REDIS_CLUSTER_NODES  127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003
set -euo pipefail

DIR="${SHARDKV_REDIS_DIR:-${TMPDIR:-/tmp}/shardkv-redis}"
URL="${SHARDKV_REDIS_URL:-redis://127.0.0.1:16379}"
NODES="${SHARDKV_REDIS_CLUSTER_NODES:-127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003}"
STANDALONE_PORT="${URL##*:}"
STANDALONE_PORT="${STANDALONE_PORT%%/*}"
IFS=',' read -r -a CLUSTER <<<"$NODES"

port_of() { echo "${1##*:}"; }

ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

# Starts one redis-server on port $1 in $DIR/$1 unless it already answers; extra args follow.
start_server() {
  local port="$1"
  shift
  if ping "$port"; then return 0; fi
  mkdir -p "$DIR/$port"
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
    --dir "$DIR/$port" --daemonize yes --pidfile "$DIR/$port/redis.pid" \
    --logfile "$DIR/$port/redis.log" --save "" \
    --appendonly yes --appendfsync always "$@"
  for _ in $(seq 1 100); do
    if ping "$port"; then return 0; fi
    sleep 0.05
  done
  echo "redis-server on port $port did not start; see $DIR/$port/redis.log" >&2
  return 1
}

cluster_ok() {
  redis-cli -h 127.0.0.1 -p "$(port_of "${CLUSTER[0]}")" cluster info 2>/dev/null |
    grep -q 'cluster_state:ok'
}

start() {
  command -v redis-server >/dev/null || {
    echo "redis-server not found: apt-get install -y redis-server redis-tools" >&2
    exit 1
  }
  start_server "$STANDALONE_PORT"
  for node in "${CLUSTER[@]}"; do
    start_server "$(port_of "$node")" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 5000
  done
  if ! cluster_ok; then
    local known
    known=$(redis-cli -h 127.0.0.1 -p "$(port_of "${CLUSTER[0]}")" cluster info |
      sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')
    if [ "$known" = "1" ]; then
      redis-cli --cluster create "${CLUSTER[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
    fi
    for _ in $(seq 1 200); do
      if cluster_ok; then break; fi
      sleep 0.05
    done
    cluster_ok || { echo "cluster did not reach cluster_state:ok" >&2; exit 1; }
  fi
  echo "redis standalone: $URL"
  echo "redis cluster: $NODES"
}

stop() {
  for port in "$STANDALONE_PORT" $(for n in "${CLUSTER[@]}"; do port_of "$n"; done); do
    if ping "$port"; then redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true; fi
  done
  rm -rf "$DIR"
}

status() {
  for port in "$STANDALONE_PORT" $(for n in "${CLUSTER[@]}"; do port_of "$n"; done); do
    if ping "$port"; then echo "$port up"; else echo "$port down"; fi
  done
  if cluster_ok; then echo "cluster ok"; else echo "cluster not ok"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
