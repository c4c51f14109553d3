#!/usr/bin/env bash
# Runs one multi-host test file (tests/netns) under pytest with Debian's
# /usr/bin/python3, which has python3-pytest, python3-grpcio and
# python3-protobuf (a python3 found on PATH may not). The fixtures come from
# tests/python/nginx_xds_testing (loaded by the conftest.py beside the test).
# Usage (from BUILD): run_netns_test.sh tests/netns/x_test.py [--flags...]
# Bazel starts tests in the runfiles root of this workspace. Extra pytest
# flags may follow (e.g. `-k name` through --test_arg).
set -euo pipefail
test_py=$1
shift
export PYTHONPATH="$PWD/tests/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
junit=()
[ -n "${XML_OUTPUT_FILE:-}" ] && junit=("--junitxml=$XML_OUTPUT_FILE")
# Test classes keep their names (FooTest); -p no:cacheprovider: the runfiles
# tree is not ours to write into.
exec /usr/bin/python3 -u -m pytest -v -p no:cacheprovider -o 'python_classes=*Test' \
  -o python_files='*_test.py' --rootdir="$(dirname "$test_py")" "${junit[@]}" "$test_py" "$@"
