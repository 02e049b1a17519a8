#!/usr/bin/env bash
# bench/rapid_reset.sh — other clients' latency through bgproxy under an HTTP/2 Rapid Reset
# attack (CVE-2023-44487), and what the attack gets through to the upstream.
#
# bgproxy (h2c front, `workers: 1` by default) in front of bench/slow_backend.py (5 ms per
# request, 100 ms for the attacker's /reset/ paths, counting the requests it holds at once),
# first over HTTP/1.1, then over h2c. In rounds, each DURATION long and in rotating order:
#   baseline  a well-behaved h2load client alone (-c8 -m4, 100 requests/s per connection)
#   pairs     the same client while bench/rapid_reset_attacker.py attacks on one connection at a
#             time: HEADERS + RST_STREAM pairs as fast as the socket takes them, reconnecting at
#             once whenever the proxy ends the connection
#   split     the same with each batch of 100 HEADERS written before their RST_STREAMs, so that
#             the requests are complete (and go upstream) before the resets arrive
# Figures: the client's p99 (median over rounds) and its ratio to the baseline (target <= 2), the
# streams the attacker wrote per second, the attacker's requests that reached the backend, and
# the most the backend held at once (target <= 100). See bench/README.md ("Rapid Reset").
#
#   bench/rapid_reset.sh [--bgproxy build/bgproxy] [--duration 10s] [--rounds 3] [--quick]
#
# Everything it starts listens on 127.0.0.1 only and is stopped at exit.
set -euo pipefail

PROG=rapid_reset.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$SCRIPT_DIR/lib.sh"

usage() {
  cat <<EOF
usage: bench/rapid_reset.sh [options]

  --bgproxy PATH        bgproxy binary (default: build/bgproxy at the repo top)
  --duration D          each measured h2load run, whole seconds (default 10s)
  --rounds N            measured rounds per upstream, the order rotating (default 3)
  --workers N           bgproxy workers (default 1: the attacker and the others share one loop)
  --clients N           well-behaved h2load connections (default 8)
  --streams N           their concurrent streams per connection (default 4)
  --rate N              their requests per second per connection (h2load --rps, default 100)
  --delay-ms N          the backend's delay for the others' requests (default 5)
  --attack-delay-ms N   the backend's delay for the attacker's paths (default 100)
  --upstreams "h1 h2c"  which upstream protocols to test (default both)
  --attacks "pairs split"  which attacks (default both)
  --pin                 bgproxy, the client and the others' backend on CPU 1, the attacker and its
                        backend on CPU 0 (taskset): the attack's own processes then take no CPU
                        from the proxy; saved as rapid-reset-pinned-*.md
  --no-wait             do not wait for compilers to finish before each measured run
  --port-base P         private port range start (default 18900; uses P+1..P+12)
  --results-dir DIR     where to write rapid-reset-YYYY-MM-DD-HHMM.md and rapid-reset-latest.md
  --no-save             print the report only
  --keep-tmp            keep the temp dir (configs, logs, h2load output, backend stats)
  --quick               smoke run: 1 round of 3 s, not saved
  -h, --help            this text

Environment: H2LOAD, PYTHON (a python3 with python3-h2), CURL override the tools' paths.
EOF
}

