#!/usr/bin/env bash
# Runs the ADS fan-out benchmark for 1, 100 and 1000 streams against a fresh
# control plane each time, and writes the results into BENCHMARKS.md (the
# section between <!-- ads-fanout:begin --> and <!-- ads-fanout:end -->).
#
#   bench/run.sh                       # build (-c opt), run, write BENCHMARKS.md, bazel shutdown
#   NO_BAZEL_SHUTDOWN=1 bench/run.sh   # same, but leave the Bazel server running
#   SUSTAIN_SECONDS=5 bench/run.sh     # a shorter throughput phase
#
# Everything listens on 127.0.0.1 only. Every process it starts is stopped on
# exit, Ctrl-C included.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUSTAIN_SECONDS=${SUSTAIN_SECONDS:-10}
WRITERS=${WRITERS:-4}
IDLE_WRITES=${IDLE_WRITES:-10}
# "streams:writes[:ack_timeout[:silent]]" per run; the 5s ones show the
# default --ack_timeout, under which every write waits for the fleet's ACKs;
# `silent` more streams subscribe and never read (and ACK guessed nonces).
RUNS=${RUNS:-"1:1000 100:1000 1000:300 1000:60:5s 1000:60:5s:100"}
OUT_MD=${OUT_MD:-$ROOT/BENCHMARKS.md}
BEGIN_MARK='<!-- ads-fanout:begin -->'
END_MARK='<!-- ads-fanout:end -->'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ads-fanout.XXXXXX")
CP_PID=""
BENCH_PID=""
BAZEL_USED=""

stop_pid() {  # stop_pid PID: TERM, up to 10 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run.sh: process $pid ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$BENCH_PID" ] && stop_pid "$BENCH_PID"
  [ -n "$CP_PID" ] && stop_pid "$CP_PID"
  rm -rf "$WORK"
  if [ -n "$BAZEL_USED" ] && [ -z "${NO_BAZEL_SHUTDOWN:-}" ]; then
    bazel shutdown || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each stream is a socket in the bench and one in the control plane.
HARD=$(ulimit -Hn)
WANT=65536
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$WANT" ]; then WANT=$HARD; fi
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$WANT" ]; then
  ulimit -Sn "$WANT"
fi
echo "run.sh: open files limit $(ulimit -Sn)"

# Build in the opt configuration without touching the bazel-* convenience
# symlinks (others may be using them for their fastbuild outputs).
BAZEL_FLAGS=(-c opt --symlink_prefix=/)
BAZEL_USED=1
bazel build "${BAZEL_FLAGS[@]}" //controlplane:nginx-xds-controlplane //bench:ads_fanout_bench
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
CP="$BIN/controlplane/nginx-xds-controlplane"
BENCH="$BIN/bench/ads_fanout_bench"

# The busy share (%) of all CPUs over one second, from /proc/stat.
cpu_busy_pct() {
  local before after
  before=$(head -n 1 /proc/stat)
  sleep 1
  after=$(head -n 1 /proc/stat)
  awk -v a="$before" -v b="$after" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); total = 0
    for (i = 2; i <= n; i++) total += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%d", (total > 0) ? 100 * (total - idle) / total : 0
  }'
}

# Others may share this machine: wait (30 s at most) for it to be quiet, and
# report how busy it was.
wait_quiet() {
  local busy i
  for i in $(seq 30); do
    busy=$(cpu_busy_pct)
    [ "$busy" -le 20 ] && break
  done
  echo "$busy"
}

