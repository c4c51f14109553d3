#!/usr/bin/env bash
# The control plane's cost per write at 100, 1,000 and 10,000 upstreams of
# 10 servers (issue 11): runs bench/snapshot_build_bench once and
# bench/cp_scale_bench against a fresh control plane per size, then writes
# the side-by-side table into BENCHMARKS.md (between <!-- cp-scale:begin -->
# and <!-- cp-scale:end -->) with bench/cp_scale/report.py.
#
#   bench/cp_scale/run.sh                         # -c opt build, all sizes
#   SIZES="100 1000" STREAMS=100 bench/cp_scale/run.sh
#   NO_BAZEL_SHUTDOWN=1 bench/cp_scale/run.sh
#
# Listens on 127.0.0.1 only, on ports the control plane picks; stops every
# process it starts on exit.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SIZES=${SIZES:-"100 1000 10000"}
STREAMS=${STREAMS:-1000}
WRITES=${WRITES:-200}
OUT_MD=${OUT_MD:-$ROOT/BENCHMARKS.md}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-scale.XXXXXX")
CP_PID=""

stop_pid() {  # TERM, up to 10 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$CP_PID" ] && stop_pid "$CP_PID"
  rm -rf "$WORK"
  [ -z "${NO_BAZEL_SHUTDOWN:-}" ] && { bazel shutdown || true; }
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each stream is a socket here and one in the control plane.
HARD=$(ulimit -Hn)
WANT=65536
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$WANT" ]; then WANT=$HARD; fi
ulimit -Sn "$WANT"

# Optimized, without touching the bazel-* symlinks others may be using.
BAZEL_FLAGS=(-c opt --symlink_prefix=/ --jobs=2 --disk_cache=/work/.bazel-disk)
bazel build "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane //bench:cp_scale_bench \
  //bench:snapshot_build_bench
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)

python3 bench/machine_info.py "$WORK/machine.json"
"$BIN/bench/snapshot_build_bench" | tee "$WORK/snapshot.out"

for N in $SIZES; do
  CP_OUT="$WORK/cp-$N.out"
  "$BIN/controlplane/nginx-xds-controlplane" --xds_listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 \
    --http_listen=127.0.0.1:0 --data_dir="$WORK/data-$N" --ack_timeout=0s --log_level=warning \
    >"$CP_OUT" 2>"$WORK/cp-$N.err" &
  CP_PID=$!
  XDS_PORT="" ADMIN_PORT=""
  for _ in $(seq 300); do
    XDS_PORT=$(sed -n 's/^xds_port=//p' "$CP_OUT")
    ADMIN_PORT=$(sed -n 's/^admin_port=//p' "$CP_OUT")
    [ -n "$XDS_PORT" ] && [ -n "$ADMIN_PORT" ] && break
    kill -0 "$CP_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$XDS_PORT" ] || { cat "$WORK/cp-$N.err" >&2; exit 1; }
  "$BIN/bench/cp_scale_bench" --xds="127.0.0.1:$XDS_PORT" --admin="127.0.0.1:$ADMIN_PORT" \
    --controlplane_pid="$CP_PID" --upstreams="$N" --streams="$STREAMS" --writes="$WRITES" \
    | tee "$WORK/bench-$N.out"
  stop_pid "$CP_PID"
  CP_PID=""
done

python3 bench/cp_scale/report.py "$WORK" "$OUT_MD" "$SIZES" "$STREAMS" "$WRITES"
echo "run.sh: wrote the cp-scale section of $OUT_MD"
