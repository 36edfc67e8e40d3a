# Shared settings for the local infrastructure scripts. Sourced, not run.
# Every value can be overridden from the environment; the defaults keep all
# three services on loopback, on ports that do not collide with system-wide
# installs, with all state under one git-ignored folder of the repository.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA_DIR="${CATALOG_DATA_DIR:-$REPO_ROOT/.data}"

PG_PORT="${CATALOG_PG_PORT:-55432}"
REDIS_PORT="${CATALOG_REDIS_PORT:-56379}"
KAFKA_PORT="${CATALOG_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${CATALOG_KAFKA_CONTROLLER_PORT:-59093}"
# The local CDN (Varnish) in front of the gateway, and its purge endpoint's
# service id and token (the purger reads the same values).
CDN_PORT="${CATALOG_CDN_PORT:-56081}"
GATEWAY_ADDR="${CATALOG_GATEWAY_ADDR:-127.0.0.1:8080}"
CDN_SERVICE_ID="${CATALOG_CDN_SERVICE_ID:-local}"
CDN_PURGE_TOKEN="${CATALOG_CDN_PURGE_TOKEN:-local-purge-token}"

PG_DIR="$DATA_DIR/postgres"
REDIS_DIR="$DATA_DIR/redis"
KAFKA_DIR="$DATA_DIR/kafka"
# Kafka's jars (broker, tools, MirrorMaker): one copy, shared by every
# cluster started from this checkout.
KAFKA_LIBS="${KAFKA_LIBS:-$KAFKA_DIR/libs}"
VARNISH_DIR="$DATA_DIR/varnish"
RUN_DIR="$DATA_DIR/run"
LOG_DIR="$DATA_DIR/log"

# Kafka nodes: 1 (the default) or 3, a KRaft cluster of combined broker and
# controller nodes with a static quorum of the three. Without
# CATALOG_KAFKA_NODES it is what .data/kafka was formatted for (the file
# .data/kafka/nodes; up.sh writes it), else 1. Node 1 uses KAFKA_PORT and
# KAFKA_CONTROLLER_PORT, .data/kafka/data and .data/run/kafka.pid; node n
# (2, 3) the two ports 2(n-1) above them (59094/59095, 59096/59097),
# .data/kafka/node-n/ and .data/run/kafka-n.pid.
if [ -n "${CATALOG_KAFKA_NODES:-}" ]; then
  KAFKA_NODES="$CATALOG_KAFKA_NODES"
elif [ -s "$KAFKA_DIR/nodes" ]; then
  KAFKA_NODES="$(cat "$KAFKA_DIR/nodes")"
else
  KAFKA_NODES=1
fi
# kafka_port N / kafka_controller_port N / kafka_node_dir N / kafka_pid_file N /
# kafka_log N: node N's client port, controller port, folder (its
# server.properties and data/), pid file and log.
kafka_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
kafka_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }
kafka_node_dir() { if [ "$1" = 1 ]; then echo "$KAFKA_DIR"; else echo "$KAFKA_DIR/node-$1"; fi; }
kafka_pid_file() { if [ "$1" = 1 ]; then echo "$RUN_DIR/kafka.pid"; else echo "$RUN_DIR/kafka-$1.pid"; fi; }
kafka_log() { if [ "$1" = 1 ]; then echo "$LOG_DIR/kafka.log"; else echo "$LOG_DIR/kafka-$1.log"; fi; }
# KAFKA_BROKERS is catalog's default CATALOG_KAFKA_BROKERS: every node.
KAFKA_BROKERS=""
if [ "$KAFKA_NODES" = 1 ] || [ "$KAFKA_NODES" = 3 ]; then
  for _n in $(seq 1 "$KAFKA_NODES"); do
    KAFKA_BROKERS="${KAFKA_BROKERS:+$KAFKA_BROKERS,}127.0.0.1:$(kafka_port "$_n")"
  done
  unset _n
fi
KAFKA_BROKERS="${CATALOG_KAFKA_BROKERS:-$KAFKA_BROKERS}"

log() { printf '[local] %s\n' "$*" >&2; }
die() { printf '[local] error: %s\n' "$*" >&2; exit 1; }

# pid_alive FILE PATTERN: the pid in FILE is running and its command line
# contains PATTERN (so a recycled pid is never mistaken for ours).
pid_alive() {
  local file="$1" pattern="$2" pid
  [ -s "$file" ] || return 1
  pid="$(head -n1 "$file")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# stop_pid FILE PATTERN NAME: SIGTERM the process, wait up to 30 s, then SIGKILL.
stop_pid() {
  local file="$1" pattern="$2" name="$3" pid i
  if ! pid_alive "$file" "$pattern"; then
    rm -f "$file"
    log "$name: not running"
    return 0
  fi
  pid="$(head -n1 "$file")"
  log "$name: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ]; then
    log "$name: still running after 30 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# reserve_ports PORT...: takes the ports out of the kernel's ephemeral range
# (net.ipv4.ip_local_reserved_ports), so no outgoing connection is given one
# of them as its local port while its service is not listening yet; a Kafka
# node's own connection to its controller, made just before the node binds
# its client port, was seen taking that port. Our defaults lie inside Linux's
# ephemeral range (32768-60999). Needs root (or sudo); without it, a warning.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur want p
  [ -r "$f" ] || return 0
  cur="$(cat "$f")"
  want="$cur"
  for p in "$@"; do
    if ! printf ',%s,' "$cur" | grep -q ",$p,"; then
      want="${want:+$want,}$p"
    fi
  done
  [ "$want" = "$cur" ] && return 0
  if [ "$(id -u)" = 0 ]; then
    printf '%s' "$want" >"$f" 2>/dev/null || log "warning: could not reserve ports $* (net.ipv4.ip_local_reserved_ports)"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n sysctl -q -w "net.ipv4.ip_local_reserved_ports=$want" || log "warning: could not reserve ports $*"
  else
    log "warning: ports $* are not reserved (net.ipv4.ip_local_reserved_ports needs root); a busy machine may hand one to an outgoing connection"
  fi
}

