#!/usr/bin/env bash
# bench/grpc.sh — gRPC unary, h2c -> h2c: bgproxy vs HAProxy vs nginx, in one run.
#
# One nghttpd backend (Debian nghttp2-server, a C++ nghttp2 server, cleartext HTTP/2, --workers
# threads) answering every POST to the method's path with a file holding one gRPC message
# (content-type application/grpc, trailer grpc-status: 0), and the three proxies with one worker
# each in front of it, h2c on both sides:
#   HAProxy  bind ... proto h2, server ... proto h2
#   nginx    listen ... http2, grpc_pass grpc://
#   bgproxy  protocols: [http1, h2c], backends.blue.protocol: h2c
# h2load sends gRPC-shaped unary requests (POST, a 5-byte-framed message, content-type
# application/grpc, te: trailers) at -c64 -m10 and -c8 -m10. Rounds rotate the order of the
# targets; figures are medians: rps and p99 (from h2load's per-request log) as ratios to
# HAProxy, the proxy's CPU per request, and the backend's busiest thread (it must stay below
# 100% of a core, or the backend and not the proxy sets the pace). Before each measured run the
# script waits until no compiler runs on the machine. See bench/README.md ("gRPC").
#
#   bench/grpc.sh [--bgproxy build/bgproxy] [--duration 10s] [--rounds 3] [--quick]
#
# Everything it starts listens on 127.0.0.1 only and is stopped at exit.
set -euo pipefail

PROG=grpc.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$SCRIPT_DIR/lib.sh"

usage() {
  cat <<EOF
usage: bench/grpc.sh [options]

  --bgproxy PATH        bgproxy binary (default: build/bgproxy at the repo top)
  --duration D          each measured h2load run, whole seconds (default 10s)
  --rounds N            measured rounds, the order of the targets rotating (default 3)
  --loads "CxM ..."     h2load connections x streams per connection (default "64x10 8x10")
  --backend-workers N   nghttpd worker threads (default 2)
  --no-wait             do not wait for compilers to finish before each measured run
  --port-base P         private port range start (default 18800; uses P+1..P+30)
  --results-dir DIR     where to write grpc-YYYY-MM-DD-HHMM.md and grpc-latest.md (default bench/results)
  --no-save             print the report only
  --keep-tmp            keep the temp dir (configs, logs, h2load output)
  --quick               smoke run: 1 round of 2 s at the first load, not saved
  -h, --help            this text

Environment: H2LOAD, NGHTTPD, HAPROXY, NGINX, CURL override the tools' paths.
EOF
}

# ---------------------------------------------------------------- options
ORIG_ARGS="$*"
BGPROXY="$REPO_DIR/build/bgproxy"
DURATION=10s
ROUNDS=3
LOADS="64x10 8x10"
BACKEND_WORKERS=2
WAIT=1
PORT_BASE=18800
RESULTS_DIR="$REPO_DIR/bench/results"
SAVE=1
KEEP_TMP=0
QUICK=0
for a in "$@"; do
  [[ $a == --quick ]] && QUICK=1 DURATION=2s ROUNDS=1 SAVE=0
done
while (($#)); do
  opt=$1
  case $opt in
    --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; opt=$1 ;;
  esac
  need() { (($# >= 2)) || die "$opt needs a value"; }
  case $opt in
    --bgproxy) need "$@"; BGPROXY=$2; shift 2 ;;
    --duration) need "$@"; DURATION=$2; shift 2 ;;
    --rounds) need "$@"; ROUNDS=$2; shift 2 ;;
    --loads) need "$@"; LOADS=$2; shift 2 ;;
    --backend-workers) need "$@"; BACKEND_WORKERS=$2; shift 2 ;;
    --no-wait) WAIT=0; shift ;;
    --port-base) need "$@"; PORT_BASE=$2; shift 2 ;;
    --results-dir) need "$@"; RESULTS_DIR=$2; SAVE=1; shift 2 ;;
    --no-save) SAVE=0; shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    --quick) shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done
