#!/usr/bin/env bash
# The local demo: sets up a fresh Debian 12 machine (only what is missing),
# builds nginx-xds and starts the control plane on its embedded store
# (deploy/local/.state/data), sample backends (127.0.0.1:6001-6004) and
# Debian's nginx with the module (127.0.0.1:6000, 2 workers) whose upstream
# `backends` follows the control plane. Stays in the foreground until Ctrl-C,
# which stops everything it started.
#   --detach   return once everything is healthy (stop it with --stop)
#   --stop     stop a detached demo
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
state="$root/deploy/local/.state"
# nginx workers run as nobody: their files live where nobody can reach them.
run="${TMPDIR:-/tmp}/nginx-xds-demo-$(id -u)"
readonly XDS_PORT=${NGINX_XDS_XDS_PORT:-18000}
readonly ADMIN_PORT=${NGINX_XDS_ADMIN_PORT:-18001}

stop() {
  local stopped=0
  if [[ -f "$run/nginx.pid" ]]; then
    nginx -p "$run" -c "$run/nginx.conf" -s quit 2>/dev/null || true; stopped=1
  fi
  if [[ -f "$run/backends.pid" ]]; then
    nginx -p "$run" -c "$run/backends.conf" -s quit 2>/dev/null || true; stopped=1
  fi
  if [[ -f "$state/controlplane.pid" ]]; then
    kill "$(cat "$state/controlplane.pid")" 2>/dev/null || true
    rm -f "$state/controlplane.pid"; stopped=1
  fi
  for _ in $(seq 50); do
    [[ -f "$run/nginx.pid" || -f "$run/backends.pid" ]] || break
    sleep 0.1
  done
  ((stopped)) && echo "stopped"
  return 0
}

wait_for() {  # wait_for WHAT COMMAND...
  local what=$1; shift
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$what did not come up; logs in $run and $state" >&2
  exit 1
}

case "${1:-}" in
  --stop) stop; exit 0 ;;
  --detach|"") ;;
  *) echo "usage: $0 [--detach|--stop]" >&2; exit 2 ;;
esac

tools/install_deps.sh
bazel build //controlplane:nginx-xds-controlplane //nginx_module:ngx_http_xds_module.so \
  //agent:xds-agent 2>&1 | grep -vE '^(Loading|Analyzing|\[)'
bazel shutdown >/dev/null 2>&1 || true
stop >/dev/null

mkdir -p "$state/bin" "$run/tmp" "$run/cache"
chmod 0755 "$run"
chmod 0777 "$run/cache"
cp -f bazel-bin/controlplane/nginx-xds-controlplane "$state/bin/"
cp -f bazel-bin/nginx_module/ngx_http_xds_module.so "$run/"
for conf in nginx backends; do
  sed -e "s|@RUN@|$run|g" -e "s|@XDS_PORT@|$XDS_PORT|g" \
    "deploy/local/$conf.conf.in" >"$run/$conf.conf"
done

"$state/bin/nginx-xds-controlplane" --data_dir="$state/data" \
  --xds_listen="127.0.0.1:$XDS_PORT" --admin_listen="127.0.0.1:$ADMIN_PORT" \
  >"$state/controlplane.out" 2>"$state/controlplane.log" &
echo $! >"$state/controlplane.pid"
wait_for "the control plane" grep -q admin_port "$state/controlplane.out"

nginx -p "$run" -c "$run/backends.conf" -e "$run/backends.error.log"
nginx -p "$run" -c "$run/nginx.conf" -e "$run/nginx.error.log"
wait_for "nginx" curl -sf http://127.0.0.1:6000/xds/status
wait_for "nginx's first version" sh -c \
  "curl -sf 'http://127.0.0.1:6000/xds/status?format=json' | grep -q '\"version\":\"'"

cat <<MSG
nginx-xds demo is up
  control plane: xDS 127.0.0.1:$XDS_PORT, gRPC management 127.0.0.1:$ADMIN_PORT
                 (reflection on), store $state/data/nginx-xds.db
  nginx:         http://127.0.0.1:6000/ -> upstream backends (6001-6003)
                 http://127.0.0.1:6000/xds/status  (?format=json)
Try:
  curl 127.0.0.1:6000/
  tests/tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\
    -d '{"upstream":"backends","server":{"address":"127.0.0.1:6004","weight":3}}' \\
    http://127.0.0.1:$ADMIN_PORT/nginx_xds.v1.UpstreamService/AddServer
  curl 127.0.0.1:6000/xds/status
MSG

if [[ "${1:-}" == "--detach" ]]; then
  echo "detached; stop with: $0 --stop"
  exit 0
fi
trap 'stop' EXIT INT TERM
echo "Ctrl-C stops it."
wait "$(cat "$state/controlplane.pid")" || true
