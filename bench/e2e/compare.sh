#!/usr/bin/env bash
# The end-to-end write benchmark (e2e_bench.py) on two builds side by side:
# BEFORE (binaries built from another commit, e.g. the one before the
# metrics) and this tree, run one after the other on the same machine with
# the same arguments; renders bench/e2e/render_compare.py's section of
# BENCHMARKS.md (between <!-- e2e-compare:begin --> and <!-- e2e-compare:end -->).
#
#   git archive BASE | tar -x -C /tmp/base && (cd /tmp/base && bazel build -c opt \
#     //controlplane:nginx-xds-controlplane //nginx_module:ngx_http_xds_module.so)
#   BEFORE_BIN=/tmp/base/bazel-bin BEFORE_NAME="before metrics (ada2900)" \
#     BENCH_ARGS="--writes=300 --sustained_writes=600" bench/e2e/compare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT_DIR=$ROOT/bench/e2e/out
: "${BEFORE_BIN:?set BEFORE_BIN to the bazel-bin of the other build}"
BEFORE_NAME=${BEFORE_NAME:-before}
AFTER_NAME=${AFTER_NAME:-after ($(git rev-parse --short HEAD))}
ROUNDS=${ROUNDS:-2}

[ -n "${NO_BAZEL_SHUTDOWN:-}" ] || trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT
BAZEL_FLAGS=(-c opt --symlink_prefix=/)
bazel build --jobs=2 "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane \
  //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)

mkdir -p "$OUT_DIR"
export PYTHONPATH="$BIN/tests/python:$ROOT/tests/python:$ROOT/tests/nginx:$ROOT/bench/nginx"
export PYTHONDONTWRITEBYTECODE=1
results=()
# Alternating rounds, so that a drift of the shared machine hits both sides.
for round in $(seq "$ROUNDS"); do
  for side in before after; do
    if [ "$side" = before ]; then bin=$BEFORE_BIN; else bin=$BIN; fi
    out="$OUT_DIR/compare-$side-$round.json"
    echo "compare.sh: round $round, $side" >&2
    # shellcheck disable=SC2086
    /usr/bin/python3 -u bench/e2e/e2e_bench.py \
      --nginx_module="$bin/nginx_module/ngx_http_xds_module.so" \
      --controlplane="$bin/controlplane/nginx-xds-controlplane" \
      --out="$out" ${BENCH_ARGS:-} >&2
    results+=("$side=$out")
  done
done
/usr/bin/python3 bench/e2e/render_compare.py --before_name="$BEFORE_NAME" \
  --after_name="$AFTER_NAME" --args="${BENCH_ARGS:-}" --md="$ROOT/BENCHMARKS.md" "${results[@]}"
echo "compare.sh: wrote BENCHMARKS.md (raw numbers: $OUT_DIR/compare-*.json)"
