#!/usr/bin/env bash
# Every acknowledged write survives a killed control plane: writes through
# the management API (buf curl) and the dyups HTTP API (curl), SIGKILL,
# restart on the same data dir, and the same upstreams (in the same order)
# and the version counter are back.
set -euo pipefail

controlplane=$1
descriptors=$2
buf=${BUF:?set BUF to the buf binary (tests/run.sh does)}
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/restart.XXXXXX")
cp_pid=
cleanup() {
  if [[ -n "$cp_pid" ]]; then kill -9 "$cp_pid" 2>/dev/null; wait "$cp_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

# shellcheck source=tests/controlplane/controlplane_lib.sh
source "$(dirname "$0")/controlplane_lib.sh"

http() {  # http METHOD PATH [BODY]: the dyups API of fleet "web"
  curl -sS --fail-with-body --max-time 10 -H "X-Xds-Fleet: web" -X "$1" \
    ${3+--data-binary "$3"} "http://127.0.0.1:$http_port$2"
}

call() {  # call METHOD JSON
  grpc "$admin_port" "nginx_xds.v1.UpstreamService/$1" "$2"
}

start_controlplane
for i in $(seq 1 20); do
  call PutUpstream "{\"fleet\":\"f$((i % 2))\",\"upstream\":{\"name\":\"u$i\",
    \"servers\":[{\"address\":\"127.0.0.1:$((7000 + i))\",\"weight\":$i}]}}" >/dev/null
done
for name in zeta alpha mid; do
  [[ "$(http POST "/upstream/$name" "server 127.0.0.1:8088; server 127.0.0.1:8089 weight=2;")" == success ]]
done
http POST /upstream/zeta "server 127.0.0.1:9000;" >/dev/null
http DELETE /upstream/alpha >/dev/null
http POST /upstream/alpha "server 127.0.0.1:9001;" >/dev/null
last=$(call DeleteUpstream '{"fleet":"f1","name":"u1"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
before=$( (call ListUpstreams '{"fleet":"f0"}'; call ListUpstreams '{"fleet":"f1"}') )
detail_before=$(http GET /detail)
# dyups' slots: the replaced zeta moved to a new last slot, the re-created
# alpha took the slot its deletion freed.
[[ "$detail_before" == $'alpha\nserver 127.0.0.1:9001\n\nmid\nserver 127.0.0.1:8088\nserver 127.0.0.1:8089\n\nzeta\nserver 127.0.0.1:9000' ]] \
  || { echo "unexpected /detail: $detail_before"; exit 1; }

kill -9 "$cp_pid"; wait "$cp_pid" 2>/dev/null || true
start_controlplane
after=$( (call ListUpstreams '{"fleet":"f0"}'; call ListUpstreams '{"fleet":"f1"}') )
[[ "$before" == "$after" ]] || { echo "state differs after restart"; diff <(echo "$before") <(echo "$after"); exit 1; }
detail_after=$(http GET /detail)
[[ "$detail_before" == "$detail_after" ]] || { echo "/detail differs after restart: $detail_after"; exit 1; }
next=$(call PutUpstream '{"fleet":"f0","upstream":{"name":"more","servers":[{"address":"127.0.0.1:9"}]}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
[[ "$next" == "$((last + 1))" ]] || { echo "version after restart is $next, want $((last + 1))"; exit 1; }
count=$(echo "$after" | grep -c '"name": "u' || true)
[[ "$count" == 19 ]] || { echo "expected 19 upstreams after restart, got $count"; exit 1; }
echo "19 upstreams, 3 dyups upstreams in their slots and version $last survived SIGKILL; next write made $next"
