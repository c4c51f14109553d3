#!/usr/bin/env bash
# The local demo: both seeds' sessions on one machine. Sets up a fresh Debian
# 12 machine (only what is missing), builds nginx-xds and starts, all on
# 127.0.0.1:
#   - the control plane on its embedded store (deploy/local/.state/data, kept
#     across runs) with its HTTP gateway;
#   - nginx A, seed 000's quick start (fleet seed000, 2 workers): port 6000,
#     upstream `backends` (zone zone_for_backends, 6001-6003) and
#     `location /dynamic { dynamic_upstream; }`;
#   - nginx B, seed 002's config (fleet seed002, 2 workers): port 8080 with
#     `proxy_pass http://$host;`, upstreams host1 and host2, and the
#     `dyups_interface;` server on 8081;
#   - the backends (6001-6004, 8088, 8089), each answering its port number.
# Every curl sample of seeds 000 and 002 then answers as the seed shows.
# Stays in the foreground until Ctrl-C, which stops everything it started.
#   --detach   return once everything is healthy (stop it with --stop)
#   --stop     stop a detached demo
#   --reset    start from an empty store (what the seeds' samples assume)
#
# Environment (defaults in parentheses):
#   NGINX_XDS_XDS_PORT (18000), NGINX_XDS_ADMIN_PORT (18001),
#   NGINX_XDS_HTTP_PORT (18080): the control plane's xDS, gRPC admin and
#     HTTP gateway ports;
#   NGINX_XDS_SEED000_PORT (6000), NGINX_XDS_SEED000_BACKEND_PORTS
#     ("6001 6002 6003 6004"), NGINX_XDS_SEED002_PORT (8080),
#     NGINX_XDS_SEED002_DYUPS_PORT (8081), NGINX_XDS_SEED002_BACKEND_PORTS
#     ("8088 8089"): the ports the seeds call by those numbers;
#   NGINX_XDS_DEMO_STATE_DIR (deploy/local/.state): store, control plane
#     binary, pid and logs;
#   NGINX_XDS_DEMO_RUN_DIR (${TMPDIR:-/tmp}/nginx-xds-demo-UID): the nginx
#     configs, module, pids and logs (nginx's workers, `nobody` when run as
#     root, must reach it);
#   NGINX_XDS_PREBUILT_DIR: a directory holding nginx-xds-controlplane and
#     ngx_http_xds_module.so; then nothing is installed or built (tests).
# Give --stop the same directories as the start.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

state=${NGINX_XDS_DEMO_STATE_DIR:-$root/deploy/local/.state}
run=${NGINX_XDS_DEMO_RUN_DIR:-${TMPDIR:-/tmp}/nginx-xds-demo-$(id -u)}
readonly XDS_PORT=${NGINX_XDS_XDS_PORT:-18000}
readonly ADMIN_PORT=${NGINX_XDS_ADMIN_PORT:-18001}
readonly HTTP_PORT=${NGINX_XDS_HTTP_PORT:-18080}
read -r -a SEED000_BACKENDS <<<"${NGINX_XDS_SEED000_BACKEND_PORTS:-6001 6002 6003 6004}"
read -r -a SEED002_BACKENDS <<<"${NGINX_XDS_SEED002_BACKEND_PORTS:-8088 8089}"
# The seeds' port numbers -> the ports used here.
declare -A PORT=(
  [6000]=${NGINX_XDS_SEED000_PORT:-6000}
  [6001]=${SEED000_BACKENDS[0]:-} [6002]=${SEED000_BACKENDS[1]:-}
  [6003]=${SEED000_BACKENDS[2]:-} [6004]=${SEED000_BACKENDS[3]:-}
  [8080]=${NGINX_XDS_SEED002_PORT:-8080} [8081]=${NGINX_XDS_SEED002_DYUPS_PORT:-8081}
  [8088]=${SEED002_BACKENDS[0]:-} [8089]=${SEED002_BACKENDS[1]:-}
)
readonly NGINXES=(seed000 seed002 backends)  # stopped in this order

usage() {
  echo "usage: $0 [--detach] [--reset] | --stop" >&2
  exit 2
}