# result KEY FILE: the value of KEY=... on the RESULT line of FILE.
result() {
  sed -n 's/^RESULT //p' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

ROWS=""
EXTRA_ROWS=""
LOGS=""
OVERALL=0
for run in $RUNS; do
  IFS=: read -r N W ACK_TIMEOUT SILENT <<<"$run"
  ACK_TIMEOUT=${ACK_TIMEOUT:-0s}
  SILENT=${SILENT:-0}
  LABEL=$N
  [ "$SILENT" = 0 ] || LABEL="$N + $SILENT never reading"
  [ "$ACK_TIMEOUT" = 0s ] || LABEL="$LABEL (--ack_timeout=$ACK_TIMEOUT)"
  RUN_ID="$N-$ACK_TIMEOUT-$SILENT"
  DATA="$WORK/data-$RUN_ID"
  CP_OUT="$WORK/cp-$RUN_ID.out"
  CP_ERR="$WORK/cp-$RUN_ID.err"
  BENCH_OUT="$WORK/bench-$RUN_ID.out"

  BUSY=$(wait_quiet)
  echo "run.sh: N=$N: the CPUs were ${BUSY}% busy just before the run"
  "$CP" --xds_listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --data_dir="$DATA" \
    --ack_timeout="$ACK_TIMEOUT" >"$CP_OUT" 2>"$CP_ERR" &
  CP_PID=$!
  XDS_PORT=""
  ADMIN_PORT=""
  for _ in $(seq 300); do
    XDS_PORT=$(sed -n 's/^xds_port=//p' "$CP_OUT")
    ADMIN_PORT=$(sed -n 's/^admin_port=//p' "$CP_OUT")
    [ -n "$XDS_PORT" ] && [ -n "$ADMIN_PORT" ] && break
    kill -0 "$CP_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$XDS_PORT" ] || [ -z "$ADMIN_PORT" ]; then
    echo "run.sh: the control plane did not print its ports:" >&2
    cat "$CP_ERR" >&2
    exit 1
  fi
  echo "run.sh: N=$N W=$W ack_timeout=$ACK_TIMEOUT control plane pid $CP_PID xds_port=$XDS_PORT admin_port=$ADMIN_PORT"

  BENCH_CMD=("$BENCH" --xds="127.0.0.1:$XDS_PORT" --admin="127.0.0.1:$ADMIN_PORT"
    --streams="$N" --writes="$W" --sustain_seconds="$SUSTAIN_SECONDS" --writers="$WRITERS"
    --idle_writes="$IDLE_WRITES" --fleet=bench --controlplane_pid="$CP_PID"
    --silent_streams="$SILENT")
  set +e
  "${BENCH_CMD[@]}" >"$BENCH_OUT" 2>&1 &
  BENCH_PID=$!
  wait "$BENCH_PID"
  BENCH_RC=$?
  set -e
  BENCH_PID=""
  cat "$BENCH_OUT"
  [ "$BENCH_RC" -eq 0 ] || { echo "run.sh: the bench exited with $BENCH_RC" >&2; OVERALL=1; }

  # How long the control plane takes to stop (SIGTERM -> exit).
  STOP_START=$(date +%s.%N)
  stop_pid "$CP_PID"
  CP_PID=""
  STOP_S=$(awk -v a="$STOP_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

  if ! grep -q '^RESULT ' "$BENCH_OUT"; then
    echo "run.sh: no RESULT line from the bench for N=$N" >&2
    exit 1
  fi
  r() { result "$1" "$BENCH_OUT"; }
  CONV=$(r converged)
  if [ "$CONV" = yes ]; then
    if [ "$(r converge_ms)" = 0.00 ]; then
      CONV="yes, already by the last write's answer"
    else
      CONV="yes, $(r converge_ms) ms after the last write's answer"
    fi
  fi
  ERRS="$(r write_errors) errors, $(r write_timeouts) timeouts"
  ROWS+="| $LABEL | $(r writes) | $(r p50_ms) / $(r p99_ms) / $(r max_ms) | $(r writes_per_s) | $CONV | $(r rss_idle_mib) / $(r rss_streams_mib) / $(r rss_after_mib) |"$'\n'
  EXTRA_ROWS+="| $LABEL | $(r idle_p50_ms) / $(r idle_max_ms) | $(r call_p50_ms) / $(r call_p99_ms) | $(r sustained_call_p50_ms) / $(r sustained_call_p99_ms) | $(r sustained_writes) | $(r sustain_responses_per_stream) | $(r open_ms) | $(r rss_closed_mib) | $(r cp_threads) | $BUSY% | $ERRS; $(r stream_failures) stream failures | $STOP_S s, $(wc -l <"$CP_ERR") stderr lines |"$'\n'
  LOGS+="# control plane: --ack_timeout=$ACK_TIMEOUT"$'\n'"\$ ${BENCH_CMD[*]##*/}"$'\n'"$(grep -v '^RESULT ' "$BENCH_OUT")"$'\n'
  if [ -s "$CP_ERR" ]; then
    LOGS+="control plane stderr (last 5 lines):"$'\n'"$(tail -n 5 "$CP_ERR")"$'\n'
  fi
  LOGS+=$'\n'
done

MODEL=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
MEM_G=$(free -g | awk '/^Mem:/ {print $2}')
SECTION="$WORK/section.md"
{
  echo "$BEGIN_MARK"
  echo "## ADS fan-out (bench/ads_fanout_bench.cc)"
  echo
  echo "Generated by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
  echo
  echo "- Machine: $(nproc) CPUs ($MODEL), ${MEM_G} GiB RAM, Linux $(uname -r)."
  echo "  The control plane and the bench share these CPUs."
  echo "- Control plane: \`nginx-xds-controlplane --xds_listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --data_dir=<fresh temp dir> --ack_timeout=0s\`"
  echo "  (built with \`bazel build -c opt\`; SQLite store with fsync on every write). Rows marked"
  echo "  \`--ack_timeout=5s\` use the default instead, under which a write is answered once every connected node ACKed it."
  echo "- Bench: \`ads_fanout_bench --xds=127.0.0.1:<xds_port> --admin=127.0.0.1:<admin_port> --streams=N --writes=W --sustain_seconds=$SUSTAIN_SECONDS --writers=$WRITERS --idle_writes=$IDLE_WRITES --fleet=bench --controlplane_pid=<pid>\`."
  echo "  N ADS streams, each on its own channel (own TCP connection) and node id, subscribe"
  echo "  wildcard to Cluster and ClusterLoadAssignment and ACK every response at once."
  echo "  Latency: W sequential \`PutUpstream\` calls (each flips a server's port and a weight),"
  echo "  timed from just before the call to the moment the last stream has sent its ACK of that"
  echo "  version on both types. Throughput: $WRITERS writers back to back for ${SUSTAIN_SECONDS} s, then"
  echo "  the time until every stream has ACKed the final version (from the last write's answer)."
  echo "  5 uncounted warm-up writes precede the W. Idle writes: $IDLE_WRITES more sequential writes, each after a 1 s pause."
  echo "  RSS is VmRSS of the control plane: before any stream, with the N streams open, after the writes."
  echo
  echo "| N streams | W | write -> last ACK p50 / p99 / max (ms) | writes/s sustained | converged | CP RSS idle / with streams / after writes (MiB) |"
  echo "|---:|---:|---|---:|---|---|"
  printf '%s' "$ROWS"
  echo
  echo "Secondary numbers:"
  echo
  echo "| N streams | idle writes (1 s apart, $IDLE_WRITES of them): write -> last ACK p50 / max (ms) | PutUpstream alone p50 / p99 (ms), sequential | PutUpstream p50 / p99 (ms), $WRITERS writers | writes in ${SUSTAIN_SECONDS} s | responses per stream during them | open all streams + first ACKs (ms) | CP RSS after streams closed (MiB) | CP threads with streams | CPUs busy before the run (others' load) | errors | CP stop (SIGTERM -> exit) |"
  echo "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|---|"
  printf '%s' "$EXTRA_ROWS"
  echo
  echo "<details><summary>Bench output</summary>"
  echo
  echo '```'
  printf '%s' "$LOGS"
  echo '```'
  echo
  echo "</details>"
  echo "$END_MARK"
} >"$SECTION"

# Replace the marked section, or append it (creating the file if needed).
if [ -f "$OUT_MD" ] && grep -qF "$BEGIN_MARK" "$OUT_MD" && grep -qF "$END_MARK" "$OUT_MD"; then
  awk -v begin="$BEGIN_MARK" -v end="$END_MARK" -v section="$SECTION" '
    $0 == begin { while ((getline line < section) > 0) print line; skipping = 1; next }
    $0 == end { skipping = 0; next }
    !skipping { print }
  ' "$OUT_MD" >"$WORK/BENCHMARKS.md.new"
  cat "$WORK/BENCHMARKS.md.new" >"$OUT_MD"
else
  if [ ! -f "$OUT_MD" ]; then
    printf '# Benchmarks\n\nResults of the benchmarks in `bench/`; `bench/run.sh` regenerates the sections between markers.\n\n' >"$OUT_MD"
  else
    echo >>"$OUT_MD"
  fi
  cat "$SECTION" >>"$OUT_MD"
fi
echo "run.sh: wrote $OUT_MD"
exit "$OVERALL"
