#!/usr/bin/env bash
# bench/h2.sh — HTTP/2 front benchmark: bgproxy vs HAProxy vs nginx, in one run.
#
# One nginx backend (plain HTTP/1.1, 1 worker, the one bench/compare.sh uses: `200 "ok\n"`),
# the three proxies with one worker each in front of it, driven by h2load:
#   (a) h2c by prior knowledge -> HTTP/1.1 upstream: h2load -c64 -m10
#   (b) h2 over TLS 1.3 (ALPN) -> HTTP/1.1 upstream, the same P-256 certificate for all three
#   (c) bgproxy HTTP/1.1 -> HTTP/1.1 (h2load --h1 -c64 -m1), its CPU per request next to (a)'s
# Rounds alternate between the targets; figures are medians. rps and p99 (from h2load's
# per-request log) as ratios to HAProxy, and the proxy's CPU per request (utime + stime of its
# process tree over the requests done). See bench/README.md ("HTTP/2").
#
#   bench/h2.sh [--bgproxy build/bgproxy] [--duration 10s] [--rounds 3] [--quick]
#
# Everything it starts listens on 127.0.0.1 only and is stopped at exit.
set -euo pipefail

PROG=h2.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
# shellcheck source=bench/bgproxy_config.sh
source "$SCRIPT_DIR/bgproxy_config.sh"

usage() {
  cat <<EOF
usage: bench/h2.sh [options]

  --bgproxy PATH       bgproxy binary (default: build/bgproxy at the repo top)
  --duration D         each measured h2load run, whole seconds (default 10s)
  --rounds N           measured rounds, the order of the targets rotating (default 3)
  --clients N          h2load connections (default 64)
  --streams N          h2load concurrent streams per connection (default 10)
  --port-base P        private port range start (default 18700; uses P+1..P+40)
  --results-dir DIR    where to write h2-YYYY-MM-DD-HHMM.md and h2-latest.md (default bench/results)
  --no-save            print the report only
  --keep-tmp           keep the temp dir (certificate, configs, logs, h2load output)
  --quick              smoke run: 1 round of 2 s, not saved
  -h, --help           this text

Environment: H2LOAD, HAPROXY, NGINX, CURL, OPENSSL override the tools' paths.
EOF
}

# ---------------------------------------------------------------- options
ORIG_ARGS="$*"
BGPROXY="$REPO_DIR/build/bgproxy"
DURATION=10s
ROUNDS=3
CLIENTS=64
STREAMS=10
PORT_BASE=18700
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
    --clients) need "$@"; CLIENTS=$2; shift 2 ;;
    --streams) need "$@"; STREAMS=$2; shift 2 ;;
    --port-base) need "$@"; PORT_BASE=$2; shift 2 ;;
    --results-dir) need "$@"; RESULTS_DIR=$2; SAVE=1; shift 2 ;;
    --no-save) SAVE=0; shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    --quick) shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done
[[ $DURATION =~ ^([0-9]+)s?$ ]] || die "--duration wants whole seconds, e.g. 10s"
DUR_S=${BASH_REMATCH[1]}
((DUR_S >= 1)) || die "--duration must be at least 1s"
for v in ROUNDS CLIENTS STREAMS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$(tr '[:upper:]' '[:lower:]' <<<"$v") must be a positive integer"
done
check_port_base
require_tools H2LOAD="h2load:h2load (apt-get install nghttp2-client)" HAPROXY="haproxy:haproxy" \
  NGINX="nginx:nginx (nginx-light)" CURL="curl:curl" OPENSSL="openssl:openssl"