# ---------------------------------------------------------------- options
ORIG_ARGS="$*"
BGPROXY="$REPO_DIR/build/bgproxy"
DURATION=10s
ROUNDS=3
WORKERS=1
CLIENTS=8
STREAMS=4
RATE=100
DELAY_MS=5
ATTACK_DELAY_MS=100
UPSTREAMS="h1 h2c"
ATTACKS="pairs split"
WAIT=1
PIN=0
PORT_BASE=18900
RESULTS_DIR="$REPO_DIR/bench/results"
SAVE=1
KEEP_TMP=0
QUICK=0
for a in "$@"; do
  [[ $a == --quick ]] && QUICK=1 DURATION=3s ROUNDS=1 SAVE=0
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
    --workers) need "$@"; WORKERS=$2; shift 2 ;;
    --clients) need "$@"; CLIENTS=$2; shift 2 ;;
    --streams) need "$@"; STREAMS=$2; shift 2 ;;
    --rate) need "$@"; RATE=$2; shift 2 ;;
    --delay-ms) need "$@"; DELAY_MS=$2; shift 2 ;;
    --attack-delay-ms) need "$@"; ATTACK_DELAY_MS=$2; shift 2 ;;
    --upstreams) need "$@"; UPSTREAMS=$2; shift 2 ;;
    --attacks) need "$@"; ATTACKS=$2; shift 2 ;;
    --no-wait) WAIT=0; shift ;;
    --pin) PIN=1; shift ;;
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
for v in ROUNDS WORKERS CLIENTS STREAMS RATE DELAY_MS ATTACK_DELAY_MS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$(tr '[:upper:]_' '[:lower:]-' <<<"$v") must be a positive integer"
done
read -r -a UPSTREAM_LIST <<<"$UPSTREAMS"
read -r -a ATTACK_LIST <<<"$ATTACKS"
for u in "${UPSTREAM_LIST[@]}"; do [[ $u == h1 || $u == h2c ]] || die "--upstreams: h1 and/or h2c (got $u)"; done
for a in "${ATTACK_LIST[@]}"; do [[ $a == pairs || $a == split ]] || die "--attacks: pairs and/or split (got $a)"; done
((${#UPSTREAM_LIST[@]} > 0 && ${#ATTACK_LIST[@]} > 0)) || die "nothing to run"
check_port_base

H2LOAD=${H2LOAD:-$(find_tool h2load)}
CURL=${CURL:-$(find_tool curl)}
PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
  # the Debian python3 has python3-h2; a python3 earlier in PATH (pyenv, a venv) may not
  for p in /usr/bin/python3 "$(find_tool python3)"; do
    [[ -n $p && -x $p ]] && "$p" -c 'import h2, hpack' 2>/dev/null && { PYTHON=$p; break; }
  done
fi
missing=()
[[ -n $H2LOAD ]] || missing+=("h2load (apt-get install nghttp2-client)")
[[ -n $CURL ]] || missing+=("curl")
[[ -n $PYTHON ]] || missing+=("python3 with python3-h2 (apt-get install python3-h2)")
((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}"
[[ -x $BGPROXY ]] || die "no bgproxy binary at $BGPROXY (build it, or pass --bgproxy PATH)"
# --pin: what serves the others on CPU 1, what attacks (and its backend) on CPU 0
ON_PROXY=() ON_ATTACK=() NAME=rapid-reset
if ((PIN)); then
  TASKSET=$(find_tool taskset)
  [[ -n $TASKSET ]] || die "--pin needs taskset (util-linux)"
  (($(nproc) >= 2)) || die "--pin needs 2 CPUs"
  ON_PROXY=("$TASKSET" -c 1) ON_ATTACK=("$TASKSET" -c 0) NAME=rapid-reset-pinned
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- ports
# blue (the attacker's: bgproxy's live color) and green (the others', by X-Bluegreen: green) are
# two backend processes, so that a backend busy with the attack does not slow the others down
declare -A BE_PORT PROXY_PORT
BE_PORT[h1-blue]=$((PORT_BASE + 1)) BE_PORT[h2c-blue]=$((PORT_BASE + 2))
BE_PORT[h1-green]=$((PORT_BASE + 4)) BE_PORT[h2c-green]=$((PORT_BASE + 5))
P_ADMIN=$((PORT_BASE + 3))
PROXY_PORT[h1]=$((PORT_BASE + 10)) PROXY_PORT[h2c]=$((PORT_BASE + 11))
for p in "${BE_PORT[@]}" $P_ADMIN "${PROXY_PORT[@]}"; do
  ! port_busy "$p" || die "port 127.0.0.1:$p is already in use (try --port-base)"
done

# ---------------------------------------------------------------- temp dir, exit
setup_run_dir rapid-reset  # $TMP, $RAW, and the exit trap that stops what runs

wait_h2c() { # name port [seconds]: until GET / over h2c answers 2xx, bounded
  local name=$1 port=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    alive "$name" || return 1
    "$CURL" -fsS -o /dev/null --max-time 1 --http2-prior-knowledge "http://127.0.0.1:$port/" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
wait_h1() { # name port [seconds]
  local name=$1 port=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    alive "$name" || return 1
    "$CURL" -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- servers
start_backend() { # h1|h2c blue|green
  local u=$1 c=$2 d=$TMP/backend-$1-$2
  mkdir -p "$d"
  : >"$d/stats.txt"
  local on=("${ON_PROXY[@]}")
  [[ $c == blue ]] && on=("${ON_ATTACK[@]}")
  start_bg "backend-$u-$c" "$d/backend.log" "${on[@]}" "$PYTHON" "$SCRIPT_DIR/slow_backend.py" "${BE_PORT[$u-$c]}" \
    --proto "$u" --stats "$d/stats.txt" --delay-ms "$DELAY_MS" --attack-delay-ms "$ATTACK_DELAY_MS"
  if [[ $u == h1 ]]; then
    wait_h1 "backend-$u-$c" "${BE_PORT[$u-$c]}" 10 || die "the HTTP/1.1 backend did not start (see $d/backend.log)"
  else
    wait_h2c "backend-$u-$c" "${BE_PORT[$u-$c]}" 10 || die "the h2c backend did not start (see $d/backend.log)"
  fi
}

start_proxy() { # h1|h2c: bgproxy in front of that backend
  local u=$1 d=$TMP/bgproxy-$1 proto=""
  mkdir -p "$d"
  [[ $u == h2c ]] && proto=", protocol: h2c"
  cat >"$d/bgproxy.yaml" <<EOF
listen: 127.0.0.1:${PROXY_PORT[$u]}
protocols: [http1, h2c]
workers: $WORKERS
admin:
  listen: 127.0.0.1:$P_ADMIN
backends:
  live: blue
  blue:  { endpoints: [127.0.0.1:${BE_PORT[$u-blue]}]$proto }
  green: { endpoints: [127.0.0.1:${BE_PORT[$u-green]}]$proto }
timeouts:
  client_idle: 300s
limits:
  max_connections: 4096
log:
  level: warn
EOF
  start_bg bgproxy "$d/bgproxy.log" "${ON_PROXY[@]}" "$BGPROXY" run -c "$d/bgproxy.yaml"
  wait_h2c bgproxy "${PROXY_PORT[$u]}" 15 || die "bgproxy did not answer over h2c (see $d)"
}

# ---------------------------------------------------------------- runs
RUNS=$RAW/runs.tsv
# upstream attack round p50_ms p99_ms max_ms done failed non2xx proxy_cpu_% attacker_connections
# attacker_streams_written attacker_streams_taken attacker_seconds goaway_codes
# backend_attack_requests backend_attack_held_max backend_attack_held_max_one_connection
# backend_other_held_max backend_cancelled machine_busy_% compiler_s load1
# bgproxy_runqueue_wait_ms_per_s
: >"$RUNS"
SAMPLES=$RAW/machine.txt
: >"$SAMPLES"

window_stats() { # stats_file t0 t1 -> attack_requests attack_held_max conn_held_max other_held_max cancelled
  awk -v a="$2" -v b="$3" '
    $1 < a { base_att = $4; base_can = $6; next }
    $1 <= b + 0.2 { if ($2 > hm) hm = $2; if ($7 > cm) cm = $7; if ($3 > om) om = $3; last_att = $4; last_can = $6; n++ }
    END { if (!n) print "NA NA NA NA NA"; else print last_att - base_att, hm + 0, cm + 0, om + 0, last_can - base_can }' "$1"
}

# settle_backends: until every backend keeps up again (its last stats line is fresh), holds none
# of the attacker's requests and has received none for its last 5 lines (half a second): an attack
# can leave a backend hundreds of thousands of requests behind in its socket buffers, which it
# would still be working through during the next run. At most 120 s.
settle_backends() {
  local f i ok now
  for ((i = 0; i < 1200; i++)); do
    ok=1 now=$(date +%s.%N)
    for f in "$TMP"/backend-*/stats.txt; do
      tail -5 "$f" | awk -v now="$now" '{ t = $1; h += $2; a[NR] = $4 } END { exit !(NR == 5 && now - t < 0.35 && h == 0 && a[1] == a[5]) }' || ok=0
    done
    ((ok)) && return 0
    sleep 0.1
  done
  warn "a backend was still busy with the attack after 120 s"
}

# run_one upstream attack round: one measured run, its line appended to RUNS
run_one() {
  local u=$1 att=$2 r=$3 out c0 c1 q0 q1 j0 j1 t0 t1 ta0 load1 _
  out=$RAW/$u-$att-r$r
  ((WAIT)) && wait_quiet 1800
  settle_backends
  read -r load1 _ </proc/loadavg
  ta0=$(date +%s.%N)
  if [[ $att != baseline ]]; then
    # the attack starts a second before the measured window and ends a second after it
    start_bg attacker "$out.attacker.log" "${ON_ATTACK[@]}" "$PYTHON" "$SCRIPT_DIR/rapid_reset_attacker.py" \
      "${PROXY_PORT[$u]}" --duration "$((DUR_S + 2))" --mode "$att" --batch 100 --out "$out.attacker.json"
    sleep 1
  fi
  c0=$(cpu_ticks bgproxy) q0=$(runq_ns bgproxy) j0=$(machine_jiffies) t0=$(date +%s)
  run_fg "${ON_PROXY[@]}" "$H2LOAD" -t1 -c"$CLIENTS" -m"$STREAMS" --rps "$RATE" -D "$DUR_S" --log-file "$out.log" \
    -H 'x-bluegreen: green' "http://127.0.0.1:${PROXY_PORT[$u]}/" >"$out.txt" 2>&1 </dev/null ||
    warn "h2load exited non-zero for $u $att round $r (see $out.txt)"
  c1=$(cpu_ticks bgproxy) q1=$(runq_ns bgproxy) j1=$(machine_jiffies) t1=$(date +%s)
  local conns="-" written="-" taken="-" asecs="-" goaways="-"
  if [[ $att != baseline ]]; then
    local i
    for ((i = 0; i < 100; i++)); do alive attacker || break; sleep 0.1; done
    stop_proc attacker
    if [[ -s $out.attacker.json ]]; then
      read -r conns written taken asecs goaways <<<"$("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
codes = ",".join("%s:%d" % kv for kv in sorted(r["goaway_codes"].items()))
print(r["connections"], r["streams_written"], r["streams_taken"], r["seconds"], codes or "-")' "$out.attacker.json")"
    else
      warn "the attacker wrote no report for $u round $r (see $out.attacker.log)"
    fi
  fi
  sleep 0.3 # the backend's last stats line of the window
  local rps done_n failed non2xx p50 p99 pmax cpu runq busy comp bstats
  read -r rps done_n failed non2xx <<<"$(awk '
    /^finished in/ { gsub(",", ""); rps = $4 }
    /^requests:/ { gsub(",", ""); done = $6; failed = $10 }
    /^status codes:/ { gsub(",", ""); other = $5 + $7 + $9 }
    END { print (rps == "" ? "NA" : rps), (done == "" ? "NA" : done), (failed == "" ? "NA" : failed), (other == "" ? "NA" : other) }' "$out.txt")"
  read -r p50 p99 pmax <<<"$(awk -F'\t' '$2 >= 200 && $2 < 300 { print $3 }' "$out.log" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "NA NA NA"; else printf "%.3f %.3f %.3f\n", a[int(NR * 0.5) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000, a[NR] / 1000 }')"
  rm -f "$out.log"
  cpu=$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v s="$((t1 - t0))" 'BEGIN { if (s <= 0) print "NA"; else printf "%.0f\n", c / hz / s * 100 }')
  # how long bgproxy's threads waited for a CPU, in ms per second of the run
  runq=$(awk -v q="$((q1 - q0))" -v s="$((t1 - t0))" 'BEGIN { if (s <= 0) print "NA"; else printf "%.0f\n", q / 1e6 / s }')
  busy=$(busy_pct "$j0" "$j1")
  comp=$(compilers_during "$SAMPLES" "$t0" "$t1")
  # the backend's figures over the whole attack (from a second before the window to its end)
  bstats=$(window_stats "$TMP/backend-$u-blue/stats.txt" "$ta0" "$(date +%s.%N)")
  local ba bh bch bo bc
  read -r ba bh bch bo bc <<<"$bstats"
  # the others' backend: how many of their requests it held at most (their concurrency)
  read -r _ _ _ bo _ <<<"$(window_stats "$TMP/backend-$u-green/stats.txt" "$ta0" "$(date +%s.%N)")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$u" "$att" "$r" \
    "$p50" "$p99" "$pmax" "$done_n" "$failed" "$non2xx" "$cpu" "$conns" "$written" "$taken" "$asecs" "$goaways" \
    "$ba" "$bh" "$bch" "$bo" "$bc" "$busy" "$comp" "$load1" "$runq" >>"$RUNS"
  log "$u $att round $r: client $(fmt_int "$rps") rps, p50 $(fmt_ms "$p50") ms, p99 $(fmt_ms "$p99") ms, max $(fmt_ms "$pmax") ms, done $done_n, failed $failed, non-2xx $non2xx; bgproxy CPU $cpu%, waited for a CPU $runq ms/s; attacker: $conns connections, $written streams written, $taken taken in ${asecs}s, GOAWAY $goaways; blue backend: $ba attack requests, $bh held at most ($bch from one connection), $bc given up; green: $bo held at most; machine busy $busy%, compiler ${comp}s, load $load1"
  alive bgproxy || die "bgproxy died during $u $att round $r (see $TMP/bgproxy-$u)"
}

# run_clean args...: run_one, again (at most twice more) when a compiler ran during it; the
# discarded runs' lines go to discarded.tsv
run_clean() {
  local try
  for ((try = 1; try <= 3; try++)); do
    run_one "$@"
    (($(tail -1 "$RUNS" | cut -f22) == 0)) && return 0
    ((WAIT && try < 3)) || return 0
    tail -1 "$RUNS" >>"$RAW/discarded.tsv"
    sed -i '$ d' "$RUNS"
    log "a compiler ran during that run: measuring it again"
  done
}

run_upstream() { # h1|h2c
  local u=$1 n r i a
  local kinds=(baseline "${ATTACK_LIST[@]}")
  n=${#kinds[@]}
  start_proxy "$u"
  run_fg "${ON_PROXY[@]}" "$H2LOAD" -t1 -c"$CLIENTS" -m"$STREAMS" --rps "$RATE" -D 2 -H 'x-bluegreen: green' "http://127.0.0.1:${PROXY_PORT[$u]}/" >"$RAW/$u-warmup.txt" 2>&1 </dev/null || true
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
      a=${kinds[$(((i + r - 1) % n))]}
      run_clean "$u" "$a" "$r"
    done
  done
  "$CURL" -fsS --max-time 5 "http://127.0.0.1:$P_ADMIN/metrics" >"$RAW/bgproxy-metrics-$u.txt" 2>/dev/null || true
  cp "$TMP/bgproxy-$u/bgproxy.yaml" "$RAW/bgproxy-$u.yaml"
  stop_proc bgproxy
}

STAMP=$(date +%Y-%m-%d-%H%M)
START_HUMAN=$(date '+%Y-%m-%d %H:%M %Z')
UPTIME_START=$(uptime)
read -r load1 _ </proc/loadavg
if awk -v l="$load1" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  warn "load average is $load1 on $(nproc) CPUs: the machine is busy, expect noisy numbers"
fi
log "temp dir $TMP; ports 127.0.0.1:$((PORT_BASE + 1))..${PROXY_PORT[h2c]}"
start_bg sampler /dev/null machine_sampler "$SAMPLES"
for u in "${UPSTREAM_LIST[@]}"; do start_backend "$u" blue; start_backend "$u" green; done
BG_VERSION=$("$BGPROXY" version 2>/dev/null | head -1 || true)
for u in "${UPSTREAM_LIST[@]}"; do run_upstream "$u"; done
for u in "${UPSTREAM_LIST[@]}"; do
  for c in blue green; do cp "$TMP/backend-$u-$c/stats.txt" "$RAW/backend-$u-$c-stats.txt"; done
done

# ---------------------------------------------------------------- report
col() { # upstream attack column -> median over the rounds
  awk -F'\t' -v u="$1" -v a="$2" -v c="$3" '$1 == u && $2 == a { print $c }' "$RUNS" | median
}
max_col() { awk -F'\t' -v u="$1" -v a="$2" -v c="$3" '$1 == u && $2 == a && $c != "NA" && $c + 0 > m { m = $c + 0 } END { print m + 0 }' "$RUNS"; }
sum_col() { awk -F'\t' -v u="$1" -v a="$2" -v c="$3" '$1 == u && $2 == a && $c != "-" && $c != "NA" { s += $c } END { printf "%.0f\n", s + 0 }' "$RUNS"; }
per_round() { # upstream attack column [printf format]
  awk -F'\t' -v u="$1" -v a="$2" -v c="$3" -v f="${4:-%.0f}" '$1 == u && $2 == a { printf "%s%s", sep, ($c == "NA" || $c == "-" ? $c : sprintf(f, $c)); sep = ", " }' "$RUNS"
}
rate_col() { # upstream attack numerator_column -> median over rounds of column / attacker seconds
  awk -F'\t' -v u="$1" -v a="$2" -v c="$3" '$1 == u && $2 == a && $14 != "-" && $14 > 0 { print $c / $14 }' "$RUNS" | median
}
goaway_codes() { # upstream attack -> the GOAWAY codes per connection the attacker got, over all rounds
  awk -F'\t' -v u="$1" -v a="$2" '
    function name(k) { return k == "11" ? "ENHANCE_YOUR_CALM" : k == "2" ? "INTERNAL_ERROR" : k == "1" ? "PROTOCOL_ERROR" : k == "0" ? "NO_ERROR" : k == "none" ? "none (reset before it was read)" : k }
    $1 == u && $2 == a && $15 != "-" { n = split($15, x, ","); for (i = 1; i <= n; i++) { split(x[i], y, ":"); s[y[1]] += y[2] } }
    END { for (k in s) { m = split(k, z, "+"); l = ""; for (j = 1; j <= m; j++) l = l (j > 1 ? " then " : "") name(z[j]); printf "%s%s: %d", sep, l, s[k]; sep = "; " } }' "$RUNS"
}
declare -A ATTACK_LABEL=([pairs]="Rapid Reset (HEADERS + RST_STREAM pairs)"
  [split]="Rapid Reset, split (100 HEADERS, then their RST_STREAMs)")
REPORT=$TMP/report.md
{
  echo "# Rapid Reset: other clients through bgproxy under attack — $START_HUMAN"
  echo
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r); shared by the client, the attacker, the backend and the proxy"
  echo "- bgproxy: ${BG_VERSION:-n/a}, \`workers: $WORKERS\`, \`protocols: [http1, h2c]\`; backends \`bench/slow_backend.py\` (asyncio, one thread each; blue takes the attacker, green the others): ${DELAY_MS} ms per request, ${ATTACK_DELAY_MS} ms for the attacker's paths; HTTP/1.1, then h2c (advertising 100000 concurrent streams, so only the proxy bounds them)"
  echo "- Well-behaved client: \`$("$H2LOAD" --version 2>&1 | head -1) -t1 -c$CLIENTS -m$STREAMS --rps $RATE -H 'x-bluegreen: green'\` (h2c, GET /, $((CLIENTS * RATE)) requests/s in all); p50/p99/max from its per-request log"
  echo "- Attacker: \`bench/rapid_reset_attacker.py\`, one connection at a time, reconnecting at once when the proxy ends it; streams are written in batches of 100; it runs from 1 s before the client's $DURATION window to 1 s after it"
  echo "- Runs: $ROUNDS round(s) per upstream of baseline and each attack, in rotating order; medians of the rounds (peaks: the highest round)"
  ((WAIT)) && echo "- Each measured run waited until no compiler (cc1plus, ninja) ran (${QUIET_WAITED}s waited in all), and was measured again (at most twice) when one started during it: $( [[ -f $RAW/discarded.tsv ]] && wc -l <"$RAW/discarded.tsv" || echo 0) run(s) discarded"
  ((PIN)) && echo "- **Pinned** (\`--pin\`): bgproxy, the client and the green backend on CPU 1; the attacker and the blue backend on CPU 0"
  ((QUICK)) && echo "- **Quick smoke run** (\`--quick\`): too short to conclude anything"
  echo
  echo "Targets: the client's p99 under attack <= 2 x its baseline; no upstream sees more than 100 concurrent streams from the attacker's connection."
  echo
  for u in "${UPSTREAM_LIST[@]}"; do
    if [[ $u == h1 ]]; then echo "## HTTP/1.1 upstream"; else echo "## h2c upstream"; fi
    echo
    echo "| run | client p50 ms | client p99 ms | p99 / baseline | client max ms | client requests done / failed / non-2xx | bgproxy CPU | bgproxy waiting for a CPU | attacker streams written /s | streams bgproxy took /s | attacker connections /s | attacker requests at the backend /s | most attacker requests held at once by the backend: from one connection | from all its connections |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    b_p99=$(col "$u" baseline 5)
    for a in baseline "${ATTACK_LIST[@]}"; do
      p99=$(col "$u" "$a" 5)
      if [[ $a == baseline ]]; then
        label="baseline (no attack)" w="-" tk="-" cps="-"
        brate=$(awk -v n="$(sum_col "$u" "$a" 16)" -v s="$((ROUNDS * DUR_S))" 'BEGIN { printf "%.0f\n", n / s }')
      else
        label=${ATTACK_LABEL[$a]}
        w=$(fmt_int "$(rate_col "$u" "$a" 12)") tk=$(fmt_int "$(rate_col "$u" "$a" 13)") cps=$(fmt_int "$(rate_col "$u" "$a" 11)")
        brate=$(fmt_int "$(rate_col "$u" "$a" 16)")
      fi
      echo "| $label | $(fmt_ms "$(col "$u" "$a" 4)") | $(fmt_ms "$p99") | $(ratio "$p99" "$b_p99") | $(fmt_ms "$(col "$u" "$a" 6)") | $(sum_col "$u" "$a" 7) / $(sum_col "$u" "$a" 8) / $(sum_col "$u" "$a" 9) | $(col "$u" "$a" 10)% | $(col "$u" "$a" 24) ms/s | $w | $tk | $cps | $brate | $(max_col "$u" "$a" 18) | $(max_col "$u" "$a" 17) |"
    done
    echo
    for a in "${ATTACK_LIST[@]}"; do
      echo "- ${ATTACK_LABEL[$a]}: GOAWAYs per attacker connection: $(goaway_codes "$u" "$a")"
    done
    echo
  done
  echo "Streams written are HEADERS + RST_STREAM pairs the kernel took from the attacker; streams bgproxy took are those up to the last-stream-id of its GOAWAYs (what it read before it ended the connection). Attacker requests at the backend are requests under /reset/ the (blue) backend received, per second of attack. Held at once: attacker requests the backend had received and neither answered nor seen given up (its HTTP/1.1 connection closed, its h2c stream reset), the most over any 100 ms of a run, over all rounds; "from one connection" counts those of one attacker connection (its number is in the path), which the target bounds by 100, "from all" those of every attacker connection, ended or not. The others' requests go to a second backend process (green, by \`x-bluegreen: green\`) so that a backend busy with the attack does not slow them down: what is measured is the proxy. \"Waiting for a CPU\" is the time bgproxy's threads spent runnable on a run queue (/proc/PID/task/*/schedstat), per second: CPU the machine did not have for it."
  echo
  echo "## Per round"
  echo
  echo "| upstream | run | client p99 ms per round | attacker streams taken per round | attacker requests at the backend per round | held at once, one connection | held at once, all | others held at once (green) | bgproxy CPU % | bgproxy waiting for a CPU, ms/s | machine busy % | compiler running (s) | load avg at start |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for u in "${UPSTREAM_LIST[@]}"; do
    for a in baseline "${ATTACK_LIST[@]}"; do
      echo "| $u | $a | $(per_round "$u" "$a" 5 %.2f) | $(per_round "$u" "$a" 13) | $(per_round "$u" "$a" 16) | $(per_round "$u" "$a" 18) | $(per_round "$u" "$a" 17) | $(per_round "$u" "$a" 19) | $(per_round "$u" "$a" 10) | $(per_round "$u" "$a" 24) | $(per_round "$u" "$a" 21) | $(per_round "$u" "$a" 22) | $(per_round "$u" "$a" 23 %.2f) |"
    done
  done
  echo
  echo "Machine load at start: \`$UPTIME_START\`; at end: \`$(uptime)\`."
  echo
  echo "Generated by \`bench/rapid_reset.sh${ORIG_ARGS:+ $ORIG_ARGS}\`."
} >"$REPORT"

echo
cat "$REPORT"
if ((SAVE)); then
  mkdir -p "$RESULTS_DIR"
  cp "$REPORT" "$RESULTS_DIR/$NAME-$STAMP.md"
  cp "$REPORT" "$RESULTS_DIR/$NAME-latest.md"
  rm -rf "$RESULTS_DIR/$NAME-$STAMP.raw"
  mkdir -p "$RESULTS_DIR/$NAME-$STAMP.raw"
  cp -r "$RAW"/. "$RESULTS_DIR/$NAME-$STAMP.raw/"
  log "report written to ${RESULTS_DIR#"$REPO_DIR"/}/$NAME-$STAMP.md and $NAME-latest.md"
fi
if awk -F'\t' '$5 == "NA" || $8 > 0 || $9 > 0 { bad = 1 } END { exit !bad }' "$RUNS"; then
  warn "some runs produced no figures, or the well-behaved client had failed requests (see the raw output)"
  exit 1
fi
