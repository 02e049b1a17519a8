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
