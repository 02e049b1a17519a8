# shellcheck shell=bash
# Sourced by the bench scripts: process handling, tool lookup and the small number formatters
# they share. The caller sets PROG (its name, for messages) and declares `declare -A PIDS=()` and
# `FG_PIDS=()` before using the process helpers.

die() { echo "$PROG: error: $*" >&2; exit 1; }
warn() { echo "$PROG: warning: $*" >&2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

find_tool() { # name -> its path, or "" when absent
  local name=$1 d
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  for d in /usr/sbin /usr/local/sbin /sbin /usr/local/nginx/sbin; do
    [[ -x $d/$name ]] && { echo "$d/$name"; return; }
  done
  echo ""
}

# VAR=tool:"what to install" ... : sets each VAR to its tool's path (a value already in the
# environment wins), then stops naming every tool that is missing.
require_tools() {
  local spec var tool missing=()
  for spec in "$@"; do
    var=${spec%%=*} tool=${spec#*=}
    [[ -n ${!var:-} ]] || printf -v "$var" '%s' "$(find_tool "${tool%%:*}")"
    [[ -n ${!var} && -x ${!var} ]] || missing+=("${tool#*:}")
  done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}"
}

check_port_base() { [[ $PORT_BASE =~ ^[0-9]+$ ]] && ((PORT_BASE >= 1024 && PORT_BASE <= 65000)) || die "bad --port-base"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- processes
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
tree_pids() { local c; echo "$1"; for c in $(children_of "$1"); do tree_pids "$c"; done; }

start_bg() { # name logfile cmd... : in the background (not daemonized), known by name
  local name=$1 logf=$2; shift 2
  "$@" >"$logf" 2>&1 </dev/null &
  PIDS["$name"]=$!
}
alive() { [[ -n ${PIDS[$1]:-} ]] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

stop_proc() { # name: SIGTERM, up to 5 s, then SIGKILL to its whole process tree
  local name=$1 pid pids i p
  pid=${PIDS[$name]:-}
  [[ -n $pid ]] || return 0
  unset "PIDS[$name]"
  # shellcheck disable=SC2207
  pids=($(tree_pids "$pid" 2>/dev/null || echo "$pid"))
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}

run_fg() { # cmd... : in the foreground, but stoppable by the exit trap (through FG_PIDS)
  local rc=0
  "$@" &
  FG_PIDS=($!)
  wait "${FG_PIDS[0]}" || rc=$?
  FG_PIDS=()
  return "$rc"
}

# The run's temp dir ($TMP, raw outputs in $RAW) and the exit trap: every process start_bg or
# run_fg started is stopped, then the dir removed (kept with KEEP_TMP=1).
setup_run_dir() { # name: the dir is ${TMPDIR:-/tmp}/bgproxy-NAME.XXXXXX
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/bgproxy-$1.XXXXXX")
  RAW=$TMP/raw
  mkdir -p "$RAW"
  declare -gA PIDS=()
  FG_PIDS=()
  trap cleanup EXIT
  trap 'echo "$PROG: interrupted" >&2; exit 130' INT
  trap 'exit 143' TERM
}
cleanup() {
  local rc=$? name p
  trap - EXIT INT TERM
  for p in "${FG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do stop_proc "$name"; done
  if ((${KEEP_TMP:-0})); then echo "$PROG: temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
  exit "$rc"
}

cpu_ticks() { # name -> utime + stime over the process tree (clock ticks)
  local pid=${PIDS[$1]:-} sum=0 p v
  [[ -n $pid ]] || { echo 0; return; }
  for p in $(tree_pids "$pid"); do
    # fields after the ")" of the command: 12 = utime, 13 = stime
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# ---------------------------------------------------------------- numbers
median() { # numbers on stdin (NA skipped) -> their median, NA when none
  awk '$1 != "NA" { print $1 }' | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
fmt_int() { awk -v v="$1" 'BEGIN { if (v == "NA" || v == "") print "n/a"; else printf "%.0f\n", v }'; }
fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "NA" || v == "") print "n/a"; else if (v < 1) printf "%.3f\n", v; else printf "%.2f\n", v }'; }
fmt_1() { awk -v v="$1" 'BEGIN { if (v == "NA" || v == "") print "n/a"; else printf "%.1f\n", v }'; }

# ---------------------------------------------------------------- a quiet machine
# The development machine is shared with other people's compilers. wait_quiet holds a measured
# run back until no compiler runs (cc1plus, ninja), at most MAX seconds (default 1800; then it
# warns and measures anyway). It adds the time waited to QUIET_WAITED (seconds).
QUIET_WAITED=0
compilers_running() { pgrep -x cc1plus >/dev/null || pgrep -x ninja >/dev/null; }
wait_quiet() { # [max seconds]
  local max=${1:-1800} waited=0
  while compilers_running; do
    ((waited == 0)) && log "a compiler is running (cc1plus/ninja): waiting until it is done"
    if ((waited >= max)); then
      warn "compilers still running after ${max}s: measuring anyway"
      break
    fi
    sleep 10
    waited=$((waited + 10))
  done
  QUIET_WAITED=$((QUIET_WAITED + waited))
}

# machine_sampler FILE: every second, "epoch compilers_running(0/1) load1" appended to FILE;
# run it with start_bg. compilers_during FILE T0 T1 -> seconds of [T0, T1] a compiler ran.
machine_sampler() {
  local f=$1 c l _
  while :; do
    c=0
    compilers_running && c=1
    read -r l _ </proc/loadavg
    echo "$(date +%s) $c $l" >>"$f"
    sleep 1
  done
}
compilers_during() { awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b && $2 { n++ } END { print n + 0 }' "$1"; }

machine_jiffies() { # -> "busy total" over all CPUs since boot (/proc/stat), for a busy % over a run
  awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}
busy_pct() { # "busy0 total0" "busy1 total1" -> the machine's busy % (all CPUs) in between
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; if (t <= 0) print "NA"; else printf "%.0f\n", (y[1] - x[1]) / t * 100 }'
}

thread_ticks() { # name -> "tid ticks" per thread of its process tree (utime + stime)
  local pid=${PIDS[$1]:-} p t
  [[ -n $pid ]] || return 0
  for p in $(tree_pids "$pid"); do
    for t in /proc/"$p"/task/*; do
      sed 's/.*) //' "$t/stat" 2>/dev/null | awk -v t="${t##*/}" '{ print t, $12 + $13 }' || true
    done
  done
}
busiest_thread_pct() { # file0 file1 seconds -> CPU % of one core of the busiest thread in between
  awk -v s="$3" -v hz="$(getconf CLK_TCK)" 'NR == FNR { a[$1] = $2; next } { d = $2 - a[$1]; if (d > m) m = d } END { printf "%.0f\n", m / hz / s * 100 }' "$1" "$2"
}

runq_ns() { # name -> nanoseconds its threads have waited on a run queue for a CPU (schedstat)
  local pid=${PIDS[$1]:-} p
  [[ -n $pid ]] || { echo 0; return; }
  for p in $(tree_pids "$pid"); do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done |
    awk '{ s += $2 } END { printf "%.0f\n", s }'
}

upstream_conns() { # port name -> established TCP connections to 127.0.0.1:port that the process
  # tree `name` holds now (/proc/net/tcp's inodes matched against its descriptors)
  local pid=${PIDS[$2]:-} p
  [[ -n $pid ]] || { echo NA; return; }
  for p in $(tree_pids "$pid"); do ls -l /proc/"$p"/fd 2>/dev/null || true; done |
    awk -v p=":$(printf '%04X' "$1")" '
      FILENAME == "/proc/net/tcp" { if (FNR > 1 && $4 == "01" && substr($3, length($3) - 4) == p) want["socket:[" $10 "]"] = 1; next }
      $NF in want { n++ }
      END { print n + 0 }' /proc/net/tcp -
}
