#!/usr/bin/env bash
# bench/tls.sh — TLS termination benchmark: bgproxy vs HAProxy vs nginx.
#
# One nginx backend (plain HTTP, blue and green), the three proxies terminating
# TLS with the same P-256 certificate (made with the openssl CLI at the start),
# one worker each, a 75/25 blue/green split. Measures, in rotating rounds:
#   1. HTTP/1.1 over TLS 1.3, keep-alive, wrk -t1 -c64: rps and p99
#   2. full handshakes per second (bench/tls_handshakes.cpp, no resumption) and
#      the proxy's CPU during them: handshakes per proxy CPU-second
#   3. memory per idle TLS connection (bench/idle_conns.cpp --tls)
# and writes a Markdown report. See bench/README.md ("TLS").
#
#   bench/tls.sh [--bgproxy build/bgproxy] [--duration 10s] [--rounds 3] [--quick]
#
# Everything it starts listens on 127.0.0.1 only and is stopped at exit.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
PROG=tls.sh
# shellcheck source=bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
# shellcheck source=bench/bgproxy_config.sh
source "$SCRIPT_DIR/bgproxy_config.sh"

usage() {
  cat <<EOF
usage: bench/tls.sh [options]

  --bgproxy PATH       bgproxy binary (default: build/bgproxy at the repo top)
  --duration D         each measured wrk run and handshake run, e.g. 10s (default 10s)
  --rounds N           measured rounds, the order of the targets rotating (default 3)
  --conns N            wrk connections for the keep-alive test (default 64)
  --hs-procs N         handshake client processes run in parallel (default 2)
  --hs-conns N         connections in flight per handshake client (default 16)
  --handshake-only     handshake clients close right after the handshake (default:
                       one GET / per connection, which proves the proxy served it)
  --idle-conns N       idle TLS connections for the memory test (default 10000)
  --no-rps, --no-handshakes, --no-memory   skip that part
  --port-base P        private port range start (default 18500; uses P+1..P+32)
  --results-dir DIR    where to write tls-YYYY-MM-DD-HHMM.md and tls-latest.md
                       (default bench/results)
  --no-save            print the report only
  --require-bgproxy    exit 1 if bgproxy could not be benchmarked
  --keep-tmp           keep the temp dir (certificate, configs, logs)
  --quick              smoke run: 1 round of 2 s, 500 idle connections, not saved
  -h, --help           this text

Environment: WRK, HAPROXY, NGINX, CURL, CXX, OPENSSL override the tools' paths.
EOF
}


# ---------------------------------------------------------------- options
ORIG_ARGS="$*"
BGPROXY="$REPO_DIR/build/bgproxy"
DURATION=10s
ROUNDS=3
CONNS=64
HS_PROCS=2
HS_CONNS=16
HS_ONLY=0
IDLE_CONNS=10000
DO_RPS=1 DO_HS=1 DO_MEM=1
PORT_BASE=18500
RESULTS_DIR=""
SAVE=1
REQUIRE_BGPROXY=0
KEEP_TMP=0
QUICK=0

for a in "$@"; do
  [[ $a == --quick ]] && QUICK=1 DURATION=2s ROUNDS=1 IDLE_CONNS=500 SAVE=0
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
    --conns) need "$@"; CONNS=$2; shift 2 ;;
    --hs-procs) need "$@"; HS_PROCS=$2; shift 2 ;;
    --hs-conns) need "$@"; HS_CONNS=$2; shift 2 ;;
    --handshake-only) HS_ONLY=1; shift ;;
    --idle-conns) need "$@"; IDLE_CONNS=$2; shift 2 ;;
    --no-rps) DO_RPS=0; shift ;;
    --no-handshakes) DO_HS=0; shift ;;
    --no-memory) DO_MEM=0; shift ;;
    --port-base) need "$@"; PORT_BASE=$2; shift 2 ;;
    --results-dir) need "$@"; RESULTS_DIR=$2; SAVE=1; shift 2 ;;
    --no-save) SAVE=0; shift ;;
    --require-bgproxy) REQUIRE_BGPROXY=1; shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    --quick) shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done
[[ -n $RESULTS_DIR ]] || RESULTS_DIR="$REPO_DIR/bench/results"
[[ $DURATION =~ ^([0-9]+)s?$ ]] && ((BASH_REMATCH[1] >= 1)) || die "--duration wants whole seconds, e.g. 10s"
DUR_S=${BASH_REMATCH[1]}
for v in ROUNDS CONNS HS_PROCS HS_CONNS IDLE_CONNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$(tr 'A-Z_' 'a-z-' <<<"$v") must be a positive integer"
done
check_port_base