[[ -x $BGPROXY ]] || die "no bgproxy binary at $BGPROXY (build it, or pass --bgproxy PATH)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- ports
P_BLUE=$((PORT_BASE + 1))
P_GREEN=$((PORT_BASE + 2))
P_ADMIN=$((PORT_BASE + 3))
declare -A H2C_PORT TLS_PORT LABEL
H2C_PORT[haproxy]=$((PORT_BASE + 10)) TLS_PORT[haproxy]=$((PORT_BASE + 11))
H2C_PORT[nginx]=$((PORT_BASE + 20)) TLS_PORT[nginx]=$((PORT_BASE + 21))
H2C_PORT[bgproxy]=$((PORT_BASE + 30)) TLS_PORT[bgproxy]=$((PORT_BASE + 31))
LABEL[haproxy]="HAProxy" LABEL[nginx]="nginx proxy" LABEL[bgproxy]="bgproxy"
for p in $P_BLUE $P_GREEN $P_ADMIN "${H2C_PORT[@]}" "${TLS_PORT[@]}"; do
  ! port_busy "$p" || die "port 127.0.0.1:$p is already in use (try --port-base)"
done

# ---------------------------------------------------------------- temp dir, exit
setup_run_dir h2  # $TMP, $RAW, and the exit trap that stops what runs

wait_url() { # name url [seconds] [curl options...]: until url answers 2xx, bounded
  local name=$1 url=$2 secs=${3:-10} i
  shift 3 || shift $#
  for ((i = 0; i < secs * 10; i++)); do
    alive "$name" || return 1
    "$CURL" -kfsS -o /dev/null --max-time 1 "$@" "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- certificate
CERT=$TMP/cert.pem KEY=$TMP/key.pem PEM=$TMP/haproxy.pem
"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$KEY" -out "$CERT" >"$TMP/openssl-req.log" 2>&1 || { cat "$TMP/openssl-req.log" >&2; die "openssl req failed"; }
cat "$CERT" "$KEY" >"$PEM"

# ---------------------------------------------------------------- servers
nginx_head() { # dir
  cat <<EOF
daemon off;
master_process on;
error_log $1/error.log warn;
pid $1/nginx.pid;
worker_rlimit_nofile 65536;
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    http2_max_requests 1000000;
    default_type text/plain;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

start_backend() {
  local d=$TMP/backend p
  mkdir -p "$d"
  {
    nginx_head "$d"
    for p in $P_BLUE $P_GREEN; do
      printf '    server { listen 127.0.0.1:%s; location / { return 200 "ok\\n"; } }\n' "$p"
    done
    echo "}"
  } >"$d/nginx.conf"
  start_bg backend "$d/stdout.log" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
  wait_url backend "http://127.0.0.1:$P_BLUE/" 10 || die "the nginx backend did not start (see $d/error.log)"
}

# Every proxy sends everything to the blue backend (bgproxy: blue is live, green idle), adds
# X-Forwarded-For and X-Forwarded-Proto, and keeps upstream connections alive.
start_target() { # name -> 0 when both its h2c and its TLS port answer over HTTP/2
  local name=$1 d=$TMP/$1
  mkdir -p "$d"
  case $name in
    haproxy)
      cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
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
  bind 127.0.0.1:${H2C_PORT[haproxy]} proto h2
  http-request set-header X-Forwarded-Proto http
  default_backend be
frontend h2
  bind 127.0.0.1:${TLS_PORT[haproxy]} ssl crt $PEM alpn h2,http/1.1 ssl-min-ver TLSv1.2
  http-request set-header X-Forwarded-Proto https
  default_backend be
backend be
  server blue 127.0.0.1:$P_BLUE maxconn 4096
EOF
      start_bg haproxy "$d/haproxy.log" "$HAPROXY" -db -f "$d/haproxy.cfg"
      ;;
    nginx)
      {
        nginx_head "$d"
        cat <<EOF
    upstream bg {
        server 127.0.0.1:$P_BLUE;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:${H2C_PORT[nginx]} http2;
        listen 127.0.0.1:${TLS_PORT[nginx]} ssl http2;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://bg;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
      } >"$d/nginx.conf"
      start_bg nginx "$d/stdout.log" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
      ;;
    bgproxy)
      {
        bgproxy_bench_config "${H2C_PORT[bgproxy]}" 1 "$P_ADMIN" "$P_BLUE" "$P_GREEN" 4096
        cat <<EOF
protocols: [http1, h2c]
tls:
  listen: 127.0.0.1:${TLS_PORT[bgproxy]}
  cert: $CERT
  key: $KEY
  alpn: [h2, http/1.1]
EOF
      } >"$d/bgproxy.yaml"
      start_bg bgproxy "$d/bgproxy.log" "$BGPROXY" run -c "$d/bgproxy.yaml"
      ;;
  esac
  if ! wait_url "$name" "http://127.0.0.1:${H2C_PORT[$name]}/" 15 --http2-prior-knowledge ||
    ! wait_url "$name" "https://127.0.0.1:${TLS_PORT[$name]}/" 5 --http2; then
    warn "${LABEL[$name]} did not answer over h2c and h2; its files are in $d"
    return 1
  fi
}

