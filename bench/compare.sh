#!/usr/bin/env bash
# bench/compare.sh — side-by-side load benchmark: bgproxy vs HAProxy vs nginx.
#
# Starts two nginx backends (blue, green), the proxies under test with one
# worker each and a 75/25 blue/green split, drives each with wrk in rotating
# rounds, and writes a Markdown report. See bench/README.md.
#
#   bench/compare.sh [--bgproxy build/bgproxy] [--duration 10s] [--pairs 3] [--quick]
#
# Everything it starts listens on 127.0.0.1 only and is stopped at exit.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/bgproxy_config.sh
source "$SCRIPT_DIR/bgproxy_config.sh"
# shellcheck source=bench/lib.sh
PROG=compare.sh source "$SCRIPT_DIR/lib.sh"  # cpu_ticks (the helpers this script defines below win)

usage() {
  cat <<EOF
usage: bench/compare.sh [options]

  --bgproxy PATH       bgproxy binary (default: build/bgproxy at the repo top)
  --duration D         length of each measured wrk run, e.g. 10s, 1m (default 10s)
  --pairs N            measured rounds; every target runs once per round, the
                       order rotating between rounds (default 3)
  --warmup D           warm-up run per target and concurrency (default duration/5, 1s..5s)
  --conns "64 1000"    wrk connection counts (default "64 1000")
  --idle-conns N       idle keep-alive connections for the memory test (default 10000)
  --no-scaling         skip the 1-worker vs 2-worker comparison
  --no-memory          skip the memory-per-idle-connection test
  --scaling, --memory  run them anyway (after --quick)
  --backend-workers N  nginx backend worker_processes (default 1)
  --pin                the proxy under test on the last CPU, wrk and the backend
                       on the others (taskset): rps then measures the proxy, not
                       how the scheduler shared the cores; one worker only
  --port-base P        private port range start (default 18100; uses P+1..P+31)
  --results-dir DIR    where to write YYYY-MM-DD-HHMM.md and latest.md (default bench/results)
  --no-save            print the report only, write nothing under bench/results
  --require-bgproxy    exit 1 if bgproxy could not be benchmarked
  --keep-tmp           keep the temp dir (configs, logs) for inspection
  --quick              smoke run: 1 pair, 2s runs, c=64 only, no scaling, no memory;
                       the report is not saved unless --results-dir is given
  -h, --help           this text

Environment: WRK, HAPROXY, NGINX, CURL, CXX override the tools' paths.
EOF
}

die() { echo "compare.sh: error: $*" >&2; exit 1; }
warn() { echo "compare.sh: warning: $*" >&2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- options
ORIG_ARGS="$*"
BGPROXY="$REPO_DIR/build/bgproxy"

DURATION=10s
PAIRS=3
WARMUP=""
CONNS="64 1000"
SCALING=1
MEMORY=1
IDLE_CONNS=10000
BACKEND_WORKERS=1
PORT_BASE=18100
RESULTS_DIR=""
SAVE=1
REQUIRE_BGPROXY=0
KEEP_TMP=0
STAND_IN=0
QUICK=0
PIN=0

for a in "$@"; do
  if [[ $a == --quick ]]; then
    QUICK=1 DURATION=2s PAIRS=1 WARMUP=1s CONNS=64 SCALING=0 MEMORY=0 SAVE=0
  fi
done

while (($#)); do
  opt=$1 val=""
  case $opt in
    --*=*) val=${opt#*=}; opt=${opt%%=*}; set -- "$opt" "$val" "${@:2}" ;;
  esac
  need() { (($# >= 2)) || die "$opt needs a value"; }
  case $opt in
    --bgproxy) need "$@"; BGPROXY=$2; shift 2 ;;
    --duration) need "$@"; DURATION=$2; shift 2 ;;
    --pairs) need "$@"; PAIRS=$2; shift 2 ;;
    --warmup) need "$@"; WARMUP=$2; shift 2 ;;
    --conns) need "$@"; CONNS=$2; shift 2 ;;
    --idle-conns) need "$@"; IDLE_CONNS=$2; shift 2 ;;
    --backend-workers) need "$@"; BACKEND_WORKERS=$2; shift 2 ;;
    --port-base) need "$@"; PORT_BASE=$2; shift 2 ;;
    --results-dir) need "$@"; RESULTS_DIR=$2; SAVE=1; shift 2 ;;
    --no-save) SAVE=0; shift ;;
    --no-scaling) SCALING=0; shift ;;
    --no-memory) MEMORY=0; shift ;;
    --scaling) SCALING=1; shift ;;
    --memory) MEMORY=1; shift ;;
    --require-bgproxy) REQUIRE_BGPROXY=1; shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    --pin) PIN=1; shift ;;
    --stand-in) STAND_IN=1; shift ;;  # developer aid: HAProxy posing as bgproxy
    --quick) shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done
[[ -n $RESULTS_DIR ]] || RESULTS_DIR="$REPO_DIR/bench/results"

