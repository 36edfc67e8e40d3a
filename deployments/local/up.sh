#!/usr/bin/env bash
# Installs (when missing) and starts PostgreSQL, Redis and Apache Kafka
# (KRaft: one node, or three with CATALOG_KAFKA_NODES=3) on loopback. Idempotent: a service that is
# already running is left alone. All data and logs live under $DATA_DIR.
#
# Sourced (rather than run) it only defines its functions, which read the
# data folders and ports env.sh derives from CATALOG_DATA_DIR,
# CATALOG_PG_PORT, CATALOG_REDIS_PORT and CATALOG_KAFKA_*PORT:
# deployments/regions/up.sh starts a region's services with them.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# --- packages ---------------------------------------------------------------
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
install_packages() {
missing=()
[ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/postgres" ] || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
# kcat: the generic Kafka client analysts use on the stream (and a test does).
command -v kcat >/dev/null || missing+=(kcat)
# Varnish with vmod xkey: the local CDN in front of the gateway.
command -v varnishd >/dev/null || missing+=(varnish)
ls /usr/lib/*/varnish/vmods/libvmod_xkey.so >/dev/null 2>&1 || missing+=(varnish-modules)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian's packages"
  as_root apt-get update -qq
  # A policy-rc.d that answers 101 keeps the packages' own init scripts from
  # starting system-wide services: ours run on their own ports with their own
  # data, and `make down` must stop everything this script started.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$LOG_DIR/apt.log" 2>&1 || rc=$?
  [ -n "$policy_added" ] && as_root rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { tail -n 30 "$LOG_DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
fi
}

# --- PostgreSQL --------------------------------------------------------------
pg_as() {
  # PostgreSQL refuses to run as root; as root we run it as the postgres user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_postgres() {
  PG_BIN="$(pg_bindir)"
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DIR"; chmod 700 "$PG_DIR"; fi
  if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
    log "postgres: initialising $PG_DIR/data"
    pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$LOG_DIR/postgres-initdb.log" 2>&1 || { cat "$LOG_DIR/postgres-initdb.log" >&2; die "initdb failed"; }
  fi
  if pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    log "postgres: already running on 127.0.0.1:$PG_PORT"
    # wal_level=logical lets regions subscribe to the API clients tables
    # (catalog clients replicate); a server started before needs a restart.
    if [ "$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc 'show wal_level' 2>/dev/null)" != logical ]; then
      log "postgres: runs without wal_level=logical, so regions cannot replicate its API clients until it restarts (make down && make up)"
    fi
  else
    log "postgres: starting on 127.0.0.1:$PG_PORT"
    touch "$LOG_DIR/postgres.log"; [ "$(id -u)" = 0 ] && chown postgres: "$LOG_DIR/postgres.log"
    # The WAL settings are the usual ones of a server with writes at this
    # rate: without them a 1M-track catalogue checkpoints every minute and
    # most of the WAL is full-page images (each page's first change after a
    # checkpoint), and lz4 shrinks those it still writes. A region's
    # replication slot (catalog clients replicate) keeps WAL until the region
    # reads it: max_slot_wal_keep_size bounds what a stopped region can hold
    # back (unbounded, a region left stopped filled the disk with 55 GB of WAL
    # and PostgreSQL stopped).
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$LOG_DIR/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories='$PG_DIR' -c max_connections=200 -c fsync=on -c wal_level=logical -c shared_buffers=1GB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_compression=lz4 -c max_slot_wal_keep_size=8GB" \
      start >/dev/null || { tail -n 30 "$LOG_DIR/postgres.log" >&2; die "postgres did not start"; }
  fi
  for _ in $(seq 1 100); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.2
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres is not accepting connections"
  if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "select 1 from pg_database where datname='catalog'" | grep -q 1; then
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres catalog
  fi
}

# --- Redis -------------------------------------------------------------------
start_redis() {
  mkdir -p "$REDIS_DIR"
  if pid_alive "$RUN_DIR/redis.pid" redis-server; then
    log "redis: already running on 127.0.0.1:$REDIS_PORT"
    # A server started with Redis's persistence defaults takes these settings.
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config set save "" auto-aof-rewrite-min-size 1gb >/dev/null 2>&1 || true
    return
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by another process"
  log "redis: starting on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --dir "$REDIS_DIR" --daemonize yes --pidfile "$RUN_DIR/redis.pid" \
    --logfile "$LOG_DIR/redis.log" --appendonly yes --save "" --auto-aof-rewrite-min-size 1gb --maxmemory 256mb --maxmemory-policy allkeys-lru
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return
    sleep 0.1
  done
  die "redis did not answer PING"
}

# --- Kafka -------------------------------------------------------------------
kafka_jars() {
  local pom="$REPO_ROOT/deployments/pom.xml" stamp="$KAFKA_LIBS/.pom.sha256" sum
  sum="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return; fi
  log "kafka: fetching the broker's jars from Maven Central (deployments/pom.xml)"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -B -q -f "$pom" dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS" \
    >"$LOG_DIR/maven.log" 2>&1 || { tail -n 30 "$LOG_DIR/maven.log" >&2; die "maven could not fetch Kafka's jars"; }
  echo "$sum" >"$stamp"
}
# kafka_nodes_check: KAFKA_NODES is 1 or 3, and .data/kafka, if formatted,
# was formatted for as many nodes (a KRaft quorum's voters are fixed when
# its storage is formatted: switching needs fresh Kafka data).
kafka_nodes_check() {
  case "$KAFKA_NODES" in
    1|3) ;;
    *) die "CATALOG_KAFKA_NODES=$KAFKA_NODES: want 1 or 3 (make up KAFKA_NODES=3)" ;;
  esac
  local formatted=""
  if [ -s "$KAFKA_DIR/nodes" ]; then
    formatted="$(cat "$KAFKA_DIR/nodes")"
  elif [ -f "$KAFKA_DIR/data/meta.properties" ]; then
    formatted=1 # formatted before 3-node clusters existed: one node
  fi
  if [ -n "$formatted" ] && [ "$formatted" != "$KAFKA_NODES" ]; then
    die "kafka: $KAFKA_DIR holds a $formatted-node cluster, and $KAFKA_NODES node(s) were asked for. A KRaft cluster's controller quorum is fixed when its storage is formatted, so switching needs new Kafka data: keep KAFKA_NODES=$formatted, or run make clean-data (it deletes every service's data, so the event log and the read models stay consistent) and then make up KAFKA_NODES=$KAFKA_NODES"
  fi
}
start_kafka() {
  mkdir -p "$KAFKA_DIR"
  kafka_nodes_check
  local n running=0
  for n in $(seq 1 "$KAFKA_NODES"); do
    pid_alive "$(kafka_pid_file "$n")" "$(kafka_node_dir "$n")/server.properties" && running=$((running + 1))
  done
  if [ "$running" = "$KAFKA_NODES" ]; then
    log "kafka: already running on $KAFKA_BROKERS"
    return
  fi
  kafka_jars
  local voters="" rf="$KAFKA_NODES" min_isr=1
  [ "$KAFKA_NODES" -ge 3 ] && min_isr=2
  for n in $(seq 1 "$KAFKA_NODES"); do
    voters="${voters:+$voters,}$n@127.0.0.1:$(kafka_controller_port "$n")"
  done
  # One node has a heap of 768 MiB; three share the machine with 512 each.
  local heap=768m
  [ "$KAFKA_NODES" -ge 3 ] && heap=512m
  local java=(java -Xms256m "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true
              "-Dlog4j2.configurationFile=$REPO_ROOT/deployments/local/log4j2.properties"
              -cp "$KAFKA_LIBS/*")
  local cluster_id=""
  for n in $(seq 1 "$KAFKA_NODES"); do
    local dir props
    dir="$(kafka_node_dir "$n")"; props="$dir/server.properties"
    mkdir -p "$dir"
    sed -e "s|@BROKER_PORT@|$(kafka_port "$n")|g" -e "s|@CONTROLLER_PORT@|$(kafka_controller_port "$n")|g" \
        -e "s|@LOG_DIR@|$dir/data|g" -e "s|@NODE_ID@|$n|g" -e "s|@VOTERS@|$voters|g" \
        -e "s|@REPLICATION@|$rf|g" -e "s|@MIN_ISR@|$min_isr|g" \
        "$REPO_ROOT/deployments/local/server.properties" >"$props"
    if [ ! -f "$dir/data/meta.properties" ]; then
      # Every node of a cluster is formatted with the same cluster id.
      if [ -z "$cluster_id" ]; then
        cluster_id="$("${java[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/kafka-format.log")"
      fi
      log "kafka: formatting node $n's storage (cluster $cluster_id)"
      "${java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$props" \
        --ignore-formatted >>"$LOG_DIR/kafka-format.log" 2>&1 || { cat "$LOG_DIR/kafka-format.log" >&2; die "kafka storage format failed"; }
    fi
  done
  echo "$KAFKA_NODES" >"$KAFKA_DIR/nodes"
  # Every node starts at once: a node of a quorum does not finish starting
  # until a majority of the controllers run.
  for n in $(seq 1 "$KAFKA_NODES"); do
    local props pidf logf
    props="$(kafka_node_dir "$n")/server.properties"; pidf="$(kafka_pid_file "$n")"; logf="$(kafka_log "$n")"
    if pid_alive "$pidf" "$props"; then
      log "kafka: node $n already running on 127.0.0.1:$(kafka_port "$n")"
      continue
    fi
    port_open "$(kafka_port "$n")" && die "port $(kafka_port "$n") is taken by another process"
    log "kafka: starting node $n on 127.0.0.1:$(kafka_port "$n") (KRaft, broker+controller, controller port $(kafka_controller_port "$n"))"
    : >"$logf"
    setsid nohup "${java[@]}" kafka.Kafka "$props" >>"$logf" 2>&1 </dev/null &
    echo $! >"$pidf"
  done
  local ready
  for _ in $(seq 1 900); do
    ready=0
    for n in $(seq 1 "$KAFKA_NODES"); do
      local logf
      logf="$(kafka_log "$n")"
      pid_alive "$(kafka_pid_file "$n")" "$(kafka_node_dir "$n")/server.properties" \
        || { tail -n 40 "$logf" >&2; die "kafka node $n exited during start-up (log: $logf)"; }
      if grep -q "Kafka Server started" "$logf" && port_open "$(kafka_port "$n")"; then
        ready=$((ready + 1))
      fi
    done
    if [ "$ready" = "$KAFKA_NODES" ]; then
      log "kafka: ready ($KAFKA_BROKERS)"
      return
    fi
    sleep 0.2
  done
  for n in $(seq 1 "$KAFKA_NODES"); do tail -n 20 "$(kafka_log "$n")" >&2; done
  die "kafka did not become ready within 180 s"
}

# --- Varnish (the local CDN) -------------------------------------------------
start_varnish() {
  mkdir -p "$VARNISH_DIR"
  if pid_alive "$RUN_DIR/varnish.pid" varnishd; then
    log "varnish: already running on 127.0.0.1:$CDN_PORT"
    return
  fi
  port_open "$CDN_PORT" && die "port $CDN_PORT is taken by another process"
  sed -e "s|@BACKEND_HOST@|${GATEWAY_ADDR%:*}|g" -e "s|@BACKEND_PORT@|${GATEWAY_ADDR##*:}|g" \
      -e "s|@SERVICE_ID@|$CDN_SERVICE_ID|g" -e "s|@PURGE_TOKEN@|$CDN_PURGE_TOKEN|g" \
      "$REPO_ROOT/deployments/local/varnish.vcl" >"$VARNISH_DIR/catalog.vcl"
  log "varnish: starting on 127.0.0.1:$CDN_PORT in front of the gateway ($GATEWAY_ADDR)"
  # -j none: no privilege separation, so it runs as whoever runs make up and
  # keeps its working directory under $DATA_DIR.
  varnishd -j none -n "$VARNISH_DIR/work" -a "127.0.0.1:$CDN_PORT" -T none -P "$RUN_DIR/varnish.pid" \
    -f "$VARNISH_DIR/catalog.vcl" -s malloc,128m -p default_grace=0 >"$LOG_DIR/varnish.log" 2>&1 \
    || { cat "$LOG_DIR/varnish.log" >&2; die "varnish did not start"; }
  for _ in $(seq 1 100); do
    port_open "$CDN_PORT" && return
    sleep 0.1
  done
  die "varnish did not listen on 127.0.0.1:$CDN_PORT"
}

# reserve_our_ports: this data folder's service ports (every Kafka node's).
reserve_our_ports() {
  local ports=("$PG_PORT" "$REDIS_PORT" "$CDN_PORT") n
  for n in $(seq 1 "$KAFKA_NODES"); do ports+=("$(kafka_port "$n")" "$(kafka_controller_port "$n")"); done
  reserve_ports "${ports[@]}"
}

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0
mkdir -p "$DATA_DIR" "$RUN_DIR" "$LOG_DIR"
install_packages
reserve_our_ports
start_postgres
start_redis
start_kafka
start_varnish
log "up: postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT, kafka $KAFKA_BROKERS, cdn http://127.0.0.1:$CDN_PORT (data and logs in $DATA_DIR)"
