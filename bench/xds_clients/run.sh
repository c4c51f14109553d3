#!/usr/bin/env bash
# 100 proxyless gRPC channels and one nginx following the same kind of write,
# side by side (bench/xds_clients/xds_clients_bench.py says what is measured).
# Builds with -c opt, runs, writes bench/xds_clients/out/results.json and the
# section of BENCHMARKS.md between <!-- xds-clients:begin --> and
# <!-- xds-clients:end -->, then `bazel shutdown`.
#
#   bench/xds_clients/run.sh                               # ~2 minutes on 2 CPUs
#   BENCH_ARGS="--writes=50" bench/xds_clients/run.sh      # shorter
#   NO_BAZEL_SHUTDOWN=1 bench/xds_clients/run.sh           # leave the Bazel server up
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT_MD=${OUT_MD:-$ROOT/BENCHMARKS.md}
OUT_DIR=$ROOT/bench/xds_clients/out

if ! { [ -x /usr/sbin/nginx ] && [ -d tests/tools/node_modules/@grpc/grpc-js-xds ] \
       && /usr/bin/python3 -c 'import grpc, google.protobuf'; } >/dev/null 2>&1; then
  tools/install_deps.sh --with-test-tools
fi
[ -n "${NO_BAZEL_SHUTDOWN:-}" ] || trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

BAZEL_FLAGS=(-c opt --symlink_prefix=/)
bazel build "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane \
  //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto //bench:grpc_channels_bench
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)

mkdir -p "$OUT_DIR"
/usr/bin/python3 bench/machine_info.py "$OUT_DIR/machine.json"

export PYTHONPATH="$BIN/tests/python:$ROOT/tests/python:$ROOT/tests/nginx:$ROOT/bench/nginx"
export PYTHONDONTWRITEBYTECODE=1
export NGINX_XDS_ROOT=$ROOT
# shellcheck disable=SC2086
/usr/bin/python3 -u bench/xds_clients/xds_clients_bench.py \
  --nginx_module="$BIN/nginx_module/ngx_http_xds_module.so" \
  --controlplane="$BIN/controlplane/nginx-xds-controlplane" \
  --channels_bench="$BIN/bench/grpc_channels_bench" \
  --out="$OUT_DIR/results.json" ${BENCH_ARGS:-}
/usr/bin/python3 bench/xds_clients/render.py "$OUT_DIR/results.json" "$OUT_DIR/machine.json" "$OUT_MD"
echo "run.sh: wrote $OUT_MD (raw numbers: $OUT_DIR/results.json)"
