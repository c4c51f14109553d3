#!/usr/bin/env bash
# The operator CLI (cli/) end to end: a real control plane on free loopback
# ports, a real agent (xds-agent) as the fleet's node, and every command of
# `nginx-xds` with its output, its JSON and its exit code.
#
# Args: the CLI, the control plane, the agent.
set -euo pipefail
cli=$(realpath "$1")
controlplane=$(realpath "$2")
agent=$(realpath "$3")
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# start_controlplane [FLAGS...]: sets admin_port and xds_port.
start_controlplane() {
  # Not truncated by the redirection below before the loop reads it: a
  # restart would read the old process's ports.
  rm -f "$work/ports"
  "$controlplane" --xds_listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --http_listen= \
    --data_dir="$work/data" --ack_timeout=5s "$@" >"$work/ports" 2>>"$work/cp.log" &
  pids+=($!)
  for _ in $(seq 200); do grep -q admin_port "$work/ports" && break; sleep 0.05; done
  admin_port=$(sed -n 's/^admin_port=//p' "$work/ports")
  xds_port=$(sed -n 's/^xds_port=//p' "$work/ports")
  [[ -n "$admin_port" ]] || { echo "control plane did not start"; cat "$work/cp.log"; exit 1; }
}

# run ARGS...: the CLI against the control plane; sets out, err and rc.
run() {
  set +e
  out=$("$cli" --server="127.0.0.1:$admin_port" "$@" 2>"$work/err")
  rc=$?
  set -e
  err=$(cat "$work/err")
}

# expect RC TEXT WHAT: the last run exited RC and printed TEXT (stdout or stderr).
expect() {
  [[ "$rc" == "$1" ]] || fail "$3: exit $rc, want $1 (out: $out; err: $err)"
  [[ "$out$err" == *"$2"* ]] || fail "$3: output lacks \"$2\" (out: $out; err: $err)"
}

start_controlplane
"$agent" --server="127.0.0.1:$xds_port" --node_id=web-1 --fleet=default >"$work/agent.out" \
  2>"$work/agent.log" &
pids+=($!)
for _ in $(seq 200); do
  run fleet status -o json
  [[ "$(jq -r '.nodes[0].connected' <<<"$out" 2>/dev/null)" == true ]] && break
  sleep 0.05
done

# Validates an empty fleet lists nothing, in both outputs.
run upstreams list
expect 0 "NAME  METHOD  ZONE  SERVERS" "empty list"
run upstreams list -o json
[[ "$(jq -c .upstreams <<<"$out")" == "[]" ]] || fail "empty list JSON: $out"

# Validates a put in nginx syntax is stored and ACKed by the connected node.
run upstreams put app 'server 10.0.0.1:80 weight=2; server 10.0.0.2:80 backup; least_conn;'
expect 0 "acked by 1 of 1 connected nodes" "put"
run upstreams get app -o json
[[ "$(jq -r '.method, .servers[0].weight, .servers[1].backup' <<<"$out" | tr '\n' ' ')" == \
  "LEAST_CONN 2 true " ]] || fail "get JSON: $out"
run upstreams get app
expect 0 "10.0.0.2:80  1       1          10s           -          backup" "get table"

# Validates server add, update (back to a default value) and remove.
run servers add app 10.0.0.3:80 --weight=5 --down
expect 0 "acked by 1 of 1" "servers add"
run servers update app 10.0.0.3:80 --up --weight=1 -o json
[[ "$(jq -r '.upstream.servers[2] | "\(.weight) \(.down)"' <<<"$out")" == "1 false" ]] ||
  fail "servers update JSON: $out"
run servers remove app 10.0.0.3:80
expect 0 "acked by 1 of 1" "servers remove"

# Validates the control plane's refusals: exit 1 with its code and message.
run servers remove app 10.0.0.9:80
expect 1 'NOT_FOUND: server "10.0.0.9:80" not found in upstream "app"' "remove unknown"
run upstreams get nope
expect 1 "NOT_FOUND" "get unknown"

# Validates command line mistakes: exit 2, nothing sent.
run upstreams put app 'server 10.0.0.1:80 bogus;'
expect 2 'invalid parameter "bogus"' "bad body"
run upstreams get app -o json
[[ "$(jq '.servers | length' <<<"$out")" == 2 ]] || fail "a bad body changed the upstream: $out"
run fleet status --weight=3
expect 2 '--weight does not apply to "fleet status"' "foreign flag"
run upstreams frobnicate
expect 2 "unknown command" "unknown command"
run servers update app 10.0.0.1:80
expect 2 "nothing to update" "empty update"
run upstreams list -o yaml
expect 2 '--output "yaml" is not table or json' "bad output"

