#!/usr/bin/env bash
# Installs what nginx-xds needs to build, run and test, from Debian's packages
# and (test tools only) the npm registry. Installs only what is missing, so a
# second run takes a second. Used by deploy/local/run.sh and tests/run.sh.
set -euo pipefail

readonly PACKAGES=(
  bazel-bootstrap bazel-rules-java pkg-config g++
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev libcpp-httplib-dev libboost-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev prometheus chromium etcd-server etcd-client
  nginx nginx-dev libnginx-mod-http-echo
  curl wrk iproute2 openssl python3 python3-grpcio python3-protobuf python3-pytest
  gettext-base jq
)

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
# Node.js may come from elsewhere (e.g. a nodejs build that bundles npm,
# which Debian's npm package conflicts with): only a missing command counts.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # Debian's nginx package would start a system nginx on port 80: keep
  # services from starting during this install only.
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  ((policy_added)) && "${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d
fi

if [[ "${1:-}" == "--with-test-tools" ]]; then
  tools_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/tools"
  # Again whenever package.json or its lock changed since the last install
  # (npm writes node_modules/.package-lock.json), e.g. a tool was added.
  installed="$tools_dir/node_modules/.package-lock.json"
  if [[ ! -x "$tools_dir/node_modules/.bin/buf" || "$tools_dir/package.json" -nt "$installed" \
        || "$tools_dir/package-lock.json" -nt "$installed" ]]; then
    (cd "$tools_dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi
