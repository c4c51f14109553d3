#!/usr/bin/env bash
# Validates that the metrics text format passes Prometheus' own linter
# (`promtool check metrics`, Debian's prometheus package).
set -euo pipefail
command -v promtool >/dev/null || { echo "promtool missing: run tools/install_deps.sh --with-test-tools"; exit 1; }
"$1" | promtool check metrics
echo "promtool check metrics: ok"
