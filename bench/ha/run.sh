#!/usr/bin/env bash
# Replicas on etcd beside SQLite (bench/ha/ha_bench.py says what is measured).
# Builds with -c opt, runs, writes bench/ha/out/results.json and the section
# of BENCHMARKS.md between <!-- ha:begin --> and <!-- ha:end -->.
#
#   bench/ha/run.sh                               # ~3 minutes on 2 CPUs
#   BENCH_ARGS="--writes=50" bench/ha/run.sh      # shorter
#   RENDER_ONLY=1 bench/ha/run.sh                 # re-render from out/ only
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT_MD=${OUT_MD:-$ROOT/BENCHMARKS.md}
OUT_DIR=$ROOT/bench/ha/out

render() {
  /usr/bin/python3 bench/ha/render.py "$OUT_DIR/results.json" "$OUT_DIR/machine.json" "$OUT_MD"
  echo "run.sh: wrote $OUT_MD (raw numbers: $OUT_DIR/results.json)"
}
if [ -n "${RENDER_ONLY:-}" ]; then render; exit 0; fi

BAZEL_FLAGS=(-c opt --symlink_prefix=/ --jobs=2 --disk_cache=/work/.bazel-disk)
bazel build "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane \
  //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)

mkdir -p "$OUT_DIR"
/usr/bin/python3 bench/machine_info.py "$OUT_DIR/machine.json"

export PYTHONPATH="$BIN/tests/python:$ROOT/tests/python:$ROOT/tests/nginx:$ROOT/bench/nginx:$ROOT/bench/e2e:$ROOT/tests/ha"
export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2086
/usr/bin/python3 -u bench/ha/ha_bench.py \
  --nginx_module="$BIN/nginx_module/ngx_http_xds_module.so" \
  --controlplane="$BIN/controlplane/nginx-xds-controlplane" \
  --out="$OUT_DIR/results.json" ${BENCH_ARGS:-}
render
