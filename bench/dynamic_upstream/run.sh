#!/usr/bin/env bash
# ngx_dynamic_upstream side by side with nginx-xds: one host, `/dynamic`
# down/up -> both workers serving (bench.py), results into BENCHMARKS.md
# between <!-- dynamic-upstream:begin --> and <!-- dynamic-upstream:end -->.
#
#   DYNAMIC_UPSTREAM_GIT=/work/.mirror/cubicdaiya+ngx_dynamic_upstream/repo \
#     bench/dynamic_upstream/run.sh [--writes=300]
#
# DYNAMIC_UPSTREAM_GIT: a local git copy of
# github.com/cubicdaiya/ngx_dynamic_upstream (nothing is fetched here); it is
# built under a temporary directory, never in the repo.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
: "${DYNAMIC_UPSTREAM_GIT:?set DYNAMIC_UPSTREAM_GIT to a git copy of ngx_dynamic_upstream}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dynamic-upstream.XXXXXX")
trap 'rm -rf "$WORK"; [ -n "${NO_BAZEL_SHUTDOWN:-}" ] || bazel shutdown >/dev/null 2>&1 || true' EXIT

MODULE=$(bench/dynamic_upstream/build_module.sh "$DYNAMIC_UPSTREAM_GIT" "$WORK/build")
BAZEL_FLAGS=(-c opt --symlink_prefix=/ --jobs=2 --disk_cache=/work/.bazel-disk)
bazel build "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane \
  //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
export PYTHONPATH="$BIN/tests/python:$ROOT/tests/python:$ROOT/tests/nginx:$ROOT/bench/nginx:$ROOT/bench/e2e"
export PYTHONDONTWRITEBYTECODE=1
python3 bench/machine_info.py "$WORK/machine.json"
/usr/bin/python3 -u bench/dynamic_upstream/bench.py --dynamic_upstream_module="$MODULE" \
  --nginx_module="$BIN/nginx_module/ngx_http_xds_module.so" \
  --controlplane="$BIN/controlplane/nginx-xds-controlplane" --out="$WORK/out.json" "$@"
/usr/bin/python3 bench/dynamic_upstream/render.py "$WORK/out.json" "$WORK/machine.json" \
  "$ROOT/BENCHMARKS.md"
echo "run.sh: wrote the dynamic-upstream section of BENCHMARKS.md"
