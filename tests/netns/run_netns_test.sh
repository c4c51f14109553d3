#!/usr/bin/env bash
# Runs one multi-host test with Debian's /usr/bin/python3 (python3-grpcio,
# python3-protobuf), the management API stubs and tests/nginx/harness.py on
# its path. Usage (from BUILD): run_netns_test.sh tests/netns/x_test.py [--flags...]
# Bazel starts tests in the runfiles root of this workspace.
set -euo pipefail
test_py=$1
shift
export PYTHONPATH="$PWD/tests/python:$PWD/tests/nginx${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -u "$test_py" "$@"