# ---------------------------------------------------------------- runs
RUNS=$RAW/runs.tsv # mode target round rps p50_ms p99_ms done failed cpu_us_per_request
: >"$RUNS"

# run_h2load mode target round: one measured run, its line appended to RUNS
run_h2load() {
  local mode=$1 t=$2 r=$3 url args out c0 c1
  out=$RAW/$mode-$t-r$r
  case $mode in
    h2c) url="http://127.0.0.1:${H2C_PORT[$t]}/"; args=(-m "$STREAMS") ;;
    h2) url="https://127.0.0.1:${TLS_PORT[$t]}/"; args=(-m "$STREAMS") ;;
    h1) url="http://127.0.0.1:${H2C_PORT[$t]}/"; args=(--h1 -m 1) ;;
  esac
  c0=$(cpu_ticks "$t")
  run_fg "$H2LOAD" -t1 -c"$CLIENTS" "${args[@]}" -D "$DUR_S" --log-file "$out.log" "$url" >"$out.txt" 2>&1 </dev/null ||
    warn "h2load exited non-zero for $mode ${LABEL[$t]} (see $out.txt)"
  c1=$(cpu_ticks "$t")
  # h2load: "finished in 10.00s, 12345.60 req/s, ..." and "requests: N total, N started, N done,
  # N succeeded, N failed, ..."; the log's third column is each request's time in microseconds.
  local rps done_n failed p50 p99
  read -r rps done_n failed <<<"$(awk '
    /^finished in/ { gsub(",", ""); rps = $4 }
    /^requests:/ { gsub(",", ""); done = $6; failed = $10 + $12 }
    END { print (rps == "" ? "NA" : rps), (done == "" ? "NA" : done), (failed == "" ? "NA" : failed) }' "$out.txt")"
  read -r p50 p99 <<<"$(awk -F'\t' '$2 >= 200 && $2 < 300 { print $3 }' "$out.log" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "NA NA"; else printf "%.3f %.3f\n", a[int(NR * 0.5) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000 }')"
  rm -f "$out.log"
  local cpu
  cpu=$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v n="$done_n" 'BEGIN { if (n == "NA" || n + 0 == 0) print "NA"; else printf "%.2f\n", c / hz / n * 1e6 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$t" "$r" "$rps" "$p50" "$p99" "$done_n" "$failed" "$cpu" >>"$RUNS"
  log "$mode round $r ${LABEL[$t]}: $(fmt_int "$rps") rps, p50 $(fmt_ms "$p50") ms, p99 $(fmt_ms "$p99") ms, failed $failed, proxy CPU $cpu us/request"
  alive "$t" || die "${LABEL[$t]} died during $mode round $r (see $TMP/$t)"
}