# The pid in FILE if it is a live process whose command line contains WHAT
# (so that a pid reused since is left alone).
live_pid() {
  local file=$1 what=$2 pid
  [[ -f "$file" ]] || return 1
  pid=$(cat "$file" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$what" || return 1
  echo "$pid"
}

# Whether PID runs (a zombie waiting for its reaper does not).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ "${stat:0:1}" != Z ]]
}

# Sends SIG to PID, then waits up to SECONDS for it to exit; 1 if it did not.
signal_and_wait() {
  local pid=$1 sig=$2 seconds=$3
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for _ in $(seq $((seconds * 20))); do
    running "$pid" || return 0
    sleep 0.05
  done
  return 1
}

# Graceful first (nginx: QUIT, the control plane: TERM), then harder.
stop_pid() {
  local pid=$1 first=$2
  signal_and_wait "$pid" "$first" 10 || signal_and_wait "$pid" TERM 5 ||
    signal_and_wait "$pid" KILL 5 || true
}

stop() {
  local stopped=0 name pid
  for name in "${NGINXES[@]}"; do
    if pid=$(live_pid "$run/$name.pid" "$run/$name.conf"); then
      stop_pid "$pid" QUIT
      stopped=1
    fi
    rm -f "$run/$name.pid"
  done
  if pid=$(live_pid "$state/controlplane.pid" "$state/bin/nginx-xds-controlplane"); then
    stop_pid "$pid" TERM
    stopped=1
  fi
  rm -f "$state/controlplane.pid"
  ((stopped)) && echo "stopped"
  return 0
}

wait_for() {  # wait_for WHAT COMMAND...
  local what=$1
  shift
  for _ in $(seq 150); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$what did not come up; logs in $run and $state" >&2
  exit 1
}

detach=0
reset=0
for arg in "$@"; do
  case "$arg" in
    --stop) (($# == 1)) || usage; stop; exit 0 ;;
    --detach) detach=1 ;;
    --reset) reset=1 ;;
    *) usage ;;
  esac
done
for seed_port in "${!PORT[@]}"; do
  [[ "${PORT[$seed_port]}" =~ ^[0-9]+$ ]] ||
    { echo "no port for the seeds' $seed_port: check NGINX_XDS_SEED*_PORTS" >&2; exit 2; }
done

if [[ -n "${NGINX_XDS_PREBUILT_DIR:-}" ]]; then
  bin=$NGINX_XDS_PREBUILT_DIR
else
  tools/install_deps.sh
  bazel build //controlplane:nginx-xds-controlplane //nginx_module:ngx_http_xds_module.so \
    2>&1 | grep -vE '^(Loading|Analyzing|\[)'
  bazel shutdown >/dev/null 2>&1 || true
  bin=bazel-bin
  bin_controlplane=$bin/controlplane/nginx-xds-controlplane
  bin_module=$bin/nginx_module/ngx_http_xds_module.so
fi
bin_controlplane=${bin_controlplane:-$bin/nginx-xds-controlplane}
bin_module=${bin_module:-$bin/ngx_http_xds_module.so}
stop >/dev/null

((reset)) && rm -rf "$state/data"
mkdir -p "$state/bin" "$run/tmp"
# The cache is for control plane outages while the demo runs; at a start
# the control plane is the truth (and --reset restarts its versions).
rm -rf "$run/cache"
mkdir -p "$run/cache"
chmod 0755 "$run"
chmod 0777 "$run/cache"
cp -f "$bin_controlplane" "$state/bin/nginx-xds-controlplane"
cp -f "$bin_module" "$run/ngx_http_xds_module.so"
chmod 0644 "$run/ngx_http_xds_module.so"
substitutions=(-e "s|@RUN@|$run|g" -e "s|@XDS_PORT@|$XDS_PORT|g" -e "s|@HTTP_PORT@|$HTTP_PORT|g")
for seed_port in "${!PORT[@]}"; do
  substitutions+=(-e "s|@PORT_${seed_port}@|${PORT[$seed_port]}|g")
done
for name in "${NGINXES[@]}"; do
  sed "${substitutions[@]}" "deploy/local/$name.conf.in" >"$run/$name.conf"
done

# From here on, a failure stops what was started.
trap stop EXIT
trap 'exit 130' INT TERM

