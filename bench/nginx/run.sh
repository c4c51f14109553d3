#!/usr/bin/env bash
# Benchmarks of the nginx side, side by side in one run, and writes the results
# into BENCHMARKS.md (the section between <!-- nginx-dataplane:begin --> and
# <!-- nginx-dataplane:end -->; only its generated part is replaced):
#
#   1. data path: wrk against stock Debian nginx and nginx with our module
#   2. apply latency: write -> every worker serves the new peers; write -> ACK
#   3. churn: 10,000 add/remove/weight writes while wrk runs
#   4. shared memory per peer (zone capacity by NACK, slab statistics) and per upstream
#   5. leak check: 100,000 add/remove cycles in a zone that holds ~50 peers
#
#   bench/nginx/run.sh                        # build (-c opt), run all, write BENCHMARKS.md, bazel shutdown
#   NO_BAZEL_SHUTDOWN=1 bench/nginx/run.sh    # same, but leave the Bazel server running
#   PHASES=datapath,apply bench/nginx/run.sh  # some phases only (the others show "Not run")
#   BENCH_ARGS="--rounds=3 --leak_cycles=1000" bench/nginx/run.sh   # more flags for nginx_bench.py
#   RENDER_ONLY=1 bench/nginx/run.sh          # rewrite the section from bench/nginx/out/*.json only
#
# Everything listens on 127.0.0.1 only, every loop is bounded in count and
# time, and every process it starts (each in its own process group) is killed
# on exit, Ctrl-C included. Takes about 20 minutes on a 2-CPU machine.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export PHASES=${PHASES:-datapath,apply,churn,memory,leak}
OUT_MD=${OUT_MD:-$ROOT/BENCHMARKS.md}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nginx-bench.XXXXXX")
BENCH_PID=""
BAZEL_USED=""

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    # Its SIGTERM handler kills the process group of everything it started.
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    for i in $(seq 100); do
      kill -0 "$BENCH_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  if [ -n "$BAZEL_USED" ] && [ -z "${NO_BAZEL_SHUTDOWN:-}" ]; then
    bazel shutdown || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${RENDER_ONLY:-}" ]; then
  /usr/bin/python3 bench/nginx/render.py bench/nginx/out/results.json bench/nginx/out/machine.json "$OUT_MD"
  exit 0
fi

# Debian packages: nginx, its echo module (backends), wrk, python3-grpcio.
if ! { command -v wrk && [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] \
       && /usr/bin/python3 -c 'import grpc, google.protobuf'; } >/dev/null 2>&1; then
  tools/install_deps.sh
fi

# Build in the opt configuration without touching the bazel-* convenience
# symlinks (others may be using them for their fastbuild outputs).
BAZEL_FLAGS=(-c opt --symlink_prefix=/)
BAZEL_USED=1
bazel build "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane \
  //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)

# Two heavy benchmarks at once on 2 CPUs measure each other: wait (10 min at
# most) for another engineer's benchmark to finish.
for i in $(seq 120); do
  pgrep -x ads_fanout_bench >/dev/null || pgrep -x wrk >/dev/null || break
  [ "$i" = 1 ] && echo "run.sh: another benchmark is running; waiting for it (10 min at most)"
  sleep 5
done

# The machine, for the report.
DIRTY=$(git status --porcelain -- nginx_module controlplane agent common proto 2>/dev/null \
  | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')
/usr/bin/python3 - "$WORK/machine.json" "$DIRTY" <<'PY'
import json, os, re, subprocess, sys
def run(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode().strip()
model = re.search(r"^Model name:\s*(.*)$", run("lscpu"), re.M)
mem = int(re.search(r"^MemTotal:\s*(\d+)", open("/proc/meminfo").read(), re.M).group(1))
json.dump({
    "nproc": run("nproc"),
    "model": model.group(1) if model else "unknown",
    "mem_gib": "%.1f" % (mem / 1024 / 1024),
    "kernel": run("uname", "-r"),
    "commit": run("git", "rev-parse", "--short", "HEAD"),
    "dirty": sys.argv[2],
    "nginx": run("/usr/sbin/nginx", "-v").replace("nginx version: ", ""),
    "wrk": run("dpkg-query", "-W", "-f=${Package} ${Version}", "wrk"),
    "command": "bench/nginx/run.sh" + (" (PHASES=%s)" % os.environ["PHASES"]
                                       if os.environ.get("PHASES") != "datapath,apply,churn,memory,leak" else ""),
}, open(sys.argv[1], "w"))
PY

export PYTHONPATH="$BIN/tests/python:$ROOT/tests/python:$ROOT/tests/nginx:$ROOT/bench/nginx"
export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2086
/usr/bin/python3 -u bench/nginx/nginx_bench.py \
  --nginx_module="$BIN/nginx_module/ngx_http_xds_module.so" \
  --controlplane="$BIN/controlplane/nginx-xds-controlplane" \
  --out="$WORK/results.json" --phases="$PHASES" ${BENCH_ARGS:-} &
BENCH_PID=$!
set +e
wait "$BENCH_PID"
BENCH_RC=$?
set -e
BENCH_PID=""
[ "$BENCH_RC" -eq 0 ] || echo "run.sh: nginx_bench.py exited with $BENCH_RC (failed phases are reported)" >&2
[ -f "$WORK/results.json" ] || { echo "run.sh: no results" >&2; exit 1; }
mkdir -p "$ROOT/bench/nginx/out"
cp "$WORK/results.json" "$WORK/machine.json" "$ROOT/bench/nginx/out/"

/usr/bin/python3 bench/nginx/render.py bench/nginx/out/results.json bench/nginx/out/machine.json "$OUT_MD"
echo "run.sh: wrote $OUT_MD (raw numbers: bench/nginx/out/results.json, machine.json)"
exit "$BENCH_RC"
