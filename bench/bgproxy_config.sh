# Sourced by bench/compare.sh and bench/profile.sh: the bgproxy config both benchmark.
# bgproxy_bench_config PORT WORKERS ADMIN_PORT BLUE_PORT GREEN_PORT MAX_CONNECTIONS > file
# (the 75/25 split is set afterwards through PUT /weights; a sticky header is configured, as a
# real deployment would have one, though wrk does not send it)
bgproxy_bench_config() {
  cat <<EOF2
listen: 127.0.0.1:$1
workers: $2
admin:
  listen: 127.0.0.1:$3
backends:
  live: blue
  blue:  { endpoints: [127.0.0.1:$4] }
  green: { endpoints: [127.0.0.1:$5] }
routing:
  sticky_header: X-User-Id
timeouts:
  client_idle: 300s
limits:
  max_connections: $6
log:
  level: warn
EOF2
}