# Validates --file (JSON in protobuf's mapping) and stdin.
echo '{"servers":[{"address":"10.0.1.1:8080"}]}' >"$work/api.json"
run upstreams put api --file="$work/api.json"
expect 0 "version" "put --file JSON"
set +e
out=$(echo 'server 10.0.1.2:8080;' | "$cli" --server="127.0.0.1:$admin_port" upstreams put api --file=- 2>&1)
rc=$?
set -e
expect 0 "acked by 1 of 1" "put --file=-"

# Validates fleet status: the node, its ACKed version, the fleet's version.
run fleet status -o json
version=$(jq -r '.fleet_versions.default' <<<"$out")
[[ "$(jq -r '.nodes[0] | "\(.id) \(.connected) \(.acked_version)"' <<<"$out")" == \
  "web-1 true $version" ]] || fail "fleet status JSON: $out"
run fleet status
expect 0 "web-1  default  yes        $version" "fleet status table"

# Validates fleet watch: the current status, then the one a write makes.
"$cli" --server="127.0.0.1:$admin_port" fleet watch --count=2 -o json >"$work/watch" &
watch_pid=$!
pids+=("$watch_pid")
for _ in $(seq 100); do [[ -s "$work/watch" ]] && break; sleep 0.05; done
run servers add app 10.0.0.4:80 -o json
next=$(jq -r .version <<<"$out")
for _ in $(seq 100); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.05; done
wait "$watch_pid" || fail "fleet watch exited non-zero"
[[ "$(wc -l <"$work/watch")" == 2 ]] || fail "fleet watch --count=2 printed: $(cat "$work/watch")"
[[ "$(tail -1 "$work/watch" | jq -r .fleet_versions.default)" == "$next" ]] ||
  fail "fleet watch did not show version $next: $(cat "$work/watch")"

# Validates a rollout's life: start with a canary, status, abort; a second
# abort is refused.
run rollout start --nodes=web-1
expect 0 "CANARY" "rollout start"
run rollout status -o json
[[ "$(jq -r '.state, .canary_node_ids[0]' <<<"$out" | tr '\n' ' ')" == \
  "ROLLOUT_STATE_CANARY web-1 " ]] || fail "rollout status JSON: $out"
run rollout abort
expect 0 "ABORTED" "rollout abort"
run rollout abort
expect 1 "FAILED_PRECONDITION" "second abort"

# Validates promote: a rollout whose canary took a write sends it to the fleet.
run rollout start --nodes=web-1
expect 0 "CANARY" "second rollout start"
run servers add app 10.0.0.9:80
expect 0 "acked by 1 of 1 connected canary nodes" "write during the rollout"
run rollout promote
expect 0 "PROMOTED" "rollout promote"
run rollout status -o json
[[ "$(jq -r .state <<<"$out")" == ROLLOUT_STATE_PROMOTED ]] || fail "rollout status after promote: $out"

# Validates exit 4: a write the node rejects is stored, and the rejection shown.
run fleet status -o json
rejected=$(($(jq -r .fleet_versions.default <<<"$out") + 1))
kill "${pids[1]}"
for _ in $(seq 200); do
  run fleet status -o json
  [[ "$(jq -r '.nodes[0].connected' <<<"$out")" == false ]] && break
  sleep 0.05
done
"$agent" --server="127.0.0.1:$xds_port" --node_id=web-1 --fleet=default \
  --reject_version="$rejected" >"$work/agent2.out" 2>"$work/agent2.log" &
pids+=($!)
for _ in $(seq 200); do
  run fleet status -o json
  [[ "$(jq -r '.nodes[0].connected' <<<"$out")" == true ]] && break
  sleep 0.05
done
run servers add app 10.0.0.5:80
expect 4 "node web-1 rejected version $rejected" "rejected write"

# Validates the admin token: refused without it, taken from a file or the environment.
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
openssl rand -hex 32 >"$work/token"
start_controlplane --admin_token_file="$work/token"
run upstreams list
expect 1 "UNAUTHENTICATED" "no token"
run --token_file="$work/token" upstreams list
expect 0 "app" "token file"
set +e
out=$(NGINX_XDS_TOKEN=$(cat "$work/token") "$cli" --server="127.0.0.1:$admin_port" upstreams list 2>&1)
rc=$?
set -e
expect 0 "app" "NGINX_XDS_TOKEN"

# Validates exit 3 when nothing answers.
set +e
out=$("$cli" --server=127.0.0.1:1 --timeout=2s upstreams list 2>&1)
rc=$?
set -e
err=""
expect 3 "did not answer" "unreachable"

if ((failures)); then
  echo "$failures failures"
  exit 1
fi
echo "all CLI checks passed"
