#!/usr/bin/env bash
# Scale benchmark: one change at 100 -> 10,000 upstreams of 10 servers, churn,
# and ngx_dynamic_upstream side by side (bench/scale/scale_bench.py says what
# is measured). Builds with -c opt, runs, writes bench/scale/out/results.json
# and the section of BENCHMARKS.md between <!-- scale:begin --> and
# <!-- scale:end -->, then `bazel shutdown`.
#
#   bench/scale/run.sh                                    # ~15 minutes on 2 CPUs
#   NDU_GIT=/path/to/ngx_dynamic_upstream.git bench/scale/run.sh   # + its rows
#   BENCH_ARGS="--sizes=100,1000 --writes=50 --churn_rate=0" bench/scale/run.sh
#   RENDER_ONLY=1 bench/scale/run.sh                      # re-render from out/ only
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT_MD=${OUT_MD:-$ROOT/BENCHMARKS.md}
OUT_DIR=$ROOT/bench/scale/out

render() {
  /usr/bin/python3 bench/scale/render.py "$OUT_DIR/results.json" "$OUT_DIR/machine.json" "$OUT_MD"
  echo "run.sh: wrote $OUT_MD (raw numbers: $OUT_DIR/results.json)"
}
if [ -n "${RENDER_ONLY:-}" ]; then render; exit 0; fi

if ! { command -v wrk && [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] \
       && /usr/bin/python3 -c 'import grpc, google.protobuf'; } >/dev/null 2>&1; then
  tools/install_deps.sh
fi
[ -n "${NO_BAZEL_SHUTDOWN:-}" ] || trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

NDU_ARGS=()
if [ -n "${NDU_GIT:-}" ]; then
  NDU_ARGS=(--dynamic_upstream_module="$(bench/scale/build_dynamic_upstream.sh)")
fi

# -c opt without touching the bazel-* symlinks others use for fastbuild.
BAZEL_FLAGS=(-c opt --symlink_prefix=/)
bazel build --jobs=2 "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane \
  //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)

mkdir -p "$OUT_DIR"
/usr/bin/python3 bench/machine_info.py "$OUT_DIR/machine.json"

export PYTHONPATH="$BIN/tests/python:$ROOT/tests/python:$ROOT/tests/nginx:$ROOT/bench/nginx"
export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2086
/usr/bin/python3 -u bench/scale/scale_bench.py \
  --nginx_module="$BIN/nginx_module/ngx_http_xds_module.so" \
  --controlplane="$BIN/controlplane/nginx-xds-controlplane" \
  --out="$OUT_DIR/results.json" "${NDU_ARGS[@]}" ${BENCH_ARGS:-}
render
