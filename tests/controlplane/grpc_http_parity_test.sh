#!/usr/bin/env bash
# The gRPC management API and the two HTTP APIs are one service: through a
# real gRPC client (buf curl) and curl, the same operation leaves the same
# upstream, and the same bad request gets the same error message (HTTP's
# status line words, then exactly gRPC's message) and changes nothing.
set -euo pipefail

controlplane=$1
descriptors=$2
buf=${BUF:?set BUF to the buf binary (tests/run.sh does)}
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/parity.XXXXXX")
cp_pid=
cleanup() {
  if [[ -n "$cp_pid" ]]; then kill "$cp_pid" 2>/dev/null; wait "$cp_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

# shellcheck source=tests/controlplane/controlplane_lib.sh
source "$(dirname "$0")/controlplane_lib.sh"
start_controlplane

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

call() {  # call METHOD JSON -> the reply or the error JSON on stdout
  grpc "$admin_port" "nginx_xds.v1.UpstreamService/$1" "$2" 2>&1 || true
}
http() {  # http FLEET METHOD PATH [BODY] -> "STATUS\nBODY"
  local args=(-s -o "$work/body" -w '%{http_code}' -H "X-Xds-Fleet: $1" -X "$2")
  [[ $# -ge 4 ]] && args+=(--data-binary "$4")
  local code
  code=$(curl "${args[@]}" "http://127.0.0.1:$http_port$3")
  printf '%s\n%s' "$code" "$(cat "$work/body")"
}
upstream_json() {  # upstream_json FLEET NAME: the upstream, or its error
  call GetUpstream "{\"fleet\":\"$1\",\"name\":\"$2\"}" | jq -S . 2>/dev/null || echo missing
}
same_upstream() {  # same_upstream WHAT NAME: fleets h (HTTP) and g (gRPC) agree
  local h g
  h=$(upstream_json h "$2")
  g=$(upstream_json g "$2" | sed 's/in fleet \\"g\\"/in fleet \\"h\\"/')
  [[ "$h" == "$g" ]] || fail "$1: HTTP and gRPC leave different upstreams: $(diff <(echo "$h") <(echo "$g") | tr '\n' ' ')"
}
http_ok() {  # http_ok WHAT FLEET METHOD PATH [BODY]
  local out; out=$(http "${@:2}")
  [[ "${out%%$'\n'*}" == 200 ]] || fail "$1: HTTP answered ${out//$'\n'/ | }"
}
grpc_ok() {  # grpc_ok WHAT METHOD JSON
  local out; out=$(call "$2" "$3")
  if jq -e 'has("code")' <<<"$out" >/dev/null 2>&1 || ! jq -e . <<<"$out" >/dev/null 2>&1; then
    fail "$1: gRPC answered $out"
  fi
}

# The same upstream in two fleets: h is changed over HTTP, g over gRPC.
for fleet in h g; do
  grpc_ok "create in $fleet" PutUpstream "{\"fleet\":\"$fleet\",\"upstream\":{\"name\":\"backends\",
    \"zone\":\"zone_for_backends\",\"servers\":[{\"address\":\"127.0.0.1:6001\"},
    {\"address\":\"127.0.0.1:6002\"}]}}"
done
same_upstream "created" backends

dyn="/dynamic?upstream=zone_for_backends"
http_ok "add" h GET "$dyn&server=127.0.0.1:6003&add="
grpc_ok "add" AddServer '{"fleet":"g","upstream":"backends","server":{"address":"127.0.0.1:6003"}}'
same_upstream "add a server" backends

http_ok "update" h GET "$dyn&server=127.0.0.1:6001&weight=3&max_fails=2&fail_timeout=7"
grpc_ok "update" UpdateServer '{"fleet":"g","upstream":"backends","address":"127.0.0.1:6001",
  "weight":3,"maxFails":2,"failTimeout":7}'
same_upstream "weight, max_fails, fail_timeout" backends

http_ok "down" h GET "$dyn&server=127.0.0.1:6002&down="
grpc_ok "down" UpdateServer '{"fleet":"g","upstream":"backends","address":"127.0.0.1:6002","down":true}'
same_upstream "down" backends

http_ok "remove" h GET "$dyn&server=127.0.0.1:6003&remove="
grpc_ok "remove" RemoveServer '{"fleet":"g","upstream":"backends","address":"127.0.0.1:6003"}'
same_upstream "remove a server" backends

http_ok "dyups create" h POST /upstream/dyn 'server 127.0.0.1:8088 weight=2;server 127.0.0.1:8089 backup;'
grpc_ok "dyups create" PutUpstream '{"fleet":"g","upstream":{"name":"dyn","servers":[
  {"address":"127.0.0.1:8088","weight":2},{"address":"127.0.0.1:8089","backup":true}]}}'
same_upstream "dyups POST = PutUpstream" dyn

http_ok "dyups delete" h DELETE /upstream/dyn
grpc_ok "dyups delete" DeleteUpstream '{"fleet":"g","name":"dyn"}'
same_upstream "dyups DELETE = DeleteUpstream" dyn

