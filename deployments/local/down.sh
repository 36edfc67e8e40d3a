#!/usr/bin/env bash
# Stops every process that `make up` and `make run` started, found through the
# pid files under $DATA_DIR, and nothing else. Idempotent. Data is kept;
# `make clean-data` removes it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

stop_pid "$RUN_DIR/catalog.pid" "catalog" "catalog dev"
stop_pid "$RUN_DIR/varnish.pid" "varnishd" "varnish"
# Every Kafka node at once: a node stopped after the others would wait for
# a controller quorum that is gone.
for n in 1 2 3; do
  stop_pid "$(kafka_pid_file "$n")" "kafka.Kafka" "kafka node $n" &
done
wait
stop_pid "$RUN_DIR/redis.pid" "redis-server" "redis"

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
if [ -n "$PG_BIN" ] && [ -s "$PG_DIR/data/postmaster.pid" ]; then
  log "postgres: stopping"
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  else
    "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
else
  log "postgres: not running"
fi
log "down"
