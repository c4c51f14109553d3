#!/usr/bin/env bash
# Runs one Node test of tests/deploy (node:test) with the npm test tools of
# tests/tools (`yaml`, `kubernetes-models`; installed by
# tools/install_deps.sh --with-test-tools, found through NGINX_XDS_ROOT,
# which tests/run.sh passes).
# Usage (from BUILD): run_node_test.sh tests/deploy/x_test.mjs [args...]
# Bazel starts tests in the runfiles root of this workspace.
set -euo pipefail
test_file=$1
shift
root=${NGINX_XDS_ROOT:?set NGINX_XDS_ROOT to the repository root (tests/run.sh does)}
modules="$root/tests/tools/node_modules"
for package in yaml kubernetes-models; do
  if [[ ! -d "$modules/$package" ]]; then
    echo "$modules/$package is missing: run tools/install_deps.sh --with-test-tools" >&2
    exit 1
  fi
done

# Node resolves packages from a module's own directory upwards: run copies of
# the test files next to a node_modules link.
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/node_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp tests/deploy/*.mjs "$work/"
ln -s "$modules" "$work/node_modules"
export NGINX_XDS_RUNFILES=$PWD
node --test-reporter=spec "$work/$(basename "$test_file")" "$@"
