#!/usr/bin/env bash
# bench/access_log.sh — what log.access costs: the same bgproxy with the access log off and on (to
# a file), against the same nginx backend, driven by wrk in alternating rounds in one run.
#
#   bench/access_log.sh [--bgproxy build/bgproxy] [--duration 5s] [--pairs 5] [--conns 64]
#                       [--workers 1] [--format text|json]
#
# Prints the median rps and p99 of each, and the ratio (target: on >= 0.95 x off at c=64).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/bgproxy_config.sh
source "$SCRIPT_DIR/bgproxy_config.sh"

BGPROXY=$REPO_DIR/build/bgproxy
DURATION=5s
PAIRS=5
CONNS=64
WORKERS=1
FORMAT=text
PORT_BASE=18300
while (($#)); do
  case $1 in
    --bgproxy) BGPROXY=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --format) FORMAT=$2; shift 2 ;;
    --port-base) PORT_BASE=$2; shift 2 ;;
    -h | --help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "access_log.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
    { echo "access_log.sh: $tool is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bgproxy-access-bench.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

P_BACKEND=$((PORT_BASE + 1))
cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process off;
error_log $TMP/nginx-error.log warn;
pid $TMP/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  server { listen 127.0.0.1:$P_BACKEND; location / { return 200 "blue\n"; } }
}
EOF
"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" >"$TMP/nginx.out" 2>&1 &
PIDS+=($!)

start_bgproxy() { # name port admin_port [access log yaml]
  local name=$1 port=$2 admin=$3 extra=${4:-}
  { bgproxy_bench_config "$port" "$WORKERS" "$admin" "$P_BACKEND" "$P_BACKEND" 10000
    printf '  format: %s\n%s' "$FORMAT" "$extra"; } \
    >"$TMP/$name.yaml"
  "$BGPROXY" run -c "$TMP/$name.yaml" >"$TMP/$name.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "access_log.sh: bgproxy ($name) did not start:" >&2
  tail "$TMP/$name.out" >&2
  exit 1
}
# The `log:` section of the shared config ends the file: its keys are appended under it.
start_bgproxy off $((PORT_BASE + 10)) $((PORT_BASE + 11))
start_bgproxy on $((PORT_BASE + 20)) $((PORT_BASE + 21)) "  access: true
  access_file: $TMP/access.log
"

run() { # port -> "rps p99_ms"
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/" | awk '
    function ms(v,  n, u) { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000; if (u == "s") return n * 1000; return n }
    /^ +99% / { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 } END { print rps, p99 }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

run $((PORT_BASE + 10)) >/dev/null  # warm-up
run $((PORT_BASE + 20)) >/dev/null
: >"$TMP/off.tsv"
: >"$TMP/on.tsv"
for ((r = 1; r <= PAIRS; r++)); do
  if ((r % 2)); then order="off on"; else order="on off"; fi
  for which in $order; do
    [[ $which == on ]] && port=$((PORT_BASE + 20)) || port=$((PORT_BASE + 10))
    result=$(run "$port")
    echo "$result" >>"$TMP/$which.tsv"
    echo "round $r access log $which: $result (rps p99_ms)" >&2
  done
done
off_rps=$(cut -d' ' -f1 "$TMP/off.tsv" | median)
on_rps=$(cut -d' ' -f1 "$TMP/on.tsv" | median)
off_p99=$(cut -d' ' -f2 "$TMP/off.tsv" | median)
on_p99=$(cut -d' ' -f2 "$TMP/on.tsv" | median)
lines=$(wc -l <"$TMP/access.log")
echo "$WORKERS worker(s), wrk -c$CONNS, $FORMAT lines, $PAIRS rounds of $DURATION"
echo "| access log | median rps | median p99 (ms) |"
echo "|---|---|---|"
echo "| off | $off_rps | $off_p99 |"
echo "| on (file) | $on_rps | $on_p99 |"
awk -v a="$on_rps" -v b="$off_rps" -v n="$lines" \
  'BEGIN { printf "rps on/off = %.3f (%d access lines written)\n", a / b, n }'
