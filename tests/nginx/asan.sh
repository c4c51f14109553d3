#!/usr/bin/env bash
# Runs the nginx integration tests (//tests/nginx/...) once under
# AddressSanitizer: the module (and the control plane) built with
# --config=asan, and each nginx under test started with the ASan runtime
# preloaded (NGINX_XDS_ASAN=1, see tests/python/nginx_xds_testing/asan.py). A test fails if ASan wrote
# any report (memory error, or a leak at a graceful exit).
#
# Usage: tests/nginx/asan.sh [more bazel test flags or targets]
# --platform_suffix keeps the ASan outputs in their own bazel-out directory
# (bazel-out/k8-fastbuildasan), so they do not overwrite those of ordinary
# builds. NO_BAZEL_SHUTDOWN=1 leaves the Bazel server running.
set -euo pipefail
cd "$(dirname "$0")/../.."

# -g on our own sources only (and no stripping): reports name file:line
# without rebuilding every dependency with debug info. --symlink_prefix=/
# leaves bazel-bin and bazel-testlogs to ordinary builds (scripts run
# bazel-bin/...).
flags=(--config=asan --platform_suffix=asan --symlink_prefix=/
       '--per_file_copt=^(nginx_module|agent|common)/@-g' --strip=never)
targets=()
for arg in "$@"; do
  case "$arg" in
    -*) flags+=("$arg") ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(//tests/nginx/...)

status=0
bazel build "${flags[@]}" //nginx_module:ngx_http_xds_module.so || status=$?
if [ "$status" -eq 0 ]; then
  bazel test "${flags[@]}" --test_env=NGINX_XDS_ASAN=1 "${targets[@]}" || status=$?
fi
if [ -z "${NO_BAZEL_SHUTDOWN:-}" ]; then
  bazel shutdown
fi
exit "$status"