# ---------------------------------------------------------------- tools
require_tools WRK="wrk:wrk (apt-get install wrk)" HAPROXY="haproxy:haproxy (apt-get install haproxy)" \
  NGINX="nginx:nginx (apt-get install nginx-light)" CURL="curl:curl (apt-get install curl)" \
  CXX="g++:g++" OPENSSL="openssl:openssl"
if command -v ldd >/dev/null && [[ $(ldd "$WRK" 2>/dev/null || true) != *libssl* ]]; then
  warn "$WRK does not seem to link OpenSSL: https runs may fail"
fi

# ---------------------------------------------------------------- limits
want_nofile=65536
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard >= want_nofile)); then ulimit -n "$want_nofile"; else ulimit -n "$hard"; fi
NOFILE=$(ulimit -n)
# bgproxy keeps two descriptors per data-plane connection (client and upstream)
# plus 132 for the admin API and itself, and takes no more connections than that.
BG_FD_CAP=$(((NOFILE - 132) / 2))
if ((DO_MEM)) && ((IDLE_CONNS + IDLE_CONNS / 5 + 600 > NOFILE || IDLE_CONNS + 100 > BG_FD_CAP)); then
  IDLE_CONNS=$(((NOFILE - 600) * 5 / 6))
  ((IDLE_CONNS + 100 > BG_FD_CAP)) && IDLE_CONNS=$(((BG_FD_CAP - 100) / 100 * 100))
  warn "open-files limit $NOFILE (hard limit $(ulimit -Hn)): using $IDLE_CONNS idle connections for every proxy"
fi
# The same connection capacity for every proxy; 20% headroom over the idle
# count because nginx closes idle keep-alive connections when fewer than 1/16
# of its worker_connections are free.
CAP=$((IDLE_CONNS + IDLE_CONNS / 5 + 500))
((CAP < 2000)) && CAP=2000
((CAP > NOFILE - 100)) && CAP=$((NOFILE - 100))
BG_CAP=$CAP
((BG_CAP > BG_FD_CAP)) && BG_CAP=$BG_FD_CAP

# ---------------------------------------------------------------- ports
P_BLUE=$((PORT_BASE + 1))
P_GREEN=$((PORT_BASE + 2))
P_BG_PLAIN=$((PORT_BASE + 30))
P_ADMIN=$((PORT_BASE + 31))
declare -A PORT LABEL
PORT[haproxy]=$((PORT_BASE + 10))
PORT[nginx]=$((PORT_BASE + 20))
PORT[bgproxy]=$((PORT_BASE + 32))
LABEL[haproxy]="HAProxy"
LABEL[nginx]="nginx proxy"
LABEL[bgproxy]="bgproxy"
for p in $P_BLUE $P_GREEN ${PORT[haproxy]} ${PORT[nginx]} ${PORT[bgproxy]} $P_BG_PLAIN $P_ADMIN; do
  ! port_busy "$p" || die "port 127.0.0.1:$p is already in use (try --port-base)"
done

# ---------------------------------------------------------------- processes
setup_run_dir tls  # $TMP, $RAW, and the exit trap that stops what runs


