#!/usr/bin/env bash
# bench/soak.sh — a bounded soak of bgproxy: load with wrk while the config is reloaded (SIGHUP,
# green moving between two backends), rollouts are started and rolled back through the admin API
# and downloads are aborted halfway. Prints the RSS and descriptor count of the bgproxy process at
# the start (after a warm-up, idle), in the middle (under load) and at the end (idle again, once
# pooled connections expired), and fails unless the end is within 1 MB and 10 descriptors of the
# start.
#
#   bench/soak.sh [--duration 300] [--bgproxy build/bgproxy] [--port-base 18300] [--connections 64]
#
# Everything listens on 127.0.0.1 only and is stopped at exit. Needs wrk, nginx and curl
# (scripts/install-deps.sh bench).
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BGPROXY="$REPO_DIR/build/bgproxy"
DURATION=300       # seconds of load
PORT_BASE=18300    # uses PORT_BASE .. PORT_BASE+4
CONNECTIONS=64
UPSTREAM_IDLE=5    # seconds: pooled connections expire well within the soak's wind-down
MAX_RSS_GROWTH_KB=1024
MAX_FD_GROWTH=10

while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --bgproxy) BGPROXY=$2; shift 2 ;;
    --port-base) PORT_BASE=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
    { echo "soak.sh: $tool not found (scripts/install-deps.sh bench)" >&2; exit 2; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $BGPROXY ]] || { echo "soak.sh: no bgproxy binary at $BGPROXY" >&2; exit 2; }

PROXY=$PORT_BASE ADMIN=$((PORT_BASE + 1)) BLUE=$((PORT_BASE + 2))
GREEN_A=$((PORT_BASE + 3)) GREEN_B=$((PORT_BASE + 4))
TMP=$(mktemp -d /tmp/bgproxy-soak.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# --- backends: one nginx, three servers; /big is 32 MB, for downloads cut halfway ------------
head -c $((32 * 1024 * 1024)) /dev/zero > "$TMP/big"
cat > "$TMP/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $TMP;
  proxy_temp_path $TMP;
  fastcgi_temp_path $TMP;
  uwsgi_temp_path $TMP;
  scgi_temp_path $TMP;
  server { listen 127.0.0.1:$BLUE; location / { return 200 "blue\n"; }
           location = /big { alias $TMP/big; } }
  server { listen 127.0.0.1:$GREEN_A; location / { return 200 "green-a\n"; } }
  server { listen 127.0.0.1:$GREEN_B; location / { return 200 "green-b\n"; } }
}
EOF
"$NGINX" -c "$TMP/nginx.conf" -p "$TMP" &
PIDS+=($!)

# --- bgproxy ---------------------------------------------------------------------------------
write_config() {  # green port
  cat > "$TMP/bgproxy.yaml" <<EOF
listen: 127.0.0.1:$PROXY
workers: 2
admin:
  listen: 127.0.0.1:$ADMIN
backends:
  live: blue
  blue:  { endpoints: [127.0.0.1:$BLUE] }
  green: { endpoints: [127.0.0.1:$1] }
timeouts:
  upstream_idle: ${UPSTREAM_IDLE}s
  drain: 5s
log:
  level: warn
EOF
}
write_config "$GREEN_A"
"$BGPROXY" run -c "$TMP/bgproxy.yaml" 2> "$TMP/bgproxy.log" &
BGPROXY_PID=$!
PIDS+=("$BGPROXY_PID")

wait_for() {  # url, seconds
  for _ in $(seq 1 $(($2 * 10))); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "soak.sh: $1 did not answer" >&2; exit 1
}
wait_for "http://127.0.0.1:$BLUE/" 10
wait_for "http://127.0.0.1:$ADMIN/healthz" 10
wait_for "http://127.0.0.1:$PROXY/" 10

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$BGPROXY_PID/status"; }
fds() { ls "/proc/$BGPROXY_PID/fd" | wc -l; }
pooled_idle_wait() { sleep $((UPSTREAM_IDLE + 3)); }  # pooled connections expire, by the timer

# Warm-up: the load of the soak for a while, so that buffer pools and allocator caches reach
# their size under this load before the start is measured.
log "warm-up (10 s)"
wrk -t1 -c"$CONNECTIONS" -d10s "http://127.0.0.1:$PROXY/" > /dev/null
pooled_idle_wait
START_RSS=$(rss_kb) START_FDS=$(fds)
log "start: RSS ${START_RSS} KB, ${START_FDS} fds"

