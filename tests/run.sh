#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (only what is missing), builds every
# target and runs every test. Prints Bazel's summary and a closing
# "N passed, N failed" line; exits non-zero if anything failed. Leaves no
# Bazel server behind. Extra arguments go to `bazel test` (e.g. a target);
# without any, a short run of every fuzz target (tests/fuzz) follows.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tools/install_deps.sh --with-test-tools
trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

targets=("$@")
((${#targets[@]})) || targets=(//...)

bazel build //... 2>&1 | grep -vE '^(Loading|Analyzing|\[)' || { echo "build failed"; exit 1; }

log=$(mktemp)
set +e
bazel test "${targets[@]}" \
  --test_env=BUF="$root/tests/tools/node_modules/.bin/buf" \
  --test_env=NGINX_XDS_ROOT="$root" \
  2>&1 | grep -vE '^(Loading|Analyzing|\[)' | tee "$log"
status=${PIPESTATUS[0]}
# A short libFuzzer run of every fuzz target (clang-14, ASan + UBSan);
# bench/fuzz.sh runs them longer. Only with the whole suite.
if ((${#@} == 0)); then
  tests/fuzz/run.sh --seconds "${NGINX_XDS_FUZZ_SECONDS:-15}" 2>&1 | tee -a "$log"
  ((PIPESTATUS[0] == 0)) || status=1
fi
set -e
passed=$(grep -cE '^//\S+\s+(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -cE '^//\S+\s+(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log" || true)
rm -f "$log"
echo "$passed passed, $failed failed"
exit "$status"