wait_url() { # name url [seconds]: until url answers 2xx (certificates not checked)
  local name=$1 url=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    alive "$name" || return 1
    "$CURL" -kfsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

sum_status() { # name field(VmRSS|VmHWM) -> kB over the process tree
  local pid=${PIDS[$1]:-} sum=0 p v
  [[ -n $pid ]] || { echo 0; return; }
  for p in $(tree_pids "$pid"); do
    v=$(awk -v k="$2:" '$1 == k { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- certificate
CERT=$TMP/cert.pem KEY=$TMP/key.pem PEM=$TMP/haproxy.pem
"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$KEY" -out "$CERT" >"$TMP/openssl-req.log" 2>&1 || { cat "$TMP/openssl-req.log" >&2; die "openssl req failed"; }
cat "$CERT" "$KEY" >"$PEM"
CERT_DESC=$("$OPENSSL" x509 -in "$CERT" -noout -text | awk '/Public Key Algorithm|NIST CURVE|ASN1 OID/ { sub(/^ +/, ""); printf "%s%s", sep, $0; sep = ", " }')

# ---------------------------------------------------------------- configs
nginx_head() { # dir workers
  cat <<EOF
daemon off;
master_process on;
error_log $1/error.log warn;
pid $1/nginx.pid;
worker_rlimit_nofile $NOFILE;
worker_processes $2;
events { worker_connections $CAP; }
http {
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    default_type text/plain;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

start_backend() {
  local d=$TMP/backend
  mkdir -p "$d"
  {
    nginx_head "$d" 1
    for p in $P_BLUE $P_GREEN; do
      echo "    server { listen 127.0.0.1:$p; location / { return 200 \"ok\\n\"; } }"
    done
    echo "}"
  } >"$d/nginx.conf"
  start_bg backend "$d/stdout.log" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
  wait_url backend "http://127.0.0.1:$P_BLUE/" && wait_url backend "http://127.0.0.1:$P_GREEN/" || {
    cat "$d/stdout.log" "$d/error.log" >&2 2>/dev/null || true
    die "the nginx backend did not start"
  }
}

BG_NOTE=""
BG_WEIGHT_NOTE=""
# start_target name -> 0 when it answers GET / over TLS
start_target() {
  local name=$1 d=$TMP/$1 port=${PORT[$1]} mainlog
  mkdir -p "$d"
  mainlog=$d/$name.log
  case $name in
    haproxy)
      local strict=""
      ((2 * CAP + 300 > NOFILE)) && strict="  no strict-limits"
      cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $CAP
$strict
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
frontend fe
  bind 127.0.0.1:$port ssl crt $PEM alpn http/1.1 ssl-min-ver TLSv1.2
  maxconn $CAP
  http-request set-header X-Forwarded-Proto https
  default_backend be
backend be
  balance roundrobin
  server blue 127.0.0.1:$P_BLUE weight 75 maxconn $CAP
  server green 127.0.0.1:$P_GREEN weight 25 maxconn $CAP
EOF
      start_bg haproxy "$d/haproxy.log" "$HAPROXY" -db -f "$d/haproxy.cfg"
      ;;
    nginx)
      {
        nginx_head "$d" 1
        cat <<EOF
    upstream bg {
        server 127.0.0.1:$P_BLUE weight=3;
        server 127.0.0.1:$P_GREEN weight=1;
        keepalive 64;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
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
      mainlog=$d/error.log
      ;;
    bgproxy)
      {
        bgproxy_bench_config "$P_BG_PLAIN" 1 "$P_ADMIN" "$P_BLUE" "$P_GREEN" "$BG_CAP"
        cat <<EOF
tls:
  listen: 127.0.0.1:$port
  cert: $CERT
  key: $KEY
EOF
      } >"$d/bgproxy.yaml"
      local rc=0
      "$BGPROXY" check-config "$d/bgproxy.yaml" >"$d/check-config.log" 2>&1 || rc=$?
      if ((rc == 2)); then
        warn "bgproxy check-config refused the benchmark config:"
        sed 's/^/    /' "$d/check-config.log" >&2
        BG_NOTE="config refused by check-config: $(head -n 3 "$d/check-config.log" | tr '\n' ' ')"
        return 1
      fi
      start_bg bgproxy "$mainlog" "$BGPROXY" run -c "$d/bgproxy.yaml"
      if ! wait_url bgproxy "http://127.0.0.1:$P_BG_PLAIN/" 15; then
        BG_NOTE="did not answer plain HTTP on its listen address 127.0.0.1:$P_BG_PLAIN either"
        alive bgproxy || BG_NOTE="exited before answering on 127.0.0.1:$P_BG_PLAIN"
        warn "bgproxy $BG_NOTE; the end of its log:"
        tail -n 20 "$mainlog" 2>/dev/null | sed 's/^/    /' >&2 || true
        stop_proc bgproxy
        return 1
      fi
      ;;
  esac
  # bgproxy's plain listener already answers: its TLS one opens at the same time
  local secs=15
  [[ $name == bgproxy ]] && secs=5
  if ! wait_url "$name" "https://127.0.0.1:$port/" "$secs"; then
    local why="did not answer GET / over TLS on 127.0.0.1:$port within $secs s"
    [[ $name == bgproxy ]] && why="started and answers plain HTTP on 127.0.0.1:$P_BG_PLAIN, but did not answer GET / over TLS on tls.listen 127.0.0.1:$port within $secs s (is the TLS listener wired in this build?)"
    alive "$name" || why="exited before answering GET / over TLS on 127.0.0.1:$port"
    warn "${LABEL[$name]} $why; the end of its log:"
    tail -n 20 "$mainlog" 2>/dev/null | sed 's/^/    /' >&2 || true
    "$CURL" -kv --max-time 2 "https://127.0.0.1:$port/" >"$d/curl-tls.log" 2>&1 || true
    stop_proc "$name"
    [[ $name == bgproxy ]] && BG_NOTE=$why
    return 1
  fi
  if [[ $name == bgproxy ]]; then
    local out
    if out=$("$CURL" -fsS --max-time 3 -X PUT -H 'Content-Type: application/json' \
      -d '{"green":25}' "http://127.0.0.1:$P_ADMIN/weights" 2>&1); then
      "$CURL" -fsS --max-time 3 "http://127.0.0.1:$P_ADMIN/status" >"$d/status.json" 2>/dev/null || true
      tr -d ' \n' <"$d/status.json" | grep -q '"green":25' ||
        BG_WEIGHT_NOTE="PUT /weights answered but /status does not show green=25"
    else
      BG_WEIGHT_NOTE="PUT /weights failed ($out): default split (all to blue)"
    fi
    [[ -z $BG_WEIGHT_NOTE ]] || warn "bgproxy: $BG_WEIGHT_NOTE"
  fi
  return 0
}

# What a client negotiates with each target: protocol, cipher, key exchange, ALPN.
describe_tls() { # port -> one line
  "$OPENSSL" s_client -connect "127.0.0.1:$1" -alpn http/1.1 -servername localhost </dev/null 2>/dev/null |
    awk -F': ' '
      /^New, / { split($0, a, ", "); proto = a[2]; sub(/Cipher is /, "", a[3]); cipher = a[3] }
      /^Server Temp Key:/ { kx = $2 }
      /^ALPN protocol:/ { alpn = $2 }
      /^Peer signature type:/ { sig = $2 }
      END { printf "%s %s, key exchange %s, signature %s, ALPN %s\n", proto, cipher, kx, sig, (alpn == "" ? "none" : alpn) }'
}

# ---------------------------------------------------------------- helpers
log "temp dir $TMP; ports 127.0.0.1:$P_BLUE..${PORT[bgproxy]}; open-files limit $NOFILE"
log "building bench/tls_handshakes.cpp and bench/idle_conns.cpp"
"$CXX" -O2 -std=c++20 -o "$TMP/tls_handshakes" "$SCRIPT_DIR/tls_handshakes.cpp" -lssl -lcrypto || die "could not build bench/tls_handshakes.cpp"
"$CXX" -O2 -std=c++20 -o "$TMP/idle_conns" "$SCRIPT_DIR/idle_conns.cpp" -lssl -lcrypto || die "could not build bench/idle_conns.cpp"

parse_wrk() { # file -> "rps p50 p99 non2xx sockerr" (ms), NA when absent
  awk '
    function ms(v,   n, u) {
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000; if (u == "s") return n * 1000
      if (u == "m") return n * 60000; return n
    }
    /^ +50% / { p50 = ms($2) }
    /^ +99% / { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $5 }
    /Socket errors:/ { gsub(",", ""); se = $4 + $6 + $8 + $10 }
    END {
      if (rps == "") { print "NA NA NA NA NA"; exit }
      printf "%s %s %s %d %d\n", rps, (p50 == "" ? "NA" : p50), (p99 == "" ? "NA" : p99), non2xx, se
    }' "$1"
}
run_wrk() { # port conns duration outfile
  run_fg "$WRK" -t1 -c"$2" -d"$3" --latency "https://127.0.0.1:$1/" >"$4" 2>&1 </dev/null
}

# run_handshakes name outfile -> appends "rate failed cpu_fraction" to outfile's .sum
run_handshakes() {
  local name=$1 out=$2 i t0 t1 c0 c1 pids=() rc
  local args=(127.0.0.1 "${PORT[$name]}" --conns "$HS_CONNS" --duration "$DUR_S")
  ((HS_ONLY)) && args+=(--handshake-only)
  c0=$(cpu_ticks "$name")
  t0=$(date +%s.%N)
  for ((i = 0; i < HS_PROCS; i++)); do
    "$TMP/tls_handshakes" "${args[@]}" >"$out.$i" 2>&1 </dev/null &
    pids+=($!)
  done
  FG_PIDS=("${pids[@]}")
  for i in "${pids[@]}"; do wait "$i" || true; done
  FG_PIDS=()
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$name")
  cat "$out".[0-9]* >"$out"
  rm -f "$out".[0-9]*
  awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" '
    /^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                rate += v["rate"]; failed += v["failed"]; n++ }
    END { if (n == 0) { print "NA NA NA"; exit }
          printf "%.1f %d %.3f\n", rate, failed, (c1 - c0) / hz / (t1 - t0) }' "$out"
}

# ---------------------------------------------------------------- run
STAMP=$(date +%Y-%m-%d-%H%M)
START_HUMAN=$(date '+%Y-%m-%d %H:%M %Z')
read -r load1 _ </proc/loadavg
UPTIME_START=$(uptime)
if awk -v l="$load1" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  warn "load average is $load1 on $(nproc) CPUs: the machine is busy, expect noisy numbers"
fi

start_backend
log "nginx backend up: blue 127.0.0.1:$P_BLUE, green 127.0.0.1:$P_GREEN"

TARGETS=()
declare -A NEGOTIATED=()
start_target haproxy || die "HAProxy did not start with TLS (it is the reference; see the log above)"
TARGETS+=(haproxy)
start_target nginx || die "the nginx proxy did not start with TLS (see the log above)"
TARGETS+=(nginx)
BG_OK=0 BG_VERSION=""
if [[ ! -x $BGPROXY ]]; then
  BG_NOTE="binary not found at ${BGPROXY#"$REPO_DIR"/}"
  warn "bgproxy: $BG_NOTE — benchmarking the others only"
else
  BG_VERSION=$("$BGPROXY" version 2>/dev/null | head -1 || true)
  if start_target bgproxy; then BG_OK=1; TARGETS+=(bgproxy); else warn "bgproxy: $BG_NOTE — benchmarking the others only"; fi
fi
for t in "${TARGETS[@]}"; do
  NEGOTIATED[$t]=$(describe_tls "${PORT[$t]}")
  log "${LABEL[$t]}: ${NEGOTIATED[$t]}"
done

RUNS=$RAW/runs.tsv # kind target round a b c d e
: >"$RUNS"
declare -A DIED=()
check_alive() { # target what
  if ! alive "$1" && [[ -z ${DIED[$1]:-} ]]; then
    warn "${LABEL[$1]} died during $2"
    DIED[$1]=$2
  fi
}
n=${#TARGETS[@]}

if ((DO_RPS)); then
  for t in "${TARGETS[@]}"; do
    log "keep-alive c=$CONNS warm-up ${LABEL[$t]}"
    run_wrk "${PORT[$t]}" "$CONNS" "$((DUR_S / 5 + 1))s" "$RAW/rps-$t-warmup.txt" || warn "wrk warm-up failed for ${LABEL[$t]}"
  done
  for ((r = 0; r < ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
      t=${TARGETS[$(((i + r) % n))]}
      f=$RAW/rps-$t-r$((r + 1)).txt
      run_wrk "${PORT[$t]}" "$CONNS" "$DURATION" "$f" || warn "wrk exited non-zero for ${LABEL[$t]} (see $f)"
      read -r rps p50 p99 non2xx se <<<"$(parse_wrk "$f")"
      printf 'rps\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$((r + 1))" "$rps" "$p50" "$p99" "$non2xx" "$se" >>"$RUNS"
      log "keep-alive round $((r + 1))/$ROUNDS ${LABEL[$t]}: $rps rps, p50 $p50 ms, p99 $p99 ms, non-2xx $non2xx, socket errors $se"
      check_alive "$t" "the keep-alive test"
    done
  done
fi

if ((DO_HS)); then
  for t in "${TARGETS[@]}"; do
    alive "$t" || continue
    log "handshakes warm-up ${LABEL[$t]}"
    FG_PIDS=()
    "$TMP/tls_handshakes" 127.0.0.1 "${PORT[$t]}" --conns "$HS_CONNS" --duration 1 >"$RAW/hs-$t-warmup.txt" 2>&1 || true
  done
  for ((r = 0; r < ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
      t=${TARGETS[$(((i + r) % n))]}
      alive "$t" || continue
      f=$RAW/hs-$t-r$((r + 1)).txt
      read -r rate failed cpu <<<"$(run_handshakes "$t" "$f")"
      per_cpu=$(awk -v r="$rate" -v c="$cpu" 'BEGIN { if (r == "NA" || c + 0 <= 0) print "NA"; else printf "%.1f\n", r / c }')
      printf 'hs\t%s\t%s\t%s\t%s\t%s\t%s\t-\n' "$t" "$((r + 1))" "$rate" "$cpu" "$per_cpu" "$failed" >>"$RUNS"
      log "handshakes round $((r + 1))/$ROUNDS ${LABEL[$t]}: $rate/s, proxy CPU $cpu, $per_cpu per proxy CPU-second, failed $failed $(grep -o 'first_error=[^ ]*' "$f" | head -1)"
      check_alive "$t" "the handshake test"
    done
  done
fi
for t in haproxy nginx bgproxy; do stop_proc "$t"; done

MEMF=$RAW/memory.tsv # target before_kb with_kb ok failed open err
: >"$MEMF"
if ((DO_MEM)); then
  for t in "${TARGETS[@]}"; do
    start_target "$t" || { warn "${LABEL[$t]} did not start for the memory test"; continue; }
    run_wrk "${PORT[$t]}" 16 1s "$RAW/mem-$t-warmup.txt" || true
    sleep 1
    before=$(sum_status "$t" VmRSS)
    out=$RAW/mem-$t-idle.txt
    log "memory ${LABEL[$t]}: opening $IDLE_CONNS TLS connections"
    start_bg idle "$out" "$TMP/idle_conns" 127.0.0.1 "${PORT[$t]}" "$IDLE_CONNS" --hold 600 --tls
    ready=0
    for ((i = 0; i < 3000; i++)); do
      grep -q '^READY' "$out" 2>/dev/null && { ready=1; break; }
      alive idle || break
      sleep 0.1
    done
    if ((!ready)); then
      warn "idle_conns did not finish opening connections to ${LABEL[$t]}: $(tail -n 3 "$out")"
      stop_proc idle; stop_proc "$t"; continue
    fi
    sleep 1
    with=$(sum_status "$t" VmRSS)
    stop_proc idle
    ok=$(sed -n 's/^READY ok=\([0-9]*\).*/\1/p' "$out")
    failed=$(sed -n 's/^READY .*failed=\([0-9]*\).*/\1/p' "$out")
    open=$(sed -n 's/^DONE open=\([0-9]*\).*/\1/p' "$out")
    err=$(sed -n 's/^READY .*first_error=\([^ ]*\).*/\1/p' "$out" | tr _ ' ')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$before" "$with" "${ok:-0}" "${failed:-0}" "${open:-NA}" "${err:--}" >>"$MEMF"
    log "memory ${LABEL[$t]}: RSS $before kB -> $with kB with ${ok:-0} TLS connections (failed ${failed:-0}, still open at the end ${open:-?})"
    stop_proc "$t"
  done
fi

# ---------------------------------------------------------------- report
median_of() { # kind target column(4..) -> median over rounds
  awk -F'\t' -v k="$1" -v t="$2" -v c="$3" '$1 == k && $2 == t && $c != "NA" { print $c }' "$RUNS" |
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
sum_of() {
  awk -F'\t' -v k="$1" -v t="$2" -v c="$3" '$1 == k && $2 == t && $c != "NA" { s += $c; n++ } END { print (n ? s : "NA") }' "$RUNS"
}
list_of() { # kind target column -> per round, in round order
  awk -F'\t' -v k="$1" -v t="$2" -v c="$3" '$1 == k && $2 == t { printf "%s%s", sep, ($c == "NA" ? "n/a" : sprintf("%.0f", $c)); sep = ", " }' "$RUNS"
}
fmt_pct() { awk -v v="$1" 'BEGIN { if (v == "NA" || v == "") print "n/a"; else printf "%.0f%%\n", v * 100 }'; }

REPORT=$TMP/report.md
ver_haproxy=$("$HAPROXY" -v 2>/dev/null | awk 'NR == 1 { print $3 }' || true)
ver_nginx=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///' || true)
ver_wrk=$("$WRK" -v 2>&1 | awk 'NR == 1 { print $2 }' || true)
ver_ssl=$("$OPENSSL" version 2>/dev/null || true)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
read -r load_end _ </proc/loadavg
hs_kind="full handshake + one \`GET /\`"
((HS_ONLY)) && hs_kind="full handshake only"
{
  echo "# TLS: bgproxy vs HAProxy vs nginx — $START_HUMAN"
  echo
  echo "- Machine: $(nproc) CPUs (${cpu_model:-$(uname -m)}), $mem_total RAM, Linux $(uname -r); load average $load1 at start, $load_end at end"
  echo "- Tools: wrk $ver_wrk (\`-t1\`), HAProxy $ver_haproxy, nginx $ver_nginx, $ver_ssl; bgproxy: ${BG_VERSION:-n/a}"
  echo "- Certificate: self-signed, made at the start ($CERT_DESC); every proxy has one worker and the same nginx backend (plain HTTP, 1 worker), 75/25 blue/green"
  echo "- Runs: $DURATION each, $ROUNDS round(s) in rotating order after a warm-up; figures are medians of the rounds"
  ((QUICK)) && echo "- **Quick smoke run** (\`--quick\`): too short to compare anything"
  ((BG_OK)) || echo "- **bgproxy not benchmarked: ${BG_NOTE:-not run}**"
  [[ -n $BG_WEIGHT_NOTE ]] && echo "- **bgproxy weights: $BG_WEIGHT_NOTE**"
  for t in "${!DIED[@]}"; do echo "- **${LABEL[$t]} died during ${DIED[$t]}: its figures from then on are missing**"; done
  echo
  echo "Negotiated (\`openssl s_client -alpn http/1.1\`):"
  echo
  for t in "${TARGETS[@]}"; do echo "- ${LABEL[$t]}: ${NEGOTIATED[$t]}"; done
  echo
  if ((DO_RPS)); then
    echo "## HTTP/1.1 over TLS, keep-alive, c=$CONNS (\`wrk -t1 -c$CONNS --latency https://...\`)"
    echo
    echo "| target | rps (median) | p50 ms | p99 ms | non-2xx | socket errors | rps / HAProxy | p99 / HAProxy |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    h_rps=$(median_of rps haproxy 4) h_p99=$(median_of rps haproxy 6)
    for t in haproxy bgproxy nginx; do
      if [[ " ${TARGETS[*]} " != *" $t "* ]]; then echo "| ${LABEL[$t]} | not run | | | | | | |"; continue; fi
      rps=$(median_of rps "$t" 4) p99=$(median_of rps "$t" 6)
      echo "| ${LABEL[$t]} | $(fmt_int "$rps") | $(fmt_ms "$(median_of rps "$t" 5)") | $(fmt_ms "$p99") | $(fmt_int "$(sum_of rps "$t" 7)") | $(fmt_int "$(sum_of rps "$t" 8)") | $(ratio "$rps" "$h_rps") | $(ratio "$p99" "$h_p99") |"
    done
    echo
    echo "Each wrk connection does one full handshake, then only requests: this is the cost of TLS records (AES-GCM) plus proxying. rps ratio > 1 and p99 ratio < 1 are better than HAProxy."
    echo
  fi
  if ((DO_HS)); then
    echo "## Full handshakes per second ($hs_kind per connection, no resumption)"
    echo
    echo "| target | handshakes/s (median) | proxy CPU (median) | handshakes per proxy CPU-second (median) | failed | handshakes/s / HAProxy | per CPU-second / HAProxy |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    h_rate=$(median_of hs haproxy 4) h_per=$(median_of hs haproxy 6)
    for t in haproxy bgproxy nginx; do
      if [[ " ${TARGETS[*]} " != *" $t "* ]]; then echo "| ${LABEL[$t]} | not run | | | | | |"; continue; fi
      rate=$(median_of hs "$t" 4) per=$(median_of hs "$t" 6)
      echo "| ${LABEL[$t]} | $(fmt_int "$rate") | $(fmt_pct "$(median_of hs "$t" 5)") | $(fmt_int "$per") | $(fmt_int "$(sum_of hs "$t" 7)") | $(ratio "$rate" "$h_rate") | $(ratio "$per" "$h_per") |"
    done
    echo
    echo "Client: $HS_PROCS \`bench/tls_handshakes\` processes with $HS_CONNS connections in flight each; every connection is new (a new SSL, SSL_OP_NO_TICKET, no session reuse), offers TLS 1.2–1.3 and ALPN http/1.1, and ends with a reset. Proxy CPU is the proxy's user + system time during the run over the wall time (100% = one core busy); when it is below ~90% the client or the machine was the limit, and handshakes per proxy CPU-second is the comparable figure."
    echo
  fi
  if ((DO_MEM)); then
    echo "## Memory per idle TLS connection ($IDLE_CONNS connections, one request each)"
    echo
    echo "| proxy | RSS idle MiB | RSS with connections MiB | bytes / connection | KB / connection | connections opened | failed | still open at the end |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for t in haproxy bgproxy nginx; do
      line=$(awk -F'\t' -v t="$t" '$1 == t' "$MEMF")
      if [[ -z $line ]]; then echo "| ${LABEL[$t]} | not run | | | | | | |"; continue; fi
      IFS=$'\t' read -r _ before with ok failed open err <<<"$line"
      [[ $err == - ]] && err=""
      per=$(awk -v a="$before" -v b="$with" -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f\n", (b - a) * 1024 / n; else print "NA" }')
      echo "| ${LABEL[$t]} | $(awk -v v="$before" 'BEGIN { printf "%.1f", v / 1024 }') | $(awk -v v="$with" 'BEGIN { printf "%.1f", v / 1024 }') | $per | $(awk -v v="$per" 'BEGIN { if (v == "NA") print "n/a"; else printf "%.1f", v / 1024 }') | $ok | $failed${err:+ ($err)} | $open |"
    done
    echo
    echo "Each proxy is started afresh and warmed up (1 s of wrk at c=16); RSS (VmRSS, master + worker for nginx) is read with no connection open, then with the connections open and idle: each did a full handshake (TLS 1.3), one \`GET /\` and its response; the client then dropped its TLS state without a close_notify and kept the socket. bytes / connection = (with − idle) / opened; KB = 1024 bytes. Fewer still open at the end than opened means the proxy closed idle connections and the figure is not valid."
    echo
  fi
  echo "## Per-round figures"
  echo
  echo "| test | target | per round |"
  echo "| --- | --- | --- |"
  for t in haproxy bgproxy nginx; do
    l=$(list_of rps "$t" 4); [[ -n $l ]] && echo "| keep-alive rps | ${LABEL[$t]} | $l |"
  done
  for t in haproxy bgproxy nginx; do
    l=$(list_of hs "$t" 4); [[ -n $l ]] && echo "| handshakes/s | ${LABEL[$t]} | $l |"
    l=$(list_of hs "$t" 6); [[ -n $l ]] && echo "| handshakes per proxy CPU-s | ${LABEL[$t]} | $l |"
  done
  echo
  echo "Machine load at start: \`$UPTIME_START\`; at end: \`$(uptime)\`."
  echo
  echo "Generated by \`bench/tls.sh${ORIG_ARGS:+ $ORIG_ARGS}\`. Compare ratios measured in one run; absolute figures depend on the machine and its load."
} >"$REPORT"

echo
cat "$REPORT"
if ((SAVE)); then
  mkdir -p "$RESULTS_DIR"
  cp "$REPORT" "$RESULTS_DIR/tls-$STAMP.md"
  cp "$REPORT" "$RESULTS_DIR/tls-latest.md"
  rm -rf "$RESULTS_DIR/tls-$STAMP.raw"
  mkdir -p "$RESULTS_DIR/tls-$STAMP.raw"
  cp -r "$RAW"/. "$RESULTS_DIR/tls-$STAMP.raw/"
  for d in "$TMP"/backend "$TMP"/haproxy "$TMP"/nginx "$TMP"/bgproxy; do
    [[ -d $d ]] || continue
    mkdir -p "$RESULTS_DIR/tls-$STAMP.raw/config/${d##*/}"
    cp "$d"/*.conf "$d"/*.cfg "$d"/*.yaml "$d"/*.log "$RESULTS_DIR/tls-$STAMP.raw/config/${d##*/}/" 2>/dev/null || true
  done
  log "report written to ${RESULTS_DIR#"$REPO_DIR"/}/tls-$STAMP.md and tls-latest.md"
fi

status=0
if awk -F'\t' '$4 == "NA" { bad = 1 } END { exit !bad }' "$RUNS"; then
  warn "some runs produced no figures (see the raw output)"
  status=1
fi
((${#DIED[@]})) && status=1
if ((REQUIRE_BGPROXY)) && ((!BG_OK)); then
  warn "bgproxy was not benchmarked (--require-bgproxy)"
  status=1
fi
exit "$status"