rm -f "$state/controlplane.out"
setsid "$state/bin/nginx-xds-controlplane" --data_dir="$state/data" \
  --xds_listen="127.0.0.1:$XDS_PORT" --admin_listen="127.0.0.1:$ADMIN_PORT" \
  --http_listen="127.0.0.1:$HTTP_PORT" \
  </dev/null >"$state/controlplane.out" 2>"$state/controlplane.log" &
echo $! >"$state/controlplane.pid"
for _ in $(seq 150); do
  grep -q '^http_port=' "$state/controlplane.out" && break
  if ! running "$(cat "$state/controlplane.pid")"; then
    echo "the control plane exited:" >&2
    tail -n 3 "$state/controlplane.log" >&2
    exit 1
  fi
  sleep 0.1
done
wait_for "the control plane" grep -q '^http_port=' "$state/controlplane.out"

for name in backends seed000 seed002; do
  if ! nginx -p "$run" -c "$run/$name.conf" -e "$run/$name.error.log"; then
    echo "nginx $name did not start; its log: $run/$name.error.log" >&2
    exit 1
  fi
done

# shellcheck disable=SC2317  # called through wait_for
gateway() {  # gateway FLEET PATH: GET from the control plane's HTTP gateway
  curl -sf -H "X-Xds-Fleet: $1" "http://127.0.0.1:$HTTP_PORT$2"
}
for port in "${SEED000_BACKENDS[@]}" "${SEED002_BACKENDS[@]}"; do
  wait_for "the backend on $port" curl -sf "http://127.0.0.1:$port/"
done
wait_for "nginx A (seed 000)'s first version" sh -c \
  "curl -sf 'http://127.0.0.1:${PORT[6000]}/xds/status?format=json' | grep -q '\"version\":\"'"
wait_for "nginx B (seed 002)'s first version" sh -c \
  "curl -sf 'http://127.0.0.1:${PORT[8080]}/xds/status?format=json' | grep -q '\"version\":\"'"
wait_for "fleet seed000's upstream backends" gateway seed000 "/dynamic?upstream=zone_for_backends"
wait_for "fleet seed002's upstreams host1 and host2" sh -c \
  "curl -sf -H 'X-Xds-Fleet: seed002' http://127.0.0.1:$HTTP_PORT/list | grep -qx host2"

cat <<MSG
nginx-xds demo is up
  control plane: xDS 127.0.0.1:$XDS_PORT, gRPC management 127.0.0.1:$ADMIN_PORT,
                 HTTP gateway 127.0.0.1:$HTTP_PORT; store $state/data
  nginx A (seed 000, fleet seed000): http://127.0.0.1:${PORT[6000]}/ -> upstream backends,
                 http://127.0.0.1:${PORT[6000]}/dynamic  (ngx_dynamic_upstream's API)
  nginx B (seed 002, fleet seed002): http://127.0.0.1:${PORT[8080]}/ -> the upstream named by Host,
                 http://127.0.0.1:${PORT[8081]}/  (dyups' REST API)
  each nginx: /xds/status (?format=json); the fleets: curl 127.0.0.1:$HTTP_PORT/fleet/status
  logs: $run, $state
Try seed 000's and seed 002's samples (they assume an empty store: --reset):
  curl "http://127.0.0.1:${PORT[6000]}/dynamic?upstream=zone_for_backends&verbose="
  curl "http://127.0.0.1:${PORT[6000]}/dynamic?upstream=zone_for_backends&add=&server=127.0.0.1:${PORT[6004]}"
  curl 127.0.0.1:${PORT[6000]}/
  curl -d "server 127.0.0.1:${PORT[8089]};server 127.0.0.1:${PORT[8088]};" 127.0.0.1:${PORT[8081]}/upstream/dyhost
  curl -H "host: dyhost" 127.0.0.1:${PORT[8080]}
  curl 127.0.0.1:${PORT[8081]}/detail
MSG

if ((detach)); then
  trap - EXIT INT TERM
  echo "detached; stop with: $0 --stop"
  exit 0
fi
echo "Ctrl-C stops it."
wait "$(cat "$state/controlplane.pid")" || true
echo "the control plane exited; its log: $state/controlplane.log" >&2
exit 1
