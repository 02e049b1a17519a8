#!/usr/bin/env bash
# bench/profile.sh — where does bgproxy spend its time under load?
#
# Starts one nginx backend (blue and green), bgproxy with the same config as bench/compare.sh
# (1 worker, 75/25 split), drives it with wrk, and profiles the proxy during the load:
#
#   bench/profile.sh [--bgproxy build/bgproxy] [--conns 64] [--duration 10s] [--tool perf]
#                    [--load h1 | h2c | h1-h2load]
#
#   --load h1         wrk, HTTP/1.1 keep-alive, --conns connections (default)
#   --load h2c        h2load -c CONNS -m 10 over h2c by prior knowledge (bgproxy gets
#                     protocols [http1, h2c]), as bench/h2.sh's first test
#   --load h1-h2load  h2load --h1 -c CONNS -m 1: the same client's HTTP/1.1 reference for h2c
#   --tool perf       perf record -e cpu-clock -g on the proxy; prints the top functions, self and
#                     with children (perf.data is kept in the temp dir)
#   --tool callgrind  runs the proxy under callgrind (instruction counts repeat on a noisy machine)
#                     and prints instructions per request and the top functions
#   --tool syscalls   perf stat on the proxy's syscall tracepoints: system calls per request, by
#                     call, and the reads that failed with EAGAIN (the tracepoints slow the proxy:
#                     counts, not times)
#   --tool none       load only: prints wrk's figures
#   --tool idle       memory per idle keep-alive connection: RSS before and after --idle-conns
#                     connections (bench/idle_conns.cpp, as bench/compare.sh measures it)
#   --workers N       bgproxy workers (default 1)
#   --idle-conns N    connections for --tool idle (default 10000)
#   --keep-tmp        keep the temp dir (configs, logs, perf.data / callgrind.out)
#
# Everything listens on 127.0.0.1:P+1..P+3 (--port-base P, default 18200) and stops at exit.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/bgproxy_config.sh
source "$SCRIPT_DIR/bgproxy_config.sh"

BGPROXY=$REPO_DIR/build/bgproxy
CONNS=64
DURATION=10s
TOOL=perf
WORKERS=1
PORT_BASE=18200
KEEP_TMP=0
IDLE_CONNS=10000
LOAD=h1

die() { echo "profile.sh: error: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --bgproxy) BGPROXY=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --tool) TOOL=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --port-base) PORT_BASE=$2; shift 2 ;;
    --idle-conns) IDLE_CONNS=$2; shift 2 ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    --load) LOAD=$2; shift 2 ;;
    -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option: $1" ;;
  esac
done
[[ -x $BGPROXY ]] || die "no bgproxy binary at $BGPROXY"
case $TOOL in perf | callgrind | none | idle | syscalls) ;;
  *) die "--tool must be perf, callgrind, none, idle or syscalls" ;; esac
case $LOAD in h1) ;; h2c | h1-h2load) command -v h2load >/dev/null || die "--load $LOAD needs h2load (nghttp2-client)" ;;
  *) die "--load must be h1, h2c or h1-h2load" ;; esac

P_BLUE=$((PORT_BASE + 1)) P_GREEN=$((PORT_BASE + 2)) P_PROXY=$((PORT_BASE + 3))
P_ADMIN=$((PORT_BASE + 4))
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bgproxy-profile.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((KEEP_TMP)); then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 10; ++i)); do
    curl -fsS --max-time 1 -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

mkdir -p "$TMP/backend"
cat >"$TMP/backend/nginx.conf" <<EOF
daemon off;
master_process on;
error_log $TMP/backend/error.log warn;
pid $TMP/backend/nginx.pid;
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    default_type text/plain;
    client_body_temp_path $TMP/backend/cb;
    proxy_temp_path $TMP/backend/p;
    fastcgi_temp_path $TMP/backend/f;
    uwsgi_temp_path $TMP/backend/u;
    scgi_temp_path $TMP/backend/s;
    server { listen 127.0.0.1:$P_BLUE; location / { return 200 "ok\n"; } }
    server { listen 127.0.0.1:$P_GREEN; location / { return 200 "ok\n"; } }
}
EOF
nginx -p "$TMP/backend" -c "$TMP/backend/nginx.conf" -e "$TMP/backend/error.log" \
  >"$TMP/backend/stdout.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$P_BLUE/" 10 || die "the nginx backend did not start"

bgproxy_bench_config "$P_PROXY" "$WORKERS" "$P_ADMIN" "$P_BLUE" "$P_GREEN" 20000 >"$TMP/bgproxy.yaml"
[[ $LOAD == h2c ]] && echo "protocols: [http1, h2c]" >>"$TMP/bgproxy.yaml"
case $TOOL in
  callgrind)
    valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out" \
      "$BGPROXY" run -c "$TMP/bgproxy.yaml" >"$TMP/bgproxy.log" 2>&1 &
    ;;
  *) "$BGPROXY" run -c "$TMP/bgproxy.yaml" >"$TMP/bgproxy.log" 2>&1 & ;;
esac
PROXY_PID=$!
PIDS+=($PROXY_PID)
wait_http "http://127.0.0.1:$P_PROXY/" 60 || { cat "$TMP/bgproxy.log" >&2; die "bgproxy did not start"; }
curl -fsS --max-time 10 -X PUT -H 'Content-Type: application/json' -d '{"green":25}' \
  "http://127.0.0.1:$P_ADMIN/weights" >/dev/null || die "PUT /weights failed"

