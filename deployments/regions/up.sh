#!/usr/bin/env bash
# `make regions`: central (what `make run` starts: make up's services and
# `catalog dev` on the usual ports, here in the background) plus one
# read-only region on its own ports, data folder and Kafka cluster, fed by
# MirrorMaker 2. Idempotent: what is already running is left alone.
# `make down` stops all of it (deployments/local/down.sh).
#
# The region's Postgres, Redis and Kafka are started by deployments/local/up.sh's
# own functions, given the region's data folder and ports.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/../local/env.sh"

REGION="${CATALOG_REGION_NAME:-india}"
REGION_DATA="$DATA_DIR/regions/$REGION"
R_PG_PORT="${CATALOG_REGION_PG_PORT:-55532}"
R_REDIS_PORT="${CATALOG_REGION_REDIS_PORT:-56479}"
R_KAFKA_PORT="${CATALOG_REGION_KAFKA_PORT:-59192}"
R_KAFKA_CONTROLLER_PORT="${CATALOG_REGION_KAFKA_CONTROLLER_PORT:-59193}"
R_GATEWAY=127.0.0.1:8180 R_API=127.0.0.1:8181 R_PROJECTOR=127.0.0.1:8183 R_GATEWAY_METRICS=127.0.0.1:8184
CENTRAL_GATEWAY="$GATEWAY_ADDR"
CENTRAL_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/catalog?sslmode=disable"
BIN="$REPO_ROOT/bin/catalog"
SAMPLE="${SAMPLE:-50}"
DEMO_KEY="${CATALOG_DEMO_KEY:-regions-demo-key-0000000000000000}"
# A second demo client, pinned to the region: the central gateway answers its
# requests 307 to the region's gateway, which serves and counts them.
REGION_KEY="${CATALOG_REGION_DEMO_KEY:-regions-demo-key-$REGION}"
REGION_URLS="central=http://$CENTRAL_GATEWAY,$REGION=http://127.0.0.1:8180"
TOPIC_PREFIX="${CATALOG_TOPIC_PREFIX:-catalog.}"
GROUP_PREFIX="${CATALOG_GROUP_PREFIX:-catalog.}"

# --- central -----------------------------------------------------------------
bash "$REPO_ROOT/deployments/local/up.sh"
mkdir -p "$RUN_DIR" "$LOG_DIR"
if pid_alive "$RUN_DIR/catalog.pid" "catalog"; then
  log "central: catalog dev already running"
else
  log "central: starting catalog dev (log: $LOG_DIR/catalog.log)"
  # exec: the background job is catalog itself, not a shell waiting for it
  # (which would hold a caller's pipe open).
  ( cd "$REPO_ROOT" && exec env CATALOG_PID_FILE="$RUN_DIR/catalog.pid" CATALOG_DEMO_KEY="$DEMO_KEY" CATALOG_KAFKA_BROKERS="$KAFKA_BROKERS" \
      CATALOG_REGION_URLS="$REGION_URLS" \
      CATALOG_CDN_URL="http://127.0.0.1:$CDN_PORT" CATALOG_CDN_PURGE_URL="http://127.0.0.1:$CDN_PORT" \
      CATALOG_CDN_SERVICE_ID="$CDN_SERVICE_ID" CATALOG_CDN_PURGE_TOKEN="$CDN_PURGE_TOKEN" \
      setsid nohup "$BIN" dev --sample "$SAMPLE" ) >>"$LOG_DIR/catalog.log" 2>&1 </dev/null &
fi
wait_http() {
  local url="$1" name="$2"
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$name did not answer $url within 120 s"
}
wait_http "http://$CENTRAL_GATEWAY/healthz" "central gateway"

# --- the region's services ------------------------------------------------------
(
  export CATALOG_DATA_DIR="$REGION_DATA" CATALOG_PG_PORT="$R_PG_PORT" CATALOG_REDIS_PORT="$R_REDIS_PORT" \
    CATALOG_KAFKA_PORT="$R_KAFKA_PORT" CATALOG_KAFKA_CONTROLLER_PORT="$R_KAFKA_CONTROLLER_PORT" KAFKA_LIBS \
    CATALOG_KAFKA_NODES=1
  unset CATALOG_KAFKA_BROKERS
  . "$REPO_ROOT/deployments/local/up.sh"
  mkdir -p "$DATA_DIR" "$RUN_DIR" "$LOG_DIR"
  log "region $REGION: services under $DATA_DIR"
  reserve_our_ports
  start_postgres
  start_redis
  start_kafka
)
R_RUN="$REGION_DATA/run" R_LOG="$REGION_DATA/log"

# --- MirrorMaker 2, central -> region ----------------------------------------------
if pid_alive "$R_RUN/mirrormaker.pid" "connect.mirror.MirrorMaker"; then
  log "region $REGION: MirrorMaker already running"