# "10s" / "2m" / "10" -> whole seconds
dur_secs() {
  local d=$1
  [[ $d =~ ^([0-9]+)(s|m|h)?$ ]] || die "bad duration '$d' (want e.g. 10s, 1m)"
  case ${BASH_REMATCH[2]} in
    m) echo $((BASH_REMATCH[1] * 60)) ;;
    h) echo $((BASH_REMATCH[1] * 3600)) ;;
    *) echo $((BASH_REMATCH[1])) ;;
  esac
}
DUR_S=$(dur_secs "$DURATION")
((DUR_S >= 1)) || die "--duration must be at least 1s"
if [[ -z $WARMUP ]]; then
  w=$((DUR_S / 5)); ((w < 1)) && w=1; ((w > 5)) && w=5; WARMUP=${w}s
fi
dur_secs "$WARMUP" >/dev/null  # validates it
[[ $PAIRS =~ ^[1-9][0-9]*$ ]] || die "--pairs must be a positive integer"
((PIN && SCALING)) && die "--pin measures one worker on one CPU: add --no-scaling"
[[ $IDLE_CONNS =~ ^[1-9][0-9]*$ ]] || die "--idle-conns must be a positive integer"
[[ $BACKEND_WORKERS =~ ^[1-9][0-9]*$ ]] || die "--backend-workers must be a positive integer"
[[ $PORT_BASE =~ ^[0-9]+$ ]] && ((PORT_BASE >= 1024 && PORT_BASE <= 65000)) || die "bad --port-base"
read -r -a CONN_LIST <<<"$CONNS"
((${#CONN_LIST[@]} > 0)) || die "--conns is empty"
for c in "${CONN_LIST[@]}"; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "bad connection count '$c'"; done

# ---------------------------------------------------------------- tools
find_tool() { # name [extra dirs...] -> path or ""
  local name=$1 d; shift
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  for d in "$@" /usr/sbin /usr/local/sbin /sbin; do
    [[ -x $d/$name ]] && { echo "$d/$name"; return; }
  done
  echo ""
}
WRK=${WRK:-$(find_tool wrk)}
HAPROXY=${HAPROXY:-$(find_tool haproxy)}
NGINX=${NGINX:-$(find_tool nginx /usr/local/nginx/sbin)}
CURL=${CURL:-$(find_tool curl)}
CXX=${CXX:-$(find_tool g++)}
missing=()
[[ -n $WRK && -x $WRK ]] || missing+=("wrk (apt-get install wrk)")
[[ -n $HAPROXY && -x $HAPROXY ]] || missing+=("haproxy (apt-get install haproxy)")
[[ -n $NGINX && -x $NGINX ]] || missing+=("nginx (apt-get install nginx-light)")
[[ -n $CURL && -x $CURL ]] || missing+=("curl (apt-get install curl)")
command -v awk >/dev/null || missing+=("awk")
command -v sort >/dev/null || missing+=("sort (coreutils)")
((PIN)) && ! command -v taskset >/dev/null && missing+=("taskset (util-linux)")
((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}"
# --pin: command prefixes that put a process on the proxy's CPU or on the load's.
ON_PROXY_CPU=() ON_LOAD_CPU=()
if ((PIN)); then
  (($(nproc) >= 2)) || die "--pin needs 2 CPUs"
  PROXY_CPU=$(($(nproc) - 1))
  LOAD_CPUS=0
  ((PROXY_CPU > 1)) && LOAD_CPUS=0-$((PROXY_CPU - 1))
  ON_PROXY_CPU=(taskset -c "$PROXY_CPU") ON_LOAD_CPU=(taskset -c "$LOAD_CPUS")
fi
if ((MEMORY)) && [[ -z $CXX ]]; then
  warn "g++ not found: the memory test (which builds bench/idle_conns.cpp) is skipped"
  MEMORY=0
fi

# ---------------------------------------------------------------- limits
want_nofile=65536
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard >= want_nofile)); then
  ulimit -n "$want_nofile"
else
  ulimit -n "$hard"
  warn "hard open-files limit is $hard (< $want_nofile); using $hard"
fi
NOFILE=$(ulimit -n)
max_conns=0
for c in "${CONN_LIST[@]}"; do ((c > max_conns)) && max_conns=$c; done
((max_conns + 200 <= NOFILE)) || die "open-files limit $NOFILE too low for $max_conns connections"
if ((MEMORY)) && ((IDLE_CONNS + IDLE_CONNS / 5 + 600 > NOFILE)); then
  IDLE_CONNS=$(((NOFILE - 600) * 5 / 6))
  warn "open-files limit $NOFILE too low for the idle-connection test; using $IDLE_CONNS connections"
fi
# Connection capacity given to every proxy (HAProxy maxconn, nginx
# worker_connections, bgproxy limits.max_connections): the same for all.
# nginx starts closing idle keep-alive connections when fewer than 1/16 of its
# worker_connections are free, hence the 20% headroom over the idle count.
CAP=$((max_conns * 2 + 500))
((MEMORY)) && ((IDLE_CONNS + IDLE_CONNS / 5 + 500 > CAP)) && CAP=$((IDLE_CONNS + IDLE_CONNS / 5 + 500))
((CAP > NOFILE - 100)) && CAP=$((NOFILE - 100))
BACKEND_CAP=$((NOFILE - 100))

# ---------------------------------------------------------------- ports
P_BLUE=$((PORT_BASE + 1))
P_GREEN=$((PORT_BASE + 2))
declare -A PORT LABEL
PORT[haproxy]=$((PORT_BASE + 10))
PORT[nginx]=$((PORT_BASE + 20))
PORT[bgproxy]=$((PORT_BASE + 30))
PORT[direct]=$P_BLUE
P_ADMIN=$((PORT_BASE + 31))
LABEL[haproxy]="HAProxy"
LABEL[nginx]="nginx proxy"
LABEL[bgproxy]="bgproxy"
LABEL[direct]="nginx direct"
((STAND_IN)) && LABEL[bgproxy]="bgproxy(stand-in)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $P_BLUE $P_GREEN ${PORT[haproxy]} ${PORT[nginx]} ${PORT[bgproxy]} $P_ADMIN; do
  ! port_busy "$p" || die "port 127.0.0.1:$p is already in use (try --port-base)"
done

# ---------------------------------------------------------------- processes
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bgproxy-bench.XXXXXX")
declare -A PIDS=() DIED=()
WRK_PID=""

children_of() {
  local p=$1
  if [[ -r /proc/$p/task/$p/children ]]; then
    cat /proc/"$p"/task/*/children 2>/dev/null || true
  elif command -v ps >/dev/null; then
    ps -o pid= --ppid "$p" 2>/dev/null || true
  fi
}
tree_pids() {
  local c
  echo "$1"
  for c in $(children_of "$1"); do tree_pids "$c"; done
}

stop_proc() { # name
  local name=$1 pid pids i p
  pid=${PIDS[$name]:-}
  [[ -n $pid ]] || return 0
  unset "PIDS[$name]"
  # shellcheck disable=SC2207
  pids=($(tree_pids "$pid" 2>/dev/null || echo "$pid"))
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? name
  trap - EXIT INT TERM
  if [[ -n $WRK_PID ]]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; fi
  for name in "${!PIDS[@]}"; do stop_proc "$name"; done
  if ((KEEP_TMP)); then
    echo "compare.sh: temp dir kept: $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "compare.sh: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

start_bg() { # name logfile cmd... (the command runs in the background, not daemonized)
  local name=$1 logf=$2; shift 2
  "$@" >"$logf" 2>&1 </dev/null &
  PIDS[$name]=$!
}

alive() { [[ -n ${PIDS[$1]:-} ]] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

wait_http() { # name url [seconds]: until url answers 2xx, the process is alive, bounded
  local name=$1 url=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    alive "$name" || return 1
    "$CURL" -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

rss_kb() { # name VmRSS|VmHWM -> sum over the process and its children, kB
  local pid=${PIDS[$1]:-} field=$2 sum=0 p v
  [[ -n $pid ]] || { echo 0; return; }
  for p in $(tree_pids "$pid"); do
    v=$(awk -v k="$field:" '$1 == k { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# ---------------------------------------------------------------- configs
nginx_common() { # dir
  local d=$1
  cat <<EOF
daemon off;
master_process on;
error_log $d/error.log warn;
pid $d/nginx.pid;
worker_rlimit_nofile $NOFILE;
EOF
}
nginx_http_common() { # dir
  local d=$1
  cat <<EOF
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    default_type text/plain;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
EOF
}

start_backend() {
  local d=$TMP/backend
  mkdir -p "$d"
  {
    nginx_common "$d"
    echo "worker_processes $BACKEND_WORKERS;"
    echo "events { worker_connections $BACKEND_CAP; }"
    echo "http {"
    nginx_http_common "$d"
    for p in $P_BLUE $P_GREEN; do
      echo "    server { listen 127.0.0.1:$p; location / { return 200 \"ok\\n\"; } }"
    done
    echo "}"
  } >"$d/nginx.conf"
  start_bg backend "$d/stdout.log" "${ON_LOAD_CPU[@]}" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
  wait_http backend "http://127.0.0.1:$P_BLUE/" && wait_http backend "http://127.0.0.1:$P_GREEN/" || {
    cat "$d/stdout.log" "$d/error.log" >&2 2>/dev/null || true
    die "the nginx backend did not start"
  }
}

haproxy_conf() { # port threads
  local port=$1 threads=$2 strict=""
  ((2 * CAP + 300 > NOFILE)) && strict="  no strict-limits   # fd limit $NOFILE < HAProxy's 2*maxconn estimate; idle conns need ~1 fd each"
  cat <<EOF
global
  nbthread $threads
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
  bind 127.0.0.1:$port
  maxconn $CAP
  http-request set-header X-Forwarded-Proto http
  default_backend be
backend be
  balance roundrobin
  server blue 127.0.0.1:$P_BLUE weight 75 maxconn $CAP
  server green 127.0.0.1:$P_GREEN weight 25 maxconn $CAP
EOF
}

# start_target name workers -> 0 when up (PIDS[name] set), 1 when it failed
start_target() {
  local name=$1 workers=$2 d=$TMP/$1-w$2 port=${PORT[$1]} mainlog
  mkdir -p "$d"
  mainlog=$d/$name.log
  case $name in
    direct) return 0 ;;  # the blue backend itself
    haproxy)
      haproxy_conf "$port" "$workers" >"$d/haproxy.cfg"
      start_bg haproxy "$d/haproxy.log" "${ON_PROXY_CPU[@]}" "$HAPROXY" -db -f "$d/haproxy.cfg"
      ;;
    nginx)
      {
        nginx_common "$d"
        echo "worker_processes $workers;"
        echo "events { worker_connections $CAP; }"
        echo "http {"
        nginx_http_common "$d"
        cat <<EOF
    upstream bg {
        server 127.0.0.1:$P_BLUE weight=3;
        server 127.0.0.1:$P_GREEN weight=1;
        keepalive 64;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$port;
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
      start_bg nginx "$d/stdout.log" "${ON_PROXY_CPU[@]}" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
      mainlog=$d/error.log
      ;;
    bgproxy)
      if ((STAND_IN)); then
        haproxy_conf "$port" "$workers" >"$d/haproxy.cfg"
        start_bg bgproxy "$d/bgproxy.log" "${ON_PROXY_CPU[@]}" "$HAPROXY" -db -f "$d/haproxy.cfg"
      else
        bgproxy_bench_config "$port" "$workers" "$P_ADMIN" "$P_BLUE" "$P_GREEN" "$CAP" >"$d/bgproxy.yaml"
        local rc=0
        "$BGPROXY" check-config "$d/bgproxy.yaml" >"$d/check-config.log" 2>&1 || rc=$?
        if ((rc == 2)); then
          warn "bgproxy check-config refused the benchmark config:"
          sed 's/^/    /' "$d/check-config.log" >&2
          BG_NOTE="config refused by check-config"
          return 1
        fi
        start_bg bgproxy "$d/bgproxy.log" "${ON_PROXY_CPU[@]}" "$BGPROXY" run -c "$d/bgproxy.yaml"
      fi
      ;;
  esac
  if ! wait_http "$name" "http://127.0.0.1:$port/" 15; then
    local why="did not answer GET / on 127.0.0.1:$port within 15 s" st=0
    if ! alive "$name"; then
      wait "${PIDS[$name]}" 2>/dev/null || st=$?
      why="exited with status $st before answering on 127.0.0.1:$port"
    fi
    warn "${LABEL[$name]} $why; the end of its log:"
    tail -n 20 "$mainlog" 2>/dev/null | sed 's/^/    /' >&2 || true
    stop_proc "$name"
    BG_NOTE=$why
    return 1
  fi
  if [[ $name == bgproxy ]] && ((!STAND_IN)); then
    if ! wait_http bgproxy "http://127.0.0.1:$P_ADMIN/healthz" 5; then
      warn "bgproxy admin API does not answer on 127.0.0.1:$P_ADMIN"
    fi
    local out
    if out=$("$CURL" -fsS --max-time 3 -X PUT -H 'Content-Type: application/json' \
      -d '{"green":25}' "http://127.0.0.1:$P_ADMIN/weights" 2>&1); then
      "$CURL" -fsS --max-time 3 "http://127.0.0.1:$P_ADMIN/status" >"$d/status.json" 2>/dev/null || true
      if ! tr -d ' \n' <"$d/status.json" | grep -q '"green":25'; then
        warn "bgproxy /status does not show green 25 after PUT /weights: $(head -c 300 "$d/status.json")"
        BG_WEIGHT_NOTE="PUT /weights answered but /status does not show green=25"
      fi
    else
      warn "bgproxy PUT /weights failed ($out): it runs with its default split (all to blue)"
      BG_WEIGHT_NOTE="PUT /weights failed: default split (all to blue)"
    fi
  fi
  return 0
}

# ---------------------------------------------------------------- wrk
RAW=$TMP/raw
mkdir -p "$RAW"
RUNS=$RAW/runs.tsv   # phase target conns round rps p50_ms p99_ms non2xx sockerr cpu_us_per_request
CLK_TCK=$(getconf CLK_TCK)
RSSF=$RAW/rss.tsv    # phase target conns peak_rss_kb
: >"$RUNS"
: >"$RSSF"

parse_wrk() { # file -> "rps p50 p99 non2xx sockerr requests" (ms), NA when absent
  awk '
    function ms(v,   n, u) {
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000; if (u == "s") return n * 1000
      if (u == "m") return n * 60000; if (u == "h") return n * 3600000
      return n
    }
    /^ +50% / { p50 = ms($2) }
    /^ +99% / { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    / requests in / { requests = $1 }
    /Non-2xx or 3xx responses:/ { non2xx = $5 }
    /Socket errors:/ { gsub(",", ""); se = $4 + $6 + $8 + $10 }
    END {
      if (rps == "") { print "NA NA NA NA NA NA"; exit }
      printf "%s %s %s %d %d %d\n", rps, (p50 == "" ? "NA" : p50), (p99 == "" ? "NA" : p99), non2xx, se, requests
    }' "$1"
}

run_wrk() { # port conns duration outfile
  local port=$1 c=$2 dur=$3 out=$4 rc=0
  "${ON_LOAD_CPU[@]}" "$WRK" -t1 -c"$c" -d"$dur" --latency "http://127.0.0.1:$port/" >"$out" 2>&1 </dev/null &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  return "$rc"
}

fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "NA" || v == "") print "n/a"; else if (v < 1) printf "%.3f\n", v; else printf "%.2f\n", v }'; }

# run_phase phase targets... : warm-up, then PAIRS rotating rounds per concurrency
run_phase() {
  local phase=$1; shift
  local targets=("$@") n=$# c r i t f res
  for c in "${CONN_LIST[@]}"; do
    for t in "${targets[@]}"; do
      log "$phase c=$c warm-up ${LABEL[$t]} (${WARMUP})"
      run_wrk "${PORT[$t]}" "$c" "$WARMUP" "$RAW/$phase-$t-c$c-warmup.txt" || warn "wrk warm-up failed for ${LABEL[$t]}"
    done
    for ((r = 0; r < PAIRS; r++)); do
      for ((i = 0; i < n; i++)); do
        t=${targets[$(((i + r) % n))]}
        f=$RAW/$phase-$t-c$c-r$((r + 1)).txt
        ticks=$(cpu_ticks "${t/direct/backend}")
        run_wrk "${PORT[$t]}" "$c" "$DURATION" "$f" || warn "wrk exited non-zero for ${LABEL[$t]} (see $f)"
        ticks=$(($(cpu_ticks "${t/direct/backend}") - ticks))
        res=$(parse_wrk "$f")
        # shellcheck disable=SC2086
        set -- $res
        cpu_us=$(awk -v t="$ticks" -v n="$6" -v hz="$CLK_TCK" 'BEGIN { if (n == "NA" || n + 0 == 0) print "NA"; else printf "%.2f\n", t / hz * 1e6 / n }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$t" "$c" "$((r + 1))" "$1" "$2" "$3" "$4" "$5" "$cpu_us" >>"$RUNS"
        log "$phase c=$c round $((r + 1))/$PAIRS ${LABEL[$t]}: $(printf '%.0f' "${1/NA/0}") rps, p50 $(fmt_ms "$2") ms, p99 $(fmt_ms "$3") ms, non-2xx $4, socket errors $5"
        if ! alive "${t/direct/backend}" && [[ -z ${DIED[$t]:-} ]]; then
          warn "${LABEL[$t]} died during the run (see its log in the raw directory)"
          DIED[$t]="$phase c=$c round $((r + 1))"
        fi
      done
    done
    for t in "${targets[@]}"; do
      printf '%s\t%s\t%s\t%s\n' "$phase" "$t" "$c" "$(rss_kb "${t/direct/backend}" VmHWM)" >>"$RSSF"
    done
  done
}

# stat phase target conns column(5=rps 6=p50 7=p99) -> median | sum for 8,9
median_of() {
  awk -F'\t' -v p="$1" -v t="$2" -v c="$3" -v k="$4" '$1 == p && $2 == t && $3 == c && $k != "NA" { print $k }' "$RUNS" |
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
sum_of() {
  awk -F'\t' -v p="$1" -v t="$2" -v c="$3" -v k="$4" '$1 == p && $2 == t && $3 == c && $k != "NA" { s += $k; n++ } END { print (n ? s : "NA") }' "$RUNS"
}
list_of() { # rps of each round, in round order
  awk -F'\t' -v p="$1" -v t="$2" -v c="$3" '$1 == p && $2 == t && $3 == c { printf "%s%s", sep, ($5 == "NA" ? "n/a" : sprintf("%.0f", $5)); sep = ", " }' "$RUNS"
}
rss_of() { awk -F'\t' -v p="$1" -v t="$2" -v c="$3" '$1 == p && $2 == t && $3 == c { v = $4 } END { print (v == "" ? "NA" : v) }' "$RSSF"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
fmt_int() { awk -v v="$1" 'BEGIN { if (v == "NA" || v == "") print "n/a"; else printf "%.0f\n", v }'; }
fmt_mib() { awk -v v="$1" 'BEGIN { if (v == "NA" || v == "" || v == 0) print "n/a"; else printf "%.1f\n", v / 1024 }'; }

# ---------------------------------------------------------------- run
STAMP=$(date +%Y-%m-%d-%H%M)
START_HUMAN=$(date '+%Y-%m-%d %H:%M %Z')
BG_NOTE=""
BG_WEIGHT_NOTE=""
BG_METRICS=""
BG_VERSION=""

log "temp dir $TMP; open-files limit $NOFILE; ports 127.0.0.1:$P_BLUE..$P_ADMIN"
read -r load1 _ </proc/loadavg
if awk -v l="$load1" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  warn "load average is $load1 on $(nproc) CPUs: the machine is busy, expect noisy numbers"
fi

start_backend
log "nginx backend up: blue 127.0.0.1:$P_BLUE, green 127.0.0.1:$P_GREEN"

TARGETS=()
start_target haproxy 1 || die "HAProxy did not start (it is the reference; see the log above)"
TARGETS+=(haproxy)
start_target nginx 1 || die "the nginx proxy did not start (see the log above)"
TARGETS+=(nginx)

BG_OK=0
if ((STAND_IN)); then
  BG_VERSION="stand-in: $("$HAPROXY" -v 2>/dev/null | head -1 || true)"
  start_target bgproxy 1 && BG_OK=1
elif [[ ! -x $BGPROXY ]]; then
  BG_NOTE="binary not found at ${BGPROXY#"$REPO_DIR"/}"
  warn "bgproxy: $BG_NOTE — benchmarking the others only (build it, or pass --bgproxy PATH)"
else
  BG_VERSION=$("$BGPROXY" version 2>/dev/null | head -1 || true)
  if start_target bgproxy 1; then BG_OK=1; else warn "bgproxy: $BG_NOTE — benchmarking the others only"; fi
fi
((BG_OK)) && TARGETS+=(bgproxy)
TARGETS+=(direct)
log "targets: $(for t in "${TARGETS[@]}"; do printf '%s; ' "${LABEL[$t]}"; done)"

run_phase w1 "${TARGETS[@]}"

# One scrape of bgproxy's /metrics, to show it works (and check the split).
if ((BG_OK)) && ((!STAND_IN)); then
  if "$CURL" -fsS --max-time 5 "http://127.0.0.1:$P_ADMIN/metrics" >"$RAW/bgproxy-metrics.txt" 2>"$RAW/bgproxy-metrics.err"; then
    BG_METRICS=$(awk '
      /^# TYPE / { fam++ }
      /^bgproxy_requests_total[{]/ { s = $0; sub(/.*color="/, "", s); sub(/".*/, "", s); req[s] += $NF; tot += $NF }
      END {
        printf "GET /metrics: %d metric families; bgproxy_requests_total", fam
        if (tot == 0) { printf " absent or zero"; exit }
        for (k in req) printf " %s=%.0f", k, req[k]
        printf " (green share %.1f%%, configured 25%%)", 100 * req["green"] / tot
      }' "$RAW/bgproxy-metrics.txt")
  else
    BG_METRICS="GET /metrics failed: $(head -c 200 "$RAW/bgproxy-metrics.err")"
  fi
  log "bgproxy $BG_METRICS"
fi
for t in haproxy nginx bgproxy; do stop_proc "$t"; done

# ---------------------------------------------------------------- scaling
SCALE_TARGETS=()
if ((SCALING)); then
  for t in haproxy nginx bgproxy; do
    [[ $t == bgproxy ]] && ((!BG_OK)) && continue
    if start_target "$t" 2; then SCALE_TARGETS+=("$t"); else warn "${LABEL[$t]} with 2 workers did not start"; fi
  done
  ((${#SCALE_TARGETS[@]})) && run_phase w2 "${SCALE_TARGETS[@]}"
  for t in haproxy nginx bgproxy; do stop_proc "$t"; done
fi

# ---------------------------------------------------------------- memory
MEMF=$RAW/memory.tsv # target before_kb with_kb ok failed open_at_end
: >"$MEMF"
if ((MEMORY)); then
  IDLE_BIN=$TMP/idle_conns
  log "building bench/idle_conns.cpp"
  "$CXX" -O2 -std=c++20 -o "$IDLE_BIN" "$SCRIPT_DIR/idle_conns.cpp" -lssl -lcrypto || die "could not build bench/idle_conns.cpp"
  for t in haproxy nginx bgproxy; do
    [[ $t == bgproxy ]] && ((!BG_OK)) && continue
    start_target "$t" 1 || { warn "${LABEL[$t]} did not start for the memory test"; continue; }
    run_wrk "${PORT[$t]}" 16 1s "$RAW/mem-$t-warmup.txt" || true
    sleep 1
    before=$(rss_kb "$t" VmRSS)
    out=$RAW/mem-$t-idle.txt
    start_bg idle "$out" "${ON_LOAD_CPU[@]}" "$IDLE_BIN" 127.0.0.1 "${PORT[$t]}" "$IDLE_CONNS" --hold 600
    ready=0
    for ((i = 0; i < 1200; i++)); do
      grep -q '^READY' "$out" 2>/dev/null && { ready=1; break; }
      alive idle || break
      sleep 0.1
    done
    if ((!ready)); then
      warn "idle_conns did not finish opening connections to ${LABEL[$t]}: $(tail -n 3 "$out")"
      stop_proc idle; stop_proc "$t"; continue
    fi
    sleep 1
    with=$(rss_kb "$t" VmRSS)
    gauge=""
    if [[ $t == bgproxy ]] && ((!STAND_IN)); then
      gauge=$("$CURL" -fsS --max-time 3 "http://127.0.0.1:$P_ADMIN/metrics" 2>/dev/null |
        awk '/^bgproxy_downstream_connections[ {]/ { print $NF }' || true)
    fi
    stop_proc idle
    ok=$(sed -n 's/^READY ok=\([0-9]*\).*/\1/p' "$out")
    failed=$(sed -n 's/^READY .*failed=\([0-9]*\).*/\1/p' "$out")
    open=$(sed -n 's/^DONE open=\([0-9]*\).*/\1/p' "$out")
    err=$(sed -n 's/^READY .*first_error=\([^ ]*\).*/\1/p' "$out" | tr _ ' ')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$before" "$with" "${ok:-0}" "${failed:-0}" "${open:-NA}" "${gauge:--}" "${err:--}" >>"$MEMF"
    log "memory ${LABEL[$t]}: RSS ${before} kB idle -> ${with} kB with ${ok:-0} connections (failed ${failed:-0}, still open at the end ${open:-?})"
    stop_proc "$t"
  done
fi

# ---------------------------------------------------------------- report
REPORT=$TMP/report.md
ver_haproxy=$("$HAPROXY" -v 2>/dev/null | awk 'NR == 1 { print $3 }' || true)
ver_nginx=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///' || true)
ver_wrk=$("$WRK" -v 2>&1 | awk 'NR == 1 { print $2 }' || true)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[[ -n $cpu_model ]] || cpu_model=$(uname -m)
mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
read -r load_end _ </proc/loadavg

{
  echo "# bgproxy vs HAProxy vs nginx — $START_HUMAN"
  echo
  echo "- Machine: $(nproc) CPUs ($cpu_model), $mem_total RAM, Linux $(uname -r), load average $load1 at start, $load_end at end"
  echo "- Tools: wrk $ver_wrk (\`-t1\`), HAProxy $ver_haproxy, nginx $ver_nginx; bgproxy: ${BG_VERSION:-n/a}"
  echo "- Backends: one nginx ($BACKEND_WORKERS worker) serving \`200 \"ok\\n\"\` on blue and green; every proxy splits 75/25 blue/green"
  echo "- Runs: $DURATION each, $PAIRS round(s) per concurrency in rotating order after a $WARMUP warm-up per target; figures are medians of the rounds"
  ((PIN)) && echo "- Pinned (\`--pin\`): each proxy on CPU $PROXY_CPU, wrk and the backend on CPU $LOAD_CPUS; nginx direct shares those with wrk"
  ((QUICK)) && echo "- **Quick smoke run** (\`--quick\`): too short to compare anything"
  if ((!BG_OK)); then
    echo "- **bgproxy not benchmarked: ${BG_NOTE:-not run}**"
  fi
  [[ -n $BG_WEIGHT_NOTE ]] && echo "- **bgproxy weights: $BG_WEIGHT_NOTE**"
  for t in "${!DIED[@]}"; do echo "- **${LABEL[$t]} died during the benchmark (${DIED[$t]}): figures from then on are missing or connection errors**"; done
  echo
  echo "## Throughput and latency, 1 worker each"
  echo
  echo "| target | conns | rps (median) | p50 ms | p99 ms | non-2xx | socket errors | peak RSS MiB | CPU us / request ² | rps / HAProxy | p99 / HAProxy | CPU / HAProxy |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for c in "${CONN_LIST[@]}"; do
    h_rps=$(median_of w1 haproxy "$c" 5)
    h_p99=$(median_of w1 haproxy "$c" 7)
    h_cpu=$(median_of w1 haproxy "$c" 10)
    for t in haproxy bgproxy nginx direct; do
      if [[ $t == bgproxy ]] && ((!BG_OK)); then
        echo "| ${LABEL[$t]} | $c | not run | | | | | | | | | |"
        continue
      fi
      rps=$(median_of w1 "$t" "$c" 5)
      p50=$(median_of w1 "$t" "$c" 6)
      p99=$(median_of w1 "$t" "$c" 7)
      rss=$(rss_of w1 "$t" "$c")
      cpu=$(median_of w1 "$t" "$c" 10)
      lbl=${LABEL[$t]}
      [[ $t == direct ]] && lbl="$lbl ¹"
      echo "| $lbl | $c | $(fmt_int "$rps") | $(fmt_ms "$p50") | $(fmt_ms "$p99") | $(fmt_int "$(sum_of w1 "$t" "$c" 8)") | $(fmt_int "$(sum_of w1 "$t" "$c" 9)") | $(fmt_mib "$rss") | $(fmt_ms "$cpu") | $(ratio "$rps" "$h_rps") | $(ratio "$p99" "$h_p99") | $(ratio "$cpu" "$h_cpu") |"
    done
  done
  echo
  ceiling="the ceiling of this machine without a proxy"
  ((PIN)) && ceiling="on the CPU it shares with the backend: the ceiling of the load's side (a proxy's rps near it is bound by wrk and the backend, not by the proxy)"
  echo "¹ wrk straight at the blue nginx, $ceiling; its RSS and CPU are the backend's, which also served every proxy."
  echo "² The proxy's user and system time during the measured runs over the requests wrk counted (median of the rounds): what a request costs the proxy, whatever share of the machine wrk and the backend take. rps is bounded by the sum of the three on the machine's cores."
  echo "Non-2xx and socket errors are totals over the measured rounds. Peak RSS is VmHWM (summed over master and workers for nginx) at the end of that concurrency's rounds."
  echo "rps ratio > 1 and p99 ratio < 1 mean better than HAProxy."
  echo
  if ((SCALING)); then
    echo "## Scaling, 1 → 2 workers (bgproxy \`workers: 2\`, HAProxy \`nbthread 2\`, nginx \`worker_processes 2\`)"
    echo
    echo "| proxy | conns | rps, 1 worker | rps, 2 workers | scaling | p99 ms, 2 workers | errors, 2 workers |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for c in "${CONN_LIST[@]}"; do
      for t in haproxy bgproxy nginx; do
        if [[ " ${SCALE_TARGETS[*]} " != *" $t "* ]]; then
          echo "| ${LABEL[$t]} | $c | not run | | | | |"
          continue
        fi
        r1=$(median_of w1 "$t" "$c" 5)
        r2=$(median_of w2 "$t" "$c" 5)
        e2=$(awk -v a="$(sum_of w2 "$t" "$c" 8)" -v b="$(sum_of w2 "$t" "$c" 9)" 'BEGIN { print a + b }')
        echo "| ${LABEL[$t]} | $c | $(fmt_int "$r1") | $(fmt_int "$r2") | $(ratio "$r2" "$r1") | $(fmt_ms "$(median_of w2 "$t" "$c" 7)") | $e2 |"
      done
    done
    echo
    echo "The backend nginx keeps $BACKEND_WORKERS worker and wrk one thread: on a 2-CPU machine they compete with the proxy's second worker, so scaling well below 2 is expected here."
    echo
  fi
  if ((MEMORY)); then
    echo "## Memory per idle keep-alive connection ($IDLE_CONNS connections, one request each)"
    echo
    echo "| proxy | RSS idle MiB | RSS with connections MiB | bytes / connection | connections opened | failed | still open at the end |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for t in haproxy bgproxy nginx; do
      line=$(awk -F'\t' -v t="$t" '$1 == t' "$MEMF")
      if [[ -z $line ]]; then
        echo "| ${LABEL[$t]} | not run | | | | | |"
        continue
      fi
      IFS=$'\t' read -r _ before with ok failed open gauge err <<<"$line"
      [[ $err == - ]] && err=""
      per=$(awk -v a="$before" -v b="$with" -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f\n", (b - a) * 1024 / n; else print "n/a" }')
      echo "| ${LABEL[$t]} | $(fmt_mib "$before") | $(fmt_mib "$with") | $per | $ok | $failed${err:+ ($err)} | $open |"
      [[ $gauge != - ]] && MEM_GAUGE="bgproxy's gauge bgproxy_downstream_connections read $gauge while they were held."
    done
    echo
    echo "RSS is VmRSS of the proxy (master + worker for nginx) after a 1 s warm-up with no connections, then with the connections open and idle; bytes / connection = (with − idle) / opened. ${MEM_GAUGE:-}"
    echo
  fi
  if ((BG_OK)) && ((!STAND_IN)); then
    echo "## bgproxy metrics"
    echo
    echo "$BG_METRICS"
    echo
  fi
  echo "## Per-round rps"
  echo
  echo "| phase | target | conns | rps per round |"
  echo "| --- | --- | ---: | --- |"
  for ph in w1 w2; do
    for c in "${CONN_LIST[@]}"; do
      for t in haproxy bgproxy nginx direct; do
        l=$(list_of "$ph" "$t" "$c")
        [[ -n $l ]] && echo "| ${ph/w/} worker(s) | ${LABEL[$t]} | $c | $l |"
      done
    done
  done
  echo
  echo "Generated by \`bench/compare.sh${ORIG_ARGS:+ $ORIG_ARGS}\`. Compare ratios measured in one run; absolute figures depend on the machine and its load."
} >"$REPORT"

echo
cat "$REPORT"
if ((SAVE)); then
  mkdir -p "$RESULTS_DIR"
  cp "$REPORT" "$RESULTS_DIR/$STAMP.md"
  cp "$REPORT" "$RESULTS_DIR/latest.md"
  rm -rf "$RESULTS_DIR/$STAMP.raw"
  mkdir -p "$RESULTS_DIR/$STAMP.raw"
  cp -r "$RAW"/. "$RESULTS_DIR/$STAMP.raw/"
  for d in "$TMP"/backend "$TMP"/*-w[0-9]; do  # configs and logs, for the record
    [[ -d $d ]] || continue
    mkdir -p "$RESULTS_DIR/$STAMP.raw/config/${d##*/}"
    cp "$d"/*.conf "$d"/*.cfg "$d"/*.yaml "$d"/*.log "$RESULTS_DIR/$STAMP.raw/config/${d##*/}/" 2>/dev/null || true
  done
  echo >&2
  log "report written to ${RESULTS_DIR#"$REPO_DIR"/}/$STAMP.md and latest.md; raw wrk output in ${RESULTS_DIR#"$REPO_DIR"/}/$STAMP.raw/"
fi

# Exit status for callers (e.g. a smoke test): 1 when a measured run gave no figures.
status=0
if awk -F'\t' '$5 == "NA" { bad = 1 } END { exit !bad }' "$RUNS"; then
  warn "some wrk runs produced no figures (see the raw output)"
  status=1
fi
if ((${#DIED[@]})); then
  warn "died during the benchmark: $(for t in "${!DIED[@]}"; do printf '%s; ' "${LABEL[$t]}"; done)"
  status=1
fi
if ((REQUIRE_BGPROXY)) && ((!BG_OK)); then
  warn "bgproxy was not benchmarked (--require-bgproxy)"
  status=1
fi
exit "$status"
