#!/usr/bin/env bash
# Runs one Python integration test with Debian's /usr/bin/python3, which has
# python3-grpcio and python3-protobuf (a python3 found on PATH may not).
# Usage (from BUILD): run_py_test.sh tests/nginx/x_test.py [--flags...]
# Bazel starts tests in the runfiles root of this workspace.
set -euo pipefail
test_py=$1
shift
export PYTHONPATH="$PWD/tests/python:$PWD/tests/nginx${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -u "$test_py" "$@"
