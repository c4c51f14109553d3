#!/usr/bin/env bash
# End-to-end benchmark: HTTP write -> every worker of three nginx serving the
# new peers (bench/e2e/e2e_bench.py says what is measured). Builds with -c opt,
# runs, writes bench/e2e/out/results.json and the section of BENCHMARKS.md
# between <!-- e2e:begin --> and <!-- e2e:end -->, then `bazel shutdown`.
#
#   bench/e2e/run.sh                                  # ~5 minutes on 2 CPUs
#   BENCH_ARGS="--writes=200" bench/e2e/run.sh        # shorter
#   NO_BAZEL_SHUTDOWN=1 bench/e2e/run.sh              # leave the Bazel server up
#   RENDER_ONLY=1 bench/e2e/run.sh                    # re-render from out/ only
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT_MD=${OUT_MD:-$ROOT/BENCHMARKS.md}
OUT_DIR=$ROOT/bench/e2e/out

render() {
  /usr/bin/python3 bench/e2e/render.py "$OUT_DIR/results.json" "$OUT_DIR/machine.json" "$OUT_MD"
  echo "run.sh: wrote $OUT_MD (raw numbers: $OUT_DIR/results.json)"
}
if [ -n "${RENDER_ONLY:-}" ]; then render; exit 0; fi

if ! { [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] \
       && /usr/bin/python3 -c 'import grpc, google.protobuf'; } >/dev/null 2>&1; then
  tools/install_deps.sh
fi
[ -n "${NO_BAZEL_SHUTDOWN:-}" ] || trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

# -c opt without touching the bazel-* symlinks others use for fastbuild.
BAZEL_FLAGS=(-c opt --symlink_prefix=/)
bazel build "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane \
  //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)

mkdir -p "$OUT_DIR"
/usr/bin/python3 bench/machine_info.py "$OUT_DIR/machine.json"

export PYTHONPATH="$BIN/tests/python:$ROOT/tests/python:$ROOT/tests/nginx:$ROOT/bench/nginx"
export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2086
/usr/bin/python3 -u bench/e2e/e2e_bench.py \
  --nginx_module="$BIN/nginx_module/ngx_http_xds_module.so" \
  --controlplane="$BIN/controlplane/nginx-xds-controlplane" \
  --out="$OUT_DIR/results.json" ${BENCH_ARGS:-}
render
