#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang-14 (ASan + UBSan,
# `--config=fuzz`, in a Bazel output base of their own) and runs each for
# --seconds on a copy of its seed corpus (corpus/NAME/; the copy keeps what
# the run finds out of the tree). Prints one line per target, in the form
# Bazel's test summary uses ("//tests/fuzz:NAME PASSED in 20.1s"), and exits
# non-zero when any target crashed, leaked, timed out or broke a property;
# the input that did is kept under --artifacts.
#
#   tests/fuzz/run.sh [--seconds N] [--artifacts DIR] [NAME ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

seconds=20
artifacts="$root/tests/fuzz/artifacts"
names=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --artifacts) artifacts=$2; shift 2 ;;
    --artifacts=*) artifacts=${1#*=}; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "unknown flag $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
if ((${#names[@]} == 0)); then
  for dir in tests/fuzz/*_fuzzer.cc; do names+=("$(basename "$dir" .cc)"); done
fi

output_base="${XDG_CACHE_HOME:-$HOME/.cache}/nginx-xds/fuzz-$(printf '%s' "$root" | md5sum | cut -c1-12)"
fuzz_bazel() { bazel --output_base="$output_base" "$@"; }
trap 'fuzz_bazel shutdown >/dev/null 2>&1 || true' EXIT

targets=()
for name in "${names[@]}"; do targets+=("//tests/fuzz:$name"); done
fuzz_bazel build --config=fuzz --symlink_prefix=/ "${targets[@]}" 2>&1 | grep -vE '^(Loading|Analyzing|\[|INFO:)' || true
bin=$(fuzz_bazel info --config=fuzz bazel-bin 2>/dev/null)

mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"; fuzz_bazel shutdown >/dev/null 2>&1 || true' EXIT
failed=0
for name in "${names[@]}"; do
  binary="$bin/tests/fuzz/$name"
  if [[ ! -x "$binary" ]]; then
    echo "//tests/fuzz:$name FAILED TO BUILD"
    failed=1
    continue
  fi
  mkdir -p "$work/$name"
  log="$work/$name.log"
  start=$(date +%s%N)
  # Leaks count (ASan's LeakSanitizer); a slow input (10 s) or 2 GiB are findings too.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$name-" "$work/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    printf '//tests/fuzz:%s PASSED in %d.%01ds (%s inputs)\n' "$name" $((elapsed_ms / 1000)) \
      $((elapsed_ms % 1000 / 100)) "$runs"
  else
    echo "//tests/fuzz:$name FAILED: $(grep -m1 -E 'ERROR|property failed|SUMMARY' "$log" || tail -1 "$log")"
    grep -E 'Test unit written to|artifact' "$log" | tail -2 || true
    tail -40 "$log" >&2
    failed=1
  fi
done
exit "$failed"
