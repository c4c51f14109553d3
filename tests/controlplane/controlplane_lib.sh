# Sourced by the shell tests of the control plane. Expects $controlplane (the
# binary), $descriptors (//proto:all_descriptors), $buf (buf) and $work (a
# scratch directory the test removes).

# start_controlplane: starts it on free loopback ports with its store in
# $work/data (kept across restarts); sets cp_pid, xds_port, admin_port and
# http_port.
start_controlplane() {
  : >"$work/ports"
  "$controlplane" --xds_listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 \
    --data_dir="$work/data" --ack_timeout=0s >"$work/ports" 2>>"$work/log" &
  cp_pid=$!
  # http_port is printed last.
  for _ in $(seq 100); do grep -q http_port "$work/ports" && break; sleep 0.05; done
  xds_port=$(sed -n 's/^xds_port=//p' "$work/ports")
  admin_port=$(sed -n 's/^admin_port=//p' "$work/ports")
  http_port=$(sed -n 's/^http_port=//p' "$work/ports")
  [[ -n "$http_port" ]] || { echo "control plane did not start:"; cat "$work/log"; exit 1; }
}

# grpc PORT SERVICE/METHOD JSON: one call through buf curl, a real gRPC client
# that reads the schema from our descriptor set.
grpc() {
  "$buf" curl --schema "$descriptors" --protocol grpc --http2-prior-knowledge \
    --timeout 10s -d "$3" "http://127.0.0.1:$1/$2"
}
