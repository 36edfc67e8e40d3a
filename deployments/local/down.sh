#!/usr/bin/env bash
# Stops every process that `make up`, `make run` and `make regions` started,
# found through the pid files under $DATA_DIR (and each region's folder under
# $DATA_DIR/regions), and nothing else. Idempotent. Data is kept;
# `make clean-data` removes it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"

# stop_postgres DIR NAME: a fast shutdown of the cluster whose data is DIR/data.
stop_postgres() {
  local dir="$1" name="$2"
  if [ -n "$PG_BIN" ] && [ -s "$dir/data/postmaster.pid" ]; then
    log "$name: stopping"
    if [ "$(id -u)" = 0 ]; then
      runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    else
      "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
  else
    log "$name: not running"
  fi
}

# Regions first: their MirrorMaker reads the central cluster.
for region in "$DATA_DIR"/regions/*/; do
  [ -d "$region/run" ] || continue
  name="region $(basename "$region")"
  for role in gateway api project; do
    stop_pid "$region/run/$role.pid" "catalog $role" "$name $role"
  done
  stop_pid "$region/run/mirrormaker.pid" "connect.mirror.MirrorMaker" "$name mirrormaker"
  stop_pid "$region/run/kafka.pid" "kafka.Kafka" "$name kafka"
  stop_pid "$region/run/redis.pid" "redis-server" "$name redis"
  stop_postgres "$region/postgres" "$name postgres"
done

stop_pid "$RUN_DIR/catalog.pid" "catalog" "catalog dev"
stop_pid "$RUN_DIR/varnish.pid" "varnishd" "varnish"
# Every Kafka node at once: a node stopped after the others would wait for
# a controller quorum that is gone.
for n in 1 2 3; do
  stop_pid "$(kafka_pid_file "$n")" "kafka.Kafka" "kafka node $n" &
done
wait
stop_pid "$RUN_DIR/redis.pid" "redis-server" "redis"
stop_postgres "$PG_DIR" "postgres"
log "down"
