#!/usr/bin/env bash
# Measures how many requests a reloaded nginx serves from nginx.conf's peers
# instead of the newest version, and writes the result into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
tools/install_deps.sh
bazel build //controlplane:nginx-xds-controlplane //nginx_module:ngx_http_xds_module.so \
  //tests/python:nginx_xds_py_proto 2>&1 | grep -vE '^(Loading|Analyzing|\[)' || true
bin=$(bazel info bazel-bin 2>/dev/null)
[[ -n "${NO_BAZEL_SHUTDOWN:-}" ]] || bazel shutdown >/dev/null 2>&1 || true

section=$(mktemp)
trap 'rm -f "$section"' EXIT
PYTHONPATH="$bin/tests/python:$root/tests/python:$root/tests/nginx" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -u \
  bench/reload/reload_staleness.py \
  --nginx_module="$bin/nginx_module/ngx_http_xds_module.so" \
  --controlplane="$bin/controlplane/nginx-xds-controlplane" | tee "$section"

python3 - "$section" <<'PY'
import re, sys
section = open(sys.argv[1]).read().strip()
body = re.search(r"<!-- reload-staleness:begin -->.*<!-- reload-staleness:end -->", section, re.S).group(0)
try:
    text = open("BENCHMARKS.md").read()
except FileNotFoundError:
    text = "# Benchmarks\n"
pattern = re.compile(r"<!-- reload-staleness:begin -->.*<!-- reload-staleness:end -->", re.S)
text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body + "\n"
open("BENCHMARKS.md", "w").write(text)
PY