((QUICK)) && LOADS=${LOADS%% *}
[[ $DURATION =~ ^([0-9]+)s?$ ]] || die "--duration wants whole seconds, e.g. 10s"
DUR_S=${BASH_REMATCH[1]}
((DUR_S >= 1)) || die "--duration must be at least 1s"
for v in ROUNDS BACKEND_WORKERS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$(tr '[:upper:]_' '[:lower:]-' <<<"$v") must be a positive integer"
done
read -r -a LOAD_LIST <<<"$LOADS"
((${#LOAD_LIST[@]} > 0)) || die "--loads is empty"
for l in "${LOAD_LIST[@]}"; do
  [[ $l =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || die "--loads wants CxM items, e.g. \"64x10 8x10\" (got $l)"
done
check_port_base
require_tools H2LOAD="h2load:h2load (apt-get install nghttp2-client)" \
  NGHTTPD="nghttpd:nghttpd (apt-get install nghttp2-server)" HAPROXY="haproxy:haproxy" \
  NGINX="nginx:nginx (nginx-light)" CURL="curl:curl"
[[ -x $BGPROXY ]] || die "no bgproxy binary at $BGPROXY (build it, or pass --bgproxy PATH)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- ports
P_BACKEND=$((PORT_BASE + 1))
P_ADMIN=$((PORT_BASE + 3))
declare -A PORT LABEL
PORT[haproxy]=$((PORT_BASE + 10)) PORT[nginx]=$((PORT_BASE + 20)) PORT[bgproxy]=$((PORT_BASE + 30))
LABEL[haproxy]="HAProxy" LABEL[nginx]="nginx proxy" LABEL[bgproxy]="bgproxy" LABEL[backend]="nghttpd (direct)"
for p in $P_BACKEND $P_ADMIN "${PORT[@]}"; do
  ! port_busy "$p" || die "port 127.0.0.1:$p is already in use (try --port-base)"
done

# ---------------------------------------------------------------- temp dir, exit
setup_run_dir grpc  # $TMP, $RAW, and the exit trap that stops what runs

# ---------------------------------------------------------------- the gRPC exchange
# A unary call to /helloworld.Greeter/SayHello.grpc (the extension only gives nghttpd the
# response's content-type through its MIME file). Request and response: one gRPC message, a
# 5-byte prefix (not compressed, length 7) and the protobuf of `string name = 1` = "world" /
# "hello".
GRPC_PATH=/helloworld.Greeter/SayHello.grpc
REQ=$TMP/request.bin
printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$REQ"
GRPC_HEADERS=(-H 'content-type: application/grpc' -H 'te: trailers')

wait_grpc() { # name port [seconds]: until a gRPC call through port answers 200, bounded
  local name=$1 port=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    alive "$name" || return 1
    "$CURL" -fsS -o /dev/null --max-time 1 --http2-prior-knowledge --data-binary "@$REQ" \
      "${GRPC_HEADERS[@]}" "http://127.0.0.1:$port$GRPC_PATH" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- servers
start_backend() {
  local d=$TMP/backend
  mkdir -p "$d/htdocs${GRPC_PATH%/*}"
  printf '\x00\x00\x00\x00\x07\x0a\x05hello' >"$d/htdocs$GRPC_PATH"
  echo "application/grpc grpc" >"$d/mime.types"
  # -m 100: SETTINGS_MAX_CONCURRENT_STREAMS 100, as most HTTP/2 servers advertise
  start_bg backend "$d/nghttpd.log" "$NGHTTPD" --no-tls -a 127.0.0.1 -d "$d/htdocs" \
    --mime-types-file="$d/mime.types" --trailer 'grpc-status: 0' -n "$BACKEND_WORKERS" -m 100 "$P_BACKEND"
  wait_grpc backend "$P_BACKEND" 10 || die "nghttpd did not start (see $d/nghttpd.log)"
}

nginx_conf() { # dir
  local max_streams=0 l c m
  for l in "${LOAD_LIST[@]}"; do
    c=${l%x*} m=${l#*x}
    ((c * m > max_streams)) && max_streams=$((c * m))
  done
  cat <<EOF
daemon off;
master_process on;
error_log $1/error.log warn;
pid $1/nginx.pid;
worker_rlimit_nofile 65536;
worker_processes 1;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    http2_max_requests 1000000;
    http2_max_concurrent_streams 128;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    upstream grpc_backend {
        server 127.0.0.1:$P_BACKEND;
        # nginx's gRPC proxy takes one upstream connection per stream: keep as many idle as
        # there are streams in flight, so that it does not reconnect under load
        keepalive $max_streams;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]} http2;
        location / {
            grpc_pass grpc://grpc_backend;
            grpc_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            grpc_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
}

# Every proxy sends everything to the one backend over h2c, adds X-Forwarded-For and
# X-Forwarded-Proto, and keeps its upstream connections.
start_target() { # name -> 0 when a gRPC call through it answers
  local name=$1 d=$TMP/$1
  mkdir -p "$d"
  case $name in
    haproxy)
      cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8192
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 1s
  timeout client 300s
  timeout server 30s
  timeout http-request 10s
  timeout http-keep-alive 300s
frontend h2c
  bind 127.0.0.1:${PORT[haproxy]} proto h2
  http-request set-header X-Forwarded-Proto http
  default_backend be
backend be
  server blue 127.0.0.1:$P_BACKEND proto h2 maxconn 8192
EOF
      start_bg haproxy "$d/haproxy.log" "$HAPROXY" -db -f "$d/haproxy.cfg"
      ;;
    nginx)
      nginx_conf "$d" >"$d/nginx.conf"
      start_bg nginx "$d/stdout.log" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
      ;;
    bgproxy)
      cat >"$d/bgproxy.yaml" <<EOF
listen: 127.0.0.1:${PORT[bgproxy]}
protocols: [http1, h2c]
workers: 1
admin:
  listen: 127.0.0.1:$P_ADMIN
backends:
  live: blue
  blue:  { endpoints: [127.0.0.1:$P_BACKEND], protocol: h2c }
  green: { endpoints: [127.0.0.1:$P_BACKEND], protocol: h2c }
routing:
  sticky_header: X-User-Id
timeouts:
  client_idle: 300s
limits:
  max_connections: 8192
log:
  level: warn
EOF
      start_bg bgproxy "$d/bgproxy.log" "$BGPROXY" run -c "$d/bgproxy.yaml"
      ;;
  esac
  if ! wait_grpc "$name" "${PORT[$name]}" 15; then
    warn "${LABEL[$name]} did not answer a gRPC call over h2c; its files are in $d"
    return 1
  fi
}

# ---------------------------------------------------------------- runs
RUNS=$RAW/runs.tsv
# load target round rps p50_ms p99_ms done failed non2xx cpu_us_per_request backend_busiest_thread_%
# backend_total_% machine_busy_% compiler_seconds load1_at_start upstream_connections_mid_run
: >"$RUNS"
SAMPLES=$RAW/machine.txt
: >"$SAMPLES"

h2load_grpc() { # port conns streams seconds logfile -> h2load's output on stdout
  local args=()
  [[ -n $5 ]] && args=(--log-file "$5")
  "$H2LOAD" -t1 -c"$2" -m"$3" -D "$4" -d "$REQ" "${GRPC_HEADERS[@]}" "${args[@]}" \
    "http://127.0.0.1:$1$GRPC_PATH"
}

# run_one load target round: one measured run, its line appended to RUNS
run_one() {
  local load=$1 t=$2 r=$3 c=${1%x*} m=${1#*x} out c0 c1 b0 b1 j0 j1 t0 t1 load1 _
  out=$RAW/$load-$t-r$r
  ((WAIT)) && wait_quiet 1800
  read -r load1 _ </proc/loadavg
  thread_ticks backend >"$out.bthreads0"
  c0=$(cpu_ticks "$t") b0=$(cpu_ticks backend) j0=$(machine_jiffies) t0=$(date +%s)
  # halfway through, the connections to the backend (the proxy's pool in use)
  (sleep "$(awk -v s="$DUR_S" 'BEGIN { print s / 2 }')" && upstream_conns "$P_BACKEND" "$t" >"$out.conns") &
  local sampler=$!
  run_fg h2load_grpc "${PORT[$t]}" "$c" "$m" "$DUR_S" "$out.log" >"$out.txt" 2>&1 </dev/null ||
    warn "h2load exited non-zero for $load ${LABEL[$t]} (see $out.txt)"
  wait "$sampler" 2>/dev/null || true
  c1=$(cpu_ticks "$t") b1=$(cpu_ticks backend) j1=$(machine_jiffies) t1=$(date +%s)
  thread_ticks backend >"$out.bthreads1"
  # h2load: "finished in 10.00s, 12345.60 req/s, ...", "requests: N total, N started, N done,
  # N succeeded, N failed, N errored, N timeout" and "status codes: N 2xx, ..."; the log's
  # second column is the status, the third each request's time in microseconds.
  local rps done_n failed non2xx p50 p99 secs
  read -r rps done_n failed non2xx secs <<<"$(awk '
    /^finished in/ { gsub(",", ""); rps = $4; s = $3; if (s ~ /ms$/) { sub(/ms$/, "", s); s /= 1000 } else sub(/s$/, "", s) }
    /^requests:/ { gsub(",", ""); done = $6; failed = $10 }
    /^status codes:/ { gsub(",", ""); other = $5 + $7 + $9 }
    END { print (rps == "" ? "NA" : rps), (done == "" ? "NA" : done), (failed == "" ? "NA" : failed), (other == "" ? "NA" : other), (s == "" ? "NA" : s) }' "$out.txt")"
  read -r p50 p99 <<<"$(awk -F'\t' '$2 >= 200 && $2 < 300 { print $3 }' "$out.log" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "NA NA"; else printf "%.3f %.3f\n", a[int(NR * 0.5) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000 }')"
  rm -f "$out.log"
  local hz cpu bcpu bthread busy comp
  hz=$(getconf CLK_TCK)
  [[ $secs == NA ]] && secs=$DUR_S
  cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$done_n" 'BEGIN { if (n == "NA" || n + 0 == 0) print "NA"; else printf "%.2f\n", c / hz / n * 1e6 }')
  bcpu=$(awk -v c="$((b1 - b0))" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f\n", c / hz / s * 100 }')
  bthread=$(busiest_thread_pct "$out.bthreads0" "$out.bthreads1" "$secs")
  busy=$(busy_pct "$j0" "$j1")
  comp=$(compilers_during "$SAMPLES" "$t0" "$t1")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$load" "$t" "$r" "$rps" "$p50" "$p99" \
    "$done_n" "$failed" "$non2xx" "$cpu" "$bthread" "$bcpu" "$busy" "$comp" "$load1" "$(cat "$out.conns" 2>/dev/null || echo NA)" >>"$RUNS"
  log "$load round $r ${LABEL[$t]}: $(fmt_int "$rps") rps, p50 $(fmt_ms "$p50") ms, p99 $(fmt_ms "$p99") ms, done $done_n, failed $failed, non-2xx $non2xx, proxy CPU $cpu us/request, backend busiest thread $bthread%, $(cat "$out.conns" 2>/dev/null || echo '?') connections to it, machine busy $busy%, compiler ${comp}s, load $load1"
  if [[ $t != backend ]]; then alive "$t" || die "${LABEL[$t]} died during $load round $r (see $TMP/$t)"; fi
  alive backend || die "the backend died during $load round $r (see $TMP/backend)"
}

# run_phase load: a warm-up per target, then ROUNDS rounds in rotating order, then the backend
# alone once (h2load straight at nghttpd: the ceiling of this machine without a proxy)
run_phase() {
  local load=$1 c=${1%x*} m=${1#*x} n r i t
  local targets=(haproxy nginx bgproxy)
  n=${#targets[@]}
  for t in "${targets[@]}"; do
    run_fg h2load_grpc "${PORT[$t]}" "$c" "$m" "$((DUR_S / 5 + 1))" "" >"$RAW/$load-$t-warmup.txt" 2>&1 </dev/null || true
  done
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
      t=${targets[$(((i + r - 1) % n))]}
      run_clean "$load" "$t" "$r"
    done
  done
  PORT[backend]=$P_BACKEND
  run_clean "$load" backend 1
}

# run_clean args...: run_one, again (at most twice more) when a compiler ran during it; the
# discarded runs' lines go to discarded.tsv
run_clean() {
  local try
  for ((try = 1; try <= 3; try++)); do
    run_one "$@"
    (($(tail -1 "$RUNS" | cut -f14) == 0)) && return 0
    ((WAIT && try < 3)) || return 0
    tail -1 "$RUNS" >>"$RAW/discarded.tsv"
    sed -i '$ d' "$RUNS"
    log "a compiler ran during that run: measuring it again"
  done
}

STAMP=$(date +%Y-%m-%d-%H%M)
START_HUMAN=$(date '+%Y-%m-%d %H:%M %Z')
UPTIME_START=$(uptime)
read -r load1 _ </proc/loadavg
if awk -v l="$load1" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  warn "load average is $load1 on $(nproc) CPUs: the machine is busy, expect noisy numbers"
fi
log "temp dir $TMP; ports 127.0.0.1:$P_BACKEND..${PORT[bgproxy]}"
start_bg sampler /dev/null machine_sampler "$SAMPLES"
start_backend
for t in haproxy nginx bgproxy; do start_target "$t" || die "${LABEL[$t]} did not start"; done
BG_VERSION=$("$BGPROXY" version 2>/dev/null | head -1 || true)
for load in "${LOAD_LIST[@]}"; do run_phase "$load"; done
"$CURL" -fsS --max-time 5 "http://127.0.0.1:$P_ADMIN/metrics" >"$RAW/bgproxy-metrics.txt" 2>/dev/null || true
GRPC_OK=$(awk '/^bgproxy_grpc_responses_total/ && /code="OK"/ { s += $NF } END { printf "%.0f\n", s + 0 }' "$RAW/bgproxy-metrics.txt")
GRPC_OTHER=$(awk '/^bgproxy_grpc_responses_total/ && !/code="OK"/ { s += $NF } END { printf "%.0f\n", s + 0 }' "$RAW/bgproxy-metrics.txt")

# ---------------------------------------------------------------- report
col() { # load target column -> median over the rounds
  awk -F'\t' -v l="$1" -v t="$2" -v c="$3" '$1 == l && $2 == t { print $c }' "$RUNS" | median
}
sum_col() { awk -F'\t' -v l="$1" -v t="$2" -v c="$3" '$1 == l && $2 == t { s += $c } END { printf "%.0f\n", s + 0 }' "$RUNS"; }
max_col() { awk -F'\t' -v l="$1" -v t="$2" -v c="$3" '$1 == l && ($2 == t || t == "") && $c != "NA" && $c + 0 > m { m = $c + 0 } END { print m + 0 }' "$RUNS"; }
per_round() { # load target column [printf format] -> the rounds' values
  awk -F'\t' -v l="$1" -v t="$2" -v c="$3" -v f="${4:-%.0f}" '$1 == l && $2 == t { printf "%s%s", sep, ($c == "NA" ? "n/a" : sprintf(f, $c)); sep = ", " }' "$RUNS"
}
REPORT=$TMP/report.md
{
  echo "# gRPC unary, h2c -> h2c: bgproxy vs HAProxy vs nginx — $START_HUMAN"
  echo
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r); shared by h2load, the backend and the proxy"
  echo "- Tools: $("$H2LOAD" --version 2>&1 | head -1), $("$NGHTTPD" --version 2>&1 | head -1), HAProxy $("$HAPROXY" -v 2>/dev/null | awk 'NR == 1 { print $3 }'), nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'); bgproxy: ${BG_VERSION:-n/a}"
  echo "- One worker each (bgproxy \`workers: 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`), h2c by prior knowledge on both sides; one nghttpd backend (\`-n $BACKEND_WORKERS\` threads, \`-m 100\` streams per connection) answering a 12-byte gRPC message with \`grpc-status: 0\` in the trailers"
  echo "- Load: \`h2load -t1 -cC -mM -d <12-byte gRPC message> -H 'content-type: application/grpc' -H 'te: trailers'\` POST $GRPC_PATH"
  echo "- Runs: $DURATION each, $ROUNDS round(s) in rotating order after a warm-up; medians of the rounds. p50/p99 from h2load's per-request log. Proxy CPU per request = utime + stime of its process tree / requests; backend thread = the busiest nghttpd thread's CPU (% of one core; 100% = saturated)"
  ((WAIT)) && echo "- Each measured run waited until no compiler (cc1plus, ninja) ran (${QUIET_WAITED}s waited in all), and was measured again (at most twice) when one started during it: $( [[ -f $RAW/discarded.tsv ]] && wc -l <"$RAW/discarded.tsv" || echo 0) run(s) discarded"
  ((QUICK)) && echo "- **Quick smoke run** (\`--quick\`): too short to compare anything"
  echo
  for load in "${LOAD_LIST[@]}"; do
    c=${load%x*} m=${load#*x}
    echo "## -c$c -m$m ($((c * m)) streams in flight)"
    echo
    echo "| target | rps | p50 ms | p99 ms | requests done | failed | non-2xx | proxy CPU us/request | backend busiest thread | connections to the backend | rps / HAProxy | p99 / HAProxy | CPU/request / HAProxy |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    h_rps=$(col "$load" haproxy 4) h_p99=$(col "$load" haproxy 6) h_cpu=$(col "$load" haproxy 10)
    for t in haproxy bgproxy nginx backend; do
      rps=$(col "$load" "$t" 4) p99=$(col "$load" "$t" 6) cpu=$(col "$load" "$t" 10)
      if [[ $t == backend ]]; then
        echo "| ${LABEL[$t]}, 1 run | $(fmt_int "$rps") | $(fmt_ms "$(col "$load" "$t" 5)") | $(fmt_ms "$p99") | $(sum_col "$load" "$t" 7) | $(sum_col "$load" "$t" 8) | $(sum_col "$load" "$t" 9) | - | $(col "$load" "$t" 11)% | | | | |"
      else
        echo "| ${LABEL[$t]} | $(fmt_int "$rps") | $(fmt_ms "$(col "$load" "$t" 5)") | $(fmt_ms "$p99") | $(sum_col "$load" "$t" 7) | $(sum_col "$load" "$t" 8) | $(sum_col "$load" "$t" 9) | $(fmt_1 "$cpu") | max $(max_col "$load" "$t" 11)% | $(col "$load" "$t" 16) | $(ratio "$rps" "$h_rps") | $(ratio "$p99" "$h_p99") | $(ratio "$cpu" "$h_cpu") |"
      fi
    done
    echo
  done
  echo "bgproxy's own count of gRPC statuses over the whole run (warm-ups included): $GRPC_OK OK, $GRPC_OTHER other. Connections to the backend: the proxy's established TCP connections to nghttpd in the middle of each run (median; nginx's gRPC proxy takes one connection per stream in flight)."
  echo
  echo "## Per round"
  echo
  echo "| load | target | rps per round | p99 ms per round | proxy CPU us/request per round | machine busy % | compiler running (s) | load avg at start |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for load in "${LOAD_LIST[@]}"; do
    for t in haproxy bgproxy nginx; do
      echo "| $load | ${LABEL[$t]} | $(per_round "$load" "$t" 4) | $(per_round "$load" "$t" 6 %.2f) | $(per_round "$load" "$t" 10 %.1f) | $(per_round "$load" "$t" 13) | $(per_round "$load" "$t" 14) | $(per_round "$load" "$t" 15 %.2f) |"
    done
  done
  echo
  echo "Machine load at start: \`$UPTIME_START\`; at end: \`$(uptime)\`."
  echo
  echo "Generated by \`bench/grpc.sh${ORIG_ARGS:+ $ORIG_ARGS}\`. Compare ratios measured in one run; absolute figures depend on the machine and its load."
} >"$REPORT"

echo
cat "$REPORT"
if ((SAVE)); then
  mkdir -p "$RESULTS_DIR"
  cp "$REPORT" "$RESULTS_DIR/grpc-$STAMP.md"
  cp "$REPORT" "$RESULTS_DIR/grpc-latest.md"
  rm -rf "$RESULTS_DIR/grpc-$STAMP.raw"
  mkdir -p "$RESULTS_DIR/grpc-$STAMP.raw"
  cp -r "$RAW"/. "$RESULTS_DIR/grpc-$STAMP.raw/"
  cp "$TMP"/*/*.cfg "$TMP"/*/*.conf "$TMP"/*/*.yaml "$RESULTS_DIR/grpc-$STAMP.raw/" 2>/dev/null || true
  log "report written to ${RESULTS_DIR#"$REPO_DIR"/}/grpc-$STAMP.md and grpc-latest.md"
fi
if awk -F'\t' '$4 == "NA" || $8 > 0 || $9 > 0 { bad = 1 } END { exit !bad }' "$RUNS"; then
  warn "some runs produced no figures, failed requests or non-2xx answers (see the raw output)"
  exit 1
fi
