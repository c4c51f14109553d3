#!/usr/bin/env bash
# The local demo: sets up a fresh Debian 12 machine (only what is missing),
# builds nginx-xds and starts the control plane on its embedded store
# (deploy/local/.state/). Stays in the foreground until Ctrl-C, which stops
# everything it started.
#   --detach   return once everything is healthy (stop it with --stop)
#   --stop     stop a detached demo
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
state="$root/deploy/local/.state"
readonly XDS_PORT=${NGINX_XDS_XDS_PORT:-18000}
readonly ADMIN_PORT=${NGINX_XDS_ADMIN_PORT:-18001}

stop() {
  if [[ -f "$state/controlplane.pid" ]]; then
    kill "$(cat "$state/controlplane.pid")" 2>/dev/null || true
    rm -f "$state/controlplane.pid"
    echo "stopped"
  fi
}

case "${1:-}" in
  --stop) stop; exit 0 ;;
  --detach|"") ;;
  *) echo "usage: $0 [--detach|--stop]" >&2; exit 2 ;;
esac

tools/install_deps.sh
bazel build //controlplane:nginx-xds-controlplane //agent:all 2>&1 | grep -vE '^(Loading|Analyzing|\[)'
bazel shutdown >/dev/null 2>&1 || true
mkdir -p "$state/bin"
cp -f bazel-bin/controlplane/nginx-xds-controlplane "$state/bin/"
stop >/dev/null

"$state/bin/nginx-xds-controlplane" --data_dir="$state/data" \
  --xds_listen="127.0.0.1:$XDS_PORT" --admin_listen="127.0.0.1:$ADMIN_PORT" \
  >"$state/controlplane.out" 2>"$state/controlplane.log" &
echo $! >"$state/controlplane.pid"
for _ in $(seq 50); do
  grep -q admin_port "$state/controlplane.out" 2>/dev/null && break
  kill -0 "$(cat "$state/controlplane.pid")" 2>/dev/null || { cat "$state/controlplane.log"; exit 1; }
  sleep 0.1
done

cat <<MSG
nginx-xds control plane is up (store: $state/data/nginx-xds.db)
  xDS (ADS) for nginx agents:  127.0.0.1:$XDS_PORT
  gRPC management API:         127.0.0.1:$ADMIN_PORT (reflection on)
Watch what an agent receives:
  bazel-bin/agent/xds-agent --server=127.0.0.1:$XDS_PORT --node_id=demo --fleet=default
Change an upstream (buf curl, from tests/tools):
  tests/tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\
    -d '{"upstream":{"name":"backends","servers":[{"address":"127.0.0.1:6001"}]}}' \\
    http://127.0.0.1:$ADMIN_PORT/nginx_xds.v1.UpstreamService/PutUpstream
MSG

if [[ "${1:-}" == "--detach" ]]; then
  echo "detached; stop with: $0 --stop"
  exit 0
fi
trap 'stop' EXIT INT TERM
echo "Ctrl-C stops it."
wait "$(cat "$state/controlplane.pid")" || true
