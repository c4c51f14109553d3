#!/usr/bin/env bash
# A real third-party gRPC client (buf curl) reads our ADS stream: it sees the
# Cluster and ClusterLoadAssignment of an upstream written through the
# management API, as JSON rendered from our descriptor set.
set -euo pipefail

controlplane=$1
descriptors=$2
buf=${BUF:?set BUF to the buf binary (tests/run.sh does)}
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/buf_curl.XXXXXX")
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

grpc "$admin_port" nginx_xds.v1.UpstreamService/PutUpstream '{
  "fleet": "edge",
  "upstream": {"name": "backends", "method": "LEAST_CONN", "zone": "zone_for_backends",
    "servers": [{"address": "127.0.0.1:6001", "weight": 3},
                {"address": "127.0.0.1:6002", "backup": true},
                {"address": "127.0.0.1:6003", "down": true}]}}' >"$work/put.json"

# Both subscriptions in one stream; buf half-closes after sending them and the
# control plane answers both before it ends the stream.
grpc "$xds_port" envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources '
  {"node": {"id": "buf-curl", "cluster": "edge"},
   "typeUrl": "type.googleapis.com/envoy.config.cluster.v3.Cluster"}
  {"typeUrl": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"}' \
  >"$work/ads.json"

# gRPC health on both servers.
for port in "$xds_port" "$admin_port"; do
  health=$(grpc "$port" grpc.health.v1.Health/Check '{}')
  grep -q '"status": "SERVING"' <<<"$health" || { echo "health check on $port: $health"; exit 1; }
done

# Server reflection: without --schema, buf curl learns the management API's
# schema from the server itself.
listed=$("$buf" curl --protocol grpc --http2-prior-knowledge --timeout 10s -d '{"fleet": "edge"}' \
  "http://127.0.0.1:$admin_port/nginx_xds.v1.UpstreamService/ListUpstreams")
grep -q '"name": "backends"' <<<"$listed" || { echo "reflection call answered: $listed"; exit 1; }

python3 - "$work/put.json" "$work/ads.json" <<'PY'
import json, sys

def messages(path):
    text, decoder, out, i = open(path).read(), json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return out
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)

put = messages(sys.argv[1])[0]
responses = messages(sys.argv[2])
version = put["version"]
assert len(responses) == 2, responses
clusters, assignments = responses
assert clusters["typeUrl"].endswith("envoy.config.cluster.v3.Cluster"), clusters
assert clusters["versionInfo"] == version, (clusters["versionInfo"], version)
cluster = clusters["resources"][0]
assert cluster["@type"] == "type.googleapis.com/envoy.config.cluster.v3.Cluster", cluster
assert cluster["name"] == "backends", cluster
assert cluster["type"] == "EDS", cluster
assert cluster["lbPolicy"] == "LEAST_REQUEST", cluster
assert "ads" in cluster["edsClusterConfig"]["edsConfig"], cluster
nginx = cluster["metadata"]["filterMetadata"]["nginx"]
assert nginx["method"] == "least_conn" and nginx["zone"] == "zone_for_backends", nginx

assert assignments["versionInfo"] == version, assignments
cla = assignments["resources"][0]
assert cla["@type"].endswith("envoy.config.endpoint.v3.ClusterLoadAssignment"), cla
assert cla["clusterName"] == "backends", cla
# One locality per server; group them per priority, in order.
by_priority = {}
for g in cla["endpoints"]:
    assert g["loadBalancingWeight"] == g["lbEndpoints"][0].get("loadBalancingWeight", 1), g
    by_priority.setdefault(g.get("priority", 0), []).extend(g["lbEndpoints"])
primary = by_priority[0]
ports = [e["endpoint"]["address"]["socketAddress"]["portValue"] for e in primary]
assert ports == [6001, 6003], ports
assert primary[0]["loadBalancingWeight"] == 3, primary[0]
assert primary[1]["healthStatus"] == "DRAINING", primary[1]
backup = by_priority[1]
assert backup[0]["endpoint"]["address"]["socketAddress"]["portValue"] == 6002, backup
print("buf curl read Cluster and ClusterLoadAssignment at version", version)
PY