# --- the soak ----------------------------------------------------------------------------------
log "load for ${DURATION} s: wrk -c$CONNECTIONS, reloads, rollouts, aborted downloads"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PROXY/" > "$TMP/wrk-blue.txt" &
WRK1=$!
PIDS+=("$WRK1")
wrk -t1 -c8 -d"${DURATION}s" -H "X-Bluegreen: green" "http://127.0.0.1:$PROXY/" \
  > "$TMP/wrk-green.txt" &
WRK2=$!
PIDS+=("$WRK2")

admin() { curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN$1"; }
started=$(date +%s) round=0 reloads=0 rollouts=0 aborted=0 MIDDLE_RSS="" MIDDLE_FDS=""
while (( $(date +%s) - started < DURATION )); do
  round=$((round + 1))
  # Green moves to the other backend: the old one's pooled connections go at once.
  if (( round % 2 )); then write_config "$GREEN_B"; else write_config "$GREEN_A"; fi
  kill -HUP "$BGPROXY_PID"
  reloads=$((reloads + 1))
  # A rollout starts and is rolled back.
  admin /rollout/start > /dev/null
  admin /rollout/rollback > /dev/null
  rollouts=$((rollouts + 1))
  # Downloads cut after a few hundred KB (the client closes halfway).
  downloads=()
  for _ in 1 2 3 4; do
    curl -s -o /dev/null --limit-rate 2M --max-time 0.2 "http://127.0.0.1:$PROXY/big" &
    downloads+=($!)
  done
  for pid in "${downloads[@]}"; do wait "$pid" 2>/dev/null || true; done
  aborted=$((aborted + 4))
  if [[ -z $MIDDLE_RSS ]] && (( $(date +%s) - started >= DURATION / 2 )); then
    MIDDLE_RSS=$(rss_kb) MIDDLE_FDS=$(fds)
    log "middle: RSS ${MIDDLE_RSS} KB, ${MIDDLE_FDS} fds"
  fi
  sleep 2
done
wait "$WRK1" "$WRK2" || true
log "load done: $reloads reloads, $rollouts rollouts started and rolled back, $aborted downloads aborted"

# End: idle again, once the pooled connections expired (bounded wait for the descriptors).
pooled_idle_wait
for _ in $(seq 1 100); do
  (( $(fds) <= START_FDS + MAX_FD_GROWTH )) && break
  sleep 0.1
done
END_RSS=$(rss_kb) END_FDS=$(fds)
log "end: RSS ${END_RSS} KB, ${END_FDS} fds"

requests() { awk '/requests in/ { print $1 }' "$1"; }
non2xx() { awk '/Non-2xx/ { print $NF }' "$1" | grep . || echo 0; }
errors() { grep -h "Socket errors" "$1" || echo "no socket errors"; }
cat <<EOF

| point | RSS (KB) | descriptors |
| --- | ---: | ---: |
| start (after warm-up, idle) | $START_RSS | $START_FDS |
| middle (under load) | ${MIDDLE_RSS:-n/a} | ${MIDDLE_FDS:-n/a} |
| end (idle, pooled connections expired) | $END_RSS | $END_FDS |

wrk blue: $(requests "$TMP/wrk-blue.txt") requests, non-2xx $(non2xx "$TMP/wrk-blue.txt"); $(errors "$TMP/wrk-blue.txt")
wrk green (override header): $(requests "$TMP/wrk-green.txt") requests, non-2xx $(non2xx "$TMP/wrk-green.txt"); $(errors "$TMP/wrk-green.txt")
$reloads reloads, $rollouts rollouts started and rolled back, $aborted downloads aborted
bgproxy log lines at warn or above: $(grep -c . "$TMP/bgproxy.log" || true)
EOF

status=0
if (( END_RSS > START_RSS + MAX_RSS_GROWTH_KB )); then
  echo "FAIL: RSS grew by $((END_RSS - START_RSS)) KB (limit $MAX_RSS_GROWTH_KB)"; status=1
fi
if (( END_FDS > START_FDS + MAX_FD_GROWTH )); then
  echo "FAIL: descriptors grew by $((END_FDS - START_FDS)) (limit $MAX_FD_GROWTH)"; status=1
fi
(( status == 0 )) && echo "PASS: end within 1 MB and 10 descriptors of the start"
exit $status
