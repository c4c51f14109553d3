#!/usr/bin/env bash
# The control plane on --store=etcd, end to end: writes through the dyups
# HTTP API land in a real etcd; the control plane killed with SIGKILL and
# started again on the same etcd has every upstream, in order, and the
# version counter; with etcd down a write fails clearly (409, naming etcd)
# and changes nothing; once etcd is back writes go on.
set -euo pipefail

controlplane=$(realpath "$1")
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/etcd-restart.XXXXXX")
cp_pid=
etcd_pid=
cleanup() {
  for pid in $cp_pid $etcd_pid; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_client=$(free_port)
etcd_peer=$(free_port)

start_etcd() {
  etcd --name n1 --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "n1=http://127.0.0.1:$etcd_peer" >>"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 200); do
    ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$etcd_client" get probe >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "etcd did not start"; cat "$work/etcd.log"; exit 1
}

start_controlplane() {
  : >"$work/ports"
  "$controlplane" --store=etcd --etcd_endpoints="http://127.0.0.1:$etcd_client" \
    --xds_listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 \
    --data_dir="$work/data" --ack_timeout=0s >"$work/ports" 2>>"$work/cp.log" &
  cp_pid=$!
  for _ in $(seq 200); do grep -q http_port "$work/ports" && break; sleep 0.05; done
  http_port=$(sed -n 's/^http_port=//p' "$work/ports")
  [[ -n "$http_port" ]] || { echo "control plane did not start:"; cat "$work/cp.log"; exit 1; }
}

http() {  # http METHOD PATH [BODY]: status, then the body
  curl -sS --max-time 20 -o "$work/body" -w '%{http_code}' -D "$work/headers" -X "$1" \
    ${3+--data-binary "$3"} "http://127.0.0.1:$http_port$2"
}

fail() { echo "FAIL: $*"; exit 1; }

start_etcd
start_controlplane
# Validates that writes land and are answered with their versions.
for name in zeta alpha mid; do
  [[ "$(http POST "/upstream/$name" "server 127.0.0.1:8088;")" == 200 ]] || fail "POST $name: $(cat "$work/body")"
done
[[ "$(http GET /list)" == 200 && "$(cat "$work/body")" == $'zeta\nalpha\nmid' ]] ||
  fail "list before restart: $(cat "$work/body")"
[[ -n "$(ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$etcd_client" get --prefix /nginx-xds/upstreams/ --keys-only)" ]] ||
  fail "nothing under /nginx-xds/upstreams/ in etcd"

# Validates that a killed control plane comes back from etcd with the upstreams and the counter.
kill -9 "$cp_pid"; wait "$cp_pid" 2>/dev/null || true
start_controlplane
[[ "$(http GET /list)" == 200 && "$(cat "$work/body")" == $'zeta\nalpha\nmid' ]] ||
  fail "list after restart: $(cat "$work/body")"
[[ "$(http DELETE /upstream/alpha)" == 200 ]] || fail "DELETE alpha"
grep -qi '^X-Xds-Version: 4' "$work/headers" || fail "the version counter did not go on: $(cat "$work/headers")"

# Validates that with etcd down a write fails clearly and changes nothing.
kill -9 "$etcd_pid"; wait "$etcd_pid" 2>/dev/null || true
status=$(http POST /upstream/newone "server 127.0.0.1:8090;")
[[ "$status" == 409 ]] || fail "write with etcd down: $status $(cat "$work/body")"
grep -q "etcd store" "$work/body" || fail "the error does not name etcd: $(cat "$work/body")"
[[ "$(http GET /list)" == 200 && "$(cat "$work/body")" == $'zeta\nmid' ]] ||
  fail "a failed write changed the list: $(cat "$work/body")"

# Validates that writes go on once etcd is back.
start_etcd
[[ "$(http POST /upstream/newone "server 127.0.0.1:8090;")" == 200 ]] || fail "write after etcd returned: $(cat "$work/body")"
grep -qi '^X-Xds-Version: 5' "$work/headers" || fail "version after etcd returned: $(cat "$work/headers")"
echo "etcd restart test passed"