# Errors: the same request both ways, in fleet h; nothing may change.
before=$(call ListUpstreams '{"fleet":"h"}')
unchanged() {  # unchanged WHAT: fleet h still lists what $before holds
  local after
  after=$(call ListUpstreams '{"fleet":"h"}')
  [[ "$before" == "$after" ]] ||
    fail "$1 changed the state: $(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"
}
check_error() {  # check_error WHAT HTTP_STATUS GRPC_CODE GRPC_METHOD GRPC_JSON HTTP_ARGS...
  local what=$1 status=$2 code=$3 method=$4 json=$5; shift 5
  local reply message out
  reply=$(call "$method" "$json")
  [[ $(jq -r .code <<<"$reply" 2>/dev/null) == "$code" ]] || { fail "$what: gRPC gave $reply, want $code"; return; }
  message=$(jq -r .message <<<"$reply")
  out=$(http h "$@")
  [[ "${out%%$'\n'*}" == "$status" ]] || { fail "$what: HTTP gave ${out//$'\n'/ | }, want $status"; return; }
  [[ "$out" == *"$message"* ]] || fail "$what: HTTP body \"${out#*$'\n'}\" lacks gRPC's message \"$message\""
}
check_error "add an existing server" 400 already_exists \
  AddServer '{"fleet":"h","upstream":"backends","server":{"address":"127.0.0.1:6001"}}' \
  GET "$dyn&server=127.0.0.1:6001&add="
check_error "remove a server that is not there" 400 not_found \
  RemoveServer '{"fleet":"h","upstream":"backends","address":"127.0.0.1:6009"}' \
  GET "$dyn&server=127.0.0.1:6009&remove="
check_error "update a server that is not there" 400 not_found \
  UpdateServer '{"fleet":"h","upstream":"backends","address":"127.0.0.1:6009","weight":2}' \
  GET "$dyn&server=127.0.0.1:6009&weight=2"
check_error "a port out of range" 400 invalid_argument \
  AddServer '{"fleet":"h","upstream":"backends","server":{"address":"127.0.0.1:99999"}}' \
  GET "$dyn&server=127.0.0.1:99999&add="
check_error "weight above 1000000" 400 invalid_argument \
  UpdateServer '{"fleet":"h","upstream":"backends","address":"127.0.0.1:6001","weight":1000001}' \
  GET "$dyn&server=127.0.0.1:6001&weight=1000001"
check_error "delete an unknown upstream" 404 not_found \
  DeleteUpstream '{"fleet":"h","name":"nope"}' \
  DELETE /upstream/nope
unchanged "the errors above"
grpc_ok "one-server upstream" PutUpstream '{"fleet":"h","upstream":{"name":"single",
  "zone":"zone_single","servers":[{"address":"127.0.0.1:7001"}]}}'
before=$(call ListUpstreams '{"fleet":"h"}')
check_error "remove the last server" 400 failed_precondition \
  RemoveServer '{"fleet":"h","upstream":"single","address":"127.0.0.1:7001"}' \
  GET "/dynamic?upstream=zone_single&server=127.0.0.1:7001&remove="
check_error "only backup servers in a new upstream" 400 invalid_argument \
  PutUpstream '{"fleet":"h","upstream":{"name":"dyn2","servers":[{"address":"127.0.0.1:8088","backup":true}]}}' \
  POST /upstream/dyn2 'server 127.0.0.1:8088 backup;'
unchanged "the errors above"

# Fleet status: GetFleetStatus and GET /fleet/status come from one builder,
# so both list the same fleets (here written ones without nodes) at the same
# versions, and the same rollouts (none here).
fleet_status_grpc=$(grpc "$admin_port" nginx_xds.v1.FleetService/GetFleetStatus '{}' 2>&1 || true)
fleet_status_http=$(curl -s "http://127.0.0.1:$http_port/fleet/status?format=json")
grpc_fleets=$(jq -c '[.fleetVersions // {} | to_entries[] | {name: .key, version: (.value | tonumber)}] | sort_by(.name)' <<<"$fleet_status_grpc" 2>/dev/null || echo "bad: $fleet_status_grpc")
http_fleets=$(jq -c '[.fleets[] | {name, version}] | sort_by(.name)' <<<"$fleet_status_http" 2>/dev/null || echo "bad: $fleet_status_http")
[[ "$grpc_fleets" == "$http_fleets" && "$grpc_fleets" == *'"name":"g"'* && "$grpc_fleets" == *'"name":"h"'* ]] ||
  fail "fleet status: gRPC lists $grpc_fleets, HTTP $http_fleets"
grpc_rollouts=$(jq -c '.rollouts // [] | length' <<<"$fleet_status_grpc" 2>/dev/null || echo bad)
http_rollouts=$(jq -c '.rollouts | length' <<<"$fleet_status_http" 2>/dev/null || echo bad)
[[ "$grpc_rollouts" == "$http_rollouts" ]] ||
  fail "fleet status rollouts: gRPC has $grpc_rollouts, HTTP $http_rollouts"
# The same missing rollout is NOT_FOUND over gRPC and 404 over HTTP.
rollout_reply=$(grpc "$admin_port" nginx_xds.v1.RolloutService/GetRollout '{"fleet":"h"}' 2>&1 || true)
[[ $(jq -r .code <<<"$rollout_reply" 2>/dev/null) == not_found ]] || fail "GetRollout of no rollout: gRPC gave $rollout_reply"
rollout_http=$(http h GET /rollouts/h)
[[ "${rollout_http%%$'\n'*}" == 404 && "$rollout_http" == *"$(jq -r .message <<<"$rollout_reply")"* ]] ||
  fail "GET /rollouts/h: HTTP gave ${rollout_http//$'\n'/ | }, want 404 with gRPC's message"

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "PASS: every operation and error matched between gRPC and HTTP"