else
  re() { printf '%s' "$1" | sed -e 's/[][\\^$*+?(){}|]/\\&/g' -e 's/\./[.]/g'; }
  sed -e "s|@REGION@|$REGION|g" -e "s|@CENTRAL_BOOTSTRAP@|$KAFKA_BROKERS|g" \
      -e "s|@REGION_BOOTSTRAP@|127.0.0.1:$R_KAFKA_PORT|g" -e "s|@TOPIC_PREFIX_RE@|$(re "$TOPIC_PREFIX")|g" \
      -e "s|@GROUP_PREFIX_RE@|$(re "$GROUP_PREFIX")|g" -e "s|@REFRESH_SECONDS@|10|g" -e "s|@REGION_RF@|1|g" -e "s|@TASKS@|2|g" \
      "$HERE/mm2.properties" >"$REGION_DATA/mm2.properties"
  log "region $REGION: starting MirrorMaker 2 (central -> $REGION; log: $R_LOG/mirrormaker.log)"
  setsid nohup java -Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$REPO_ROOT/deployments/local/log4j2.properties" -cp "$KAFKA_LIBS/*" \
    org.apache.kafka.connect.mirror.MirrorMaker "$REGION_DATA/mm2.properties" --clusters "$REGION" \
    >>"$R_LOG/mirrormaker.log" 2>&1 </dev/null &
  echo $! >"$R_RUN/mirrormaker.pid"
fi

# --- the region's catalog roles ------------------------------------------------------
region_env=(CATALOG_REGION="$REGION"
  CATALOG_PG_URL="postgres://postgres@127.0.0.1:$R_PG_PORT/catalog?sslmode=disable"
  CATALOG_KAFKA_BROKERS="127.0.0.1:$R_KAFKA_PORT" CATALOG_REDIS_ADDR="127.0.0.1:$R_REDIS_PORT"
  CATALOG_API_ADDR="$R_API" CATALOG_API_URL="http://$R_API" CATALOG_PROJECTOR_ADDR="$R_PROJECTOR"
  CATALOG_GATEWAY_ADDR="$R_GATEWAY" CATALOG_GATEWAY_METRICS_ADDR="$R_GATEWAY_METRICS"
  CATALOG_REGION_URLS="$REGION_URLS")
start_role() {
  local role="$1"
  if pid_alive "$R_RUN/$role.pid" "catalog $role"; then
    log "region $REGION: $role already running"
    return
  fi
  log "region $REGION: starting $role (log: $R_LOG/$role.log)"
  ( cd "$REPO_ROOT" && exec env "${region_env[@]}" setsid nohup "$BIN" "$role" ) >>"$R_LOG/$role.log" 2>&1 </dev/null &
  echo $! >"$R_RUN/$role.pid"
}
start_role project
start_role api

# The regional gateway reads its clients from the regional Postgres, which
# PostgreSQL logical replication keeps in step with the central one
# (publication on central, subscription here; both idempotent). Clients are
# created and pinned centrally only.
log "region $REGION: replicating the central clients tables (log: $R_LOG/replicate.log)"
( cd "$REPO_ROOT" && env "${region_env[@]}" "$BIN" clients replicate --from "$CENTRAL_PG_URL" ) \
  >>"$R_LOG/replicate.log" 2>&1 || { tail -n 20 "$R_LOG/replicate.log" >&2; die "clients replication to $REGION failed"; }
if ! "$BIN" clients show "$REGION_KEY" >/dev/null 2>&1; then
  "$BIN" clients add "$REGION demo" --key "$REGION_KEY" >/dev/null
  CATALOG_REGION_URLS="$REGION_URLS" "$BIN" clients pin "$REGION_KEY" "$REGION" >/dev/null
  log "central: demo client $REGION_KEY pinned to $REGION"
fi
start_role gateway

wait_http "http://$R_API/healthz" "region $REGION API"
wait_http "http://$R_GATEWAY/healthz" "region $REGION gateway"
log "regions: central gateway http://$CENTRAL_GATEWAY, region $REGION gateway http://$R_GATEWAY"
cat <<MSG

Central gateway:        http://$CENTRAL_GATEWAY
Region $REGION gateway: http://$R_GATEWAY   (API http://$R_API, projector http://$R_PROJECTOR)
Replication status:     CATALOG_REGIONS=$REGION=127.0.0.1:$R_KAFKA_PORT ./bin/catalog regions status

Demo keys: $DEMO_KEY (home: central), $REGION_KEY (pinned to $REGION)

Try (the region serves what MirrorMaker has copied; a first run takes a minute):
  curl -s "http://$R_GATEWAY/1.2/track/details?trackId=1&country=GB&oauth_consumer_key=$REGION_KEY"
  curl -si "http://$CENTRAL_GATEWAY/1.2/track/details?trackId=1&country=GB&oauth_consumer_key=$REGION_KEY"   # 307 to $REGION
  curl -si "http://$R_GATEWAY/ingest/v1/deliveries" -X POST   # 421: the region is read-only
MSG
