#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for longer than the test suite
# does: 10 minutes each by default (issue 12 asks for 10 minutes without a
# crash, leak or sanitizer report). Findings are kept in tests/fuzz/artifacts.
#
#   bench/fuzz.sh [SECONDS] [NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
tools/install_deps.sh
exec tests/fuzz/run.sh --seconds "$seconds" "$@"