requests_total() {
  curl -fsS --max-time 10 "http://127.0.0.1:$P_ADMIN/metrics" |
    awk '/^bgproxy_requests_total[{]/ { n += $NF } END { printf "%d\n", n }'
}

wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$P_PROXY/" >/dev/null  # warm-up: pools, caches

if [[ $TOOL == idle ]]; then
  g++ -O2 -std=c++20 -o "$TMP/idle_conns" "$SCRIPT_DIR/idle_conns.cpp" -lssl -lcrypto || die "cannot build idle_conns"
  rss() { awk '/^VmRSS/ { print $2 }' "/proc/$PROXY_PID/status"; }
  sleep 1
  before=$(rss)
  "$TMP/idle_conns" 127.0.0.1 "$P_PROXY" "$IDLE_CONNS" --hold 600 >"$TMP/idle.txt" 2>&1 &
  IDLE_PID=$!
  PIDS+=($IDLE_PID)
  for ((i = 0; i < 1200; ++i)); do
    grep -q '^READY' "$TMP/idle.txt" && break
    sleep 0.1
  done
  sleep 1
  with=$(rss)
  kill -TERM "$IDLE_PID"
  wait "$IDLE_PID" || true
  cat "$TMP/idle.txt"
  opened=$(sed -n 's/^READY ok=\([0-9]*\).*/\1/p' "$TMP/idle.txt")
  echo "RSS ${before} kB idle -> ${with} kB with ${opened:-0} connections:" \
    "$(((with - before) * 1024 / (opened > 0 ? opened : 1))) bytes per connection"
  exit 0
fi
before=$(requests_total)
case $TOOL in
  perf)
    perf record -e cpu-clock -g -o "$TMP/perf.data" -p "$PROXY_PID" >"$TMP/perf.log" 2>&1 &
    PERF_PID=$!
    ;;
  callgrind) callgrind_control -z "$PROXY_PID" >/dev/null ;;
  syscalls)
    calls=recvfrom,recvmsg,read,readv,sendto,sendmsg,write,writev,epoll_wait,epoll_ctl
    calls+=,timerfd_settime,ioctl,setsockopt,getsockopt,accept4,connect,close,futex
    events=$(tr , '\n' <<<"$calls" | sed 's/^/syscalls:sys_enter_/' | paste -sd,)
    eagain=()
    for call in recvfrom recvmsg read; do
      eagain+=(-e "syscalls:sys_exit_$call" --filter 'ret == -11')
    done
    perf stat -x, -o "$TMP/syscalls.csv" -e raw_syscalls:sys_enter -e "$events" "${eagain[@]}" \
      -p "$PROXY_PID" >"$TMP/perf.log" 2>&1 &
    PERF_PID=$!
    sleep 1  # attached before the load starts
    ;;
esac
case $LOAD in
  h1) wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$P_PROXY/" | tee "$TMP/wrk.txt" ;;
  h2c) h2load -t1 -c"$CONNS" -m10 -D"${DURATION%s}" "http://127.0.0.1:$P_PROXY/" | tail -n +3 | head -8 ;;
  h1-h2load) h2load --h1 -t1 -c"$CONNS" -m1 -D"${DURATION%s}" "http://127.0.0.1:$P_PROXY/" | tail -n +3 | head -8 ;;
esac
case $TOOL in
  perf | syscalls)
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    ;;
  callgrind) callgrind_control -d "$PROXY_PID" >/dev/null ;;
esac
requests=$(($(requests_total) - before))
echo "requests recorded by bgproxy during the run: $requests"

case $TOOL in
  perf)
    report() { perf report -i "$TMP/perf.data" --stdio -g none "$@" 2>/dev/null |
      grep -v '^#' | grep -v '^$' | cut -c1-160; }
    echo "== by object"
    report --no-children --sort dso | sed -n '1,8p'
    echo "== self, user space (top 30)"
    report --no-children --sort dso,symbol --dsos "$(basename "$BGPROXY")",libc.so.6 | sed -n '1,30p'
    echo "== self, kernel (top 15)"
    report --no-children --sort symbol --dsos '[kernel.kallsyms]' | sed -n '1,15p'
    ;;
  callgrind)
    # The dump taken right after the load (callgrind_control -d) is part 1; the file without a
    # number is written at exit.
    out=$TMP/callgrind.out.1
    for ((i = 0; i < 100; ++i)); do [[ -s $out ]] && break; sleep 0.1; done
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo "instructions: $total, per request: $((total / (requests > 0 ? requests : 1)))"
    # Self cost; the 100% rows are the thread's root (io_context::run), not a hot spot.
    callgrind_annotate --inclusive=no --threshold=100 "$out" 2>/dev/null |
      grep -v '(100.0%)' | grep '^ *[0-9]' | sed -n '1,30p' | cut -c1-200
    ;;
  syscalls)
    # sys_enter_X: calls of X; sys_exit_X: those of X that failed with EAGAIN.
    awk -F, -v r="$requests" '$1 + 0 > 0 {
        name = $3; sub(/^raw_syscalls:sys_enter$/, "all system calls", name)
        sub(/^syscalls:sys_enter_/, "", name); sub(/^syscalls:sys_exit_/, "EAGAIN ", name)
        printf "%10d %8.3f per request  %s\n", $1, $1 / (r > 0 ? r : 1), name }' \
      "$TMP/syscalls.csv" | sort -nr
    ;;
esac