# run_phase mode targets...: a warm-up each, then ROUNDS rounds in rotating order
run_phase() {
  local mode=$1 n r i t; shift
  local targets=("$@")
  n=${#targets[@]}
  for t in "${targets[@]}"; do
    [[ $t == bgproxy-h1 ]] && continue  # the same bgproxy, warmed up over h2c
    run_fg "$H2LOAD" -t1 -c"$CLIENTS" -m "$STREAMS" -D "$((DUR_S / 5 + 1))" "$([[ $mode == h2 ]] && echo "https://127.0.0.1:${TLS_PORT[$t]}/" || echo "http://127.0.0.1:${H2C_PORT[$t]}/")" >"$RAW/$mode-$t-warmup.txt" 2>&1 </dev/null || true
  done
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
      t=${targets[$(((i + r - 1) % n))]}
      if [[ $t == bgproxy-h1 ]]; then run_h2load h1 bgproxy "$r"; else run_h2load "$mode" "$t" "$r"; fi
    done
  done
}

STAMP=$(date +%Y-%m-%d-%H%M)
START_HUMAN=$(date '+%Y-%m-%d %H:%M %Z')
UPTIME_START=$(uptime)
read -r load1 _ </proc/loadavg
if awk -v l="$load1" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  warn "load average is $load1 on $(nproc) CPUs: the machine is busy, expect noisy numbers"
fi
log "temp dir $TMP; ports 127.0.0.1:$P_BLUE..${TLS_PORT[bgproxy]}"
start_backend
for t in haproxy nginx bgproxy; do start_target "$t" || die "${LABEL[$t]} did not start"; done
BG_VERSION=$("$BGPROXY" version 2>/dev/null | head -1 || true)
NEGOTIATED=$("$H2LOAD" -n1 -c1 "https://127.0.0.1:${TLS_PORT[bgproxy]}/" 2>&1 | awk '/^TLS Protocol:|^Cipher:|^Server Temp Key:|^Application protocol:/ { sub(/^[^:]*: /, ""); printf "%s%s", sep, $0; sep = ", " }')

# h2c, with bgproxy's HTTP/1.1 -> HTTP/1.1 in the same rotation (its CPU per request is the
# reference for h2c's), then h2 over TLS.
run_phase h2c haproxy nginx bgproxy bgproxy-h1
run_phase h2 haproxy nginx bgproxy

# ---------------------------------------------------------------- report
col() { # mode target column -> median over the rounds
  awk -F'\t' -v m="$1" -v t="$2" -v c="$3" '$1 == m && $2 == t { print $c }' "$RUNS" | median
}
per_round() { # mode target column [printf format] -> the rounds' values
  awk -F'\t' -v m="$1" -v t="$2" -v c="$3" -v f="${4:-%.0f}" '$1 == m && $2 == t { printf "%s%s", sep, ($c == "NA" ? "n/a" : sprintf(f, $c)); sep = ", " }' "$RUNS"
}
REPORT=$TMP/report.md
{
  echo "# HTTP/2 front: bgproxy vs HAProxy vs nginx — $START_HUMAN"
  echo
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r); shared by h2load, the backend and the proxy"
  echo "- Tools: $("$H2LOAD" --version 2>&1 | head -1) (\`-t1 -c$CLIENTS -m$STREAMS\`), HAProxy $("$HAPROXY" -v 2>/dev/null | awk 'NR == 1 { print $3 }'), nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'); bgproxy: ${BG_VERSION:-n/a}"
  echo "- One worker each (bgproxy \`workers: 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`), one nginx backend (1 worker) answering \`200 \"ok\\n\"\` over HTTP/1.1 keep-alive"
  echo "- TLS (h2): $NEGOTIATED, the same self-signed P-256 certificate for all three"
  echo "- Runs: $DURATION each, $ROUNDS round(s) in rotating order after a warm-up; medians of the rounds. p50/p99 from h2load's per-request log (\`--log-file\`)"
  ((QUICK)) && echo "- **Quick smoke run** (\`--quick\`): too short to compare anything"
  echo
  for mode in h2c h2; do
    if [[ $mode == h2c ]]; then echo "## h2c (prior knowledge) -> HTTP/1.1"; else echo "## h2 over TLS (ALPN) -> HTTP/1.1"; fi
    echo
    echo "| target | rps | p50 ms | p99 ms | failed | proxy CPU us/request | rps / HAProxy | p99 / HAProxy | CPU/request / HAProxy |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    h_rps=$(col "$mode" haproxy 4) h_p99=$(col "$mode" haproxy 6) h_cpu=$(col "$mode" haproxy 9)
    for t in haproxy bgproxy nginx; do
      rps=$(col "$mode" "$t" 4) p99=$(col "$mode" "$t" 6) cpu=$(col "$mode" "$t" 9)
      echo "| ${LABEL[$t]} | $(fmt_int "$rps") | $(fmt_ms "$(col "$mode" "$t" 5)") | $(fmt_ms "$p99") | $(awk -F'\t' -v m="$mode" -v t="$t" '$1 == m && $2 == t { s += $8 } END { print s + 0 }' "$RUNS") | $(fmt_1 "$cpu") | $(ratio "$rps" "$h_rps") | $(ratio "$p99" "$h_p99") | $(ratio "$cpu" "$h_cpu") |"
    done
    echo
  done
  h1_cpu=$(col h1 bgproxy 9) h2c_cpu=$(col h2c bgproxy 9)
  echo "## bgproxy CPU per request: HTTP/1.1 -> HTTP/1.1 vs h2c -> HTTP/1.1"
  echo
  echo "| bgproxy front | client | rps | p99 ms | CPU us/request (median) | per round |"
  echo "| --- | --- | ---: | ---: | ---: | --- |"
  echo "| HTTP/1.1 | \`h2load --h1 -c$CLIENTS -m1\` | $(fmt_int "$(col h1 bgproxy 4)") | $(fmt_ms "$(col h1 bgproxy 6)") | $(fmt_1 "$h1_cpu") | $(per_round h1 bgproxy 9 %.1f) |"
  echo "| h2c | \`h2load -c$CLIENTS -m$STREAMS\` | $(fmt_int "$(col h2c bgproxy 4)") | $(fmt_ms "$(col h2c bgproxy 6)") | $(fmt_1 "$h2c_cpu") | $(per_round h2c bgproxy 9 %.1f) |"
  echo
  echo "h2c - HTTP/1.1: $(awk -v a="$h2c_cpu" -v b="$h1_cpu" 'BEGIN { if (a == "NA" || b == "NA") print "n/a"; else printf "%+.1f us per request (target: <= +2 us)\n", a - b }')"
  echo
  echo "## Per-round rps"
  echo
  echo "| mode | target | rps per round |"
  echo "| --- | --- | --- |"
  for mode in h2c h2 h1; do
    for t in haproxy bgproxy nginx; do
      l=$(per_round "$mode" "$t" 4)
      [[ -n $l ]] && echo "| $mode | ${LABEL[$t]} | $l |"
    done
  done
  echo
  echo "Machine load at start: \`$UPTIME_START\`; at end: \`$(uptime)\`."
  echo
  echo "Generated by \`bench/h2.sh${ORIG_ARGS:+ $ORIG_ARGS}\`. Compare ratios measured in one run; absolute figures depend on the machine and its load."
} >"$REPORT"

echo
cat "$REPORT"
if ((SAVE)); then
  mkdir -p "$RESULTS_DIR"
  cp "$REPORT" "$RESULTS_DIR/h2-$STAMP.md"
  cp "$REPORT" "$RESULTS_DIR/h2-latest.md"
  rm -rf "$RESULTS_DIR/h2-$STAMP.raw"
  mkdir -p "$RESULTS_DIR/h2-$STAMP.raw"
  cp -r "$RAW"/. "$RESULTS_DIR/h2-$STAMP.raw/"
  log "report written to ${RESULTS_DIR#"$REPO_DIR"/}/h2-$STAMP.md and h2-latest.md"
fi
if awk -F'\t' '$4 == "NA" || $8 > 0 { bad = 1 } END { exit !bad }' "$RUNS"; then
  warn "some runs produced no figures or failed requests (see the raw output)"
  exit 1
fi
