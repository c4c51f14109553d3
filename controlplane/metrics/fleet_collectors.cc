#include "controlplane/metrics/fleet_collectors.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "controlplane/xds/ads_traffic.h"

namespace nginx_xds {

namespace {

using Type = MetricsRegistry::Type;
using Labels = std::vector<std::pair<std::string, std::string>>;

// Per fleet: how many of its nodes are connected, and how many of those
// run its current version.
struct FleetCounts {
  int connected = 0;
  int acked = 0;
};

std::map<std::string, FleetCounts> CountFleets(const NodeRegistry& registry,
                                               const std::map<std::string, uint64_t>& versions) {
  std::map<std::string, FleetCounts> counts;
  for (const auto& [fleet, version] : versions) counts[fleet];
  for (const NodeRegistry::NodeCounters& node : registry.Counters()) {
    if (node.streams <= 0) continue;
    FleetCounts& fleet = counts[node.fleet];
    ++fleet.connected;
    auto version = versions.find(node.fleet);
    const uint64_t current = version == versions.end() ? 0 : version->second;
    if (node.acked_version >= current) ++fleet.acked;
  }
  return counts;
}

std::string StateLabel(nginx_xds::v1::RolloutState state) {
  switch (state) {
    case nginx_xds::v1::ROLLOUT_STATE_CANARY:
      return "canary";
    case nginx_xds::v1::ROLLOUT_STATE_HALTED:
      return "halted";
    case nginx_xds::v1::ROLLOUT_STATE_PROMOTED:
      return "promoted";
    case nginx_xds::v1::ROLLOUT_STATE_ABORTED:
      return "aborted";
    default:
      return "unspecified";
  }
}

}  // namespace

void AddFleetCollectors(MetricsRegistry* metrics, const NodeRegistry* registry,
                        const UpstreamService* upstreams, const RolloutService* rollouts) {
  metrics->AddCollector("nginx_xds_fleet_version",
                        "The current version of each fleet (0 before its first write).",
                        Type::kGauge, [upstreams](SampleWriter& out) {
                          for (const auto& [fleet, version] : upstreams->FleetVersions()) {
                            out.Sample("nginx_xds_fleet_version", {{"fleet", fleet}}, version);
                          }
                        });
  metrics->AddCollector(
      "nginx_xds_fleet_connected_nodes", "Nodes of each fleet with an open ADS stream.",
      Type::kGauge, [registry, upstreams](SampleWriter& out) {
        for (const auto& [fleet, counts] : CountFleets(*registry, upstreams->FleetVersions())) {
          out.Sample("nginx_xds_fleet_connected_nodes", {{"fleet", fleet}}, counts.connected);
        }
      });
  metrics->AddCollector(
      "nginx_xds_fleet_acked_nodes",
      "Connected nodes of each fleet that applied its current version.", Type::kGauge,
      [registry, upstreams](SampleWriter& out) {
        for (const auto& [fleet, counts] : CountFleets(*registry, upstreams->FleetVersions())) {
          out.Sample("nginx_xds_fleet_acked_nodes", {{"fleet", fleet}}, counts.acked);
        }
      });
  metrics->AddCollector(
      "nginx_xds_node_connected", "1 while the node has an open ADS stream, else 0.", Type::kGauge,
      [registry](SampleWriter& out) {
        for (const auto& node : registry->Counters()) {
          out.Sample("nginx_xds_node_connected", {{"node", node.id}, {"fleet", node.fleet}},
                     node.streams > 0 ? 1 : 0);
        }
      });
  metrics->AddCollector(
      "nginx_xds_node_versions_behind",
      "How far the version a node applied is behind its fleet's current version (0: current).",
      Type::kGauge, [registry, upstreams](SampleWriter& out) {
        const auto versions = upstreams->FleetVersions();
        for (const auto& node : registry->Counters()) {
          auto version = versions.find(node.fleet);
          const uint64_t current = version == versions.end() ? 0 : version->second;
          out.Sample("nginx_xds_node_versions_behind", {{"node", node.id}, {"fleet", node.fleet}},
                     current > node.acked_version ? current - node.acked_version : 0);
        }
      });
  metrics->AddCollector(
      "nginx_xds_node_seconds_since_last_ack",
      "Seconds since the node last acknowledged a version (absent before its first ACK).",
      Type::kGauge, [registry](SampleWriter& out) {
        const absl::Time now = absl::Now();
        for (const auto& node : registry->Counters()) {
          if (!node.last_ack) continue;
          out.Sample("nginx_xds_node_seconds_since_last_ack",
                     {{"node", node.id}, {"fleet", node.fleet}},
                     absl::ToDoubleSeconds(now - *node.last_ack));
        }
      });
  metrics->AddCollector("nginx_xds_node_nacks_total",
                        "NACKs (requests with error_detail, one per resource type) the node sent "
                        "since the control plane started.",
                        Type::kCounter, [registry](SampleWriter& out) {
                          for (const auto& node : registry->Counters()) {
                            out.Sample("nginx_xds_node_nacks_total",
                                       {{"node", node.id}, {"fleet", node.fleet}}, node.nacks);
                          }
                        });
  metrics->AddCollector(
      "nginx_xds_node_lagging",
      "1 while the node lags: a write's wait hit the ack timeout without its answer, and "
      "writes no longer wait for it until it answers.",
      Type::kGauge, [registry](SampleWriter& out) {
        for (const auto& node : registry->Counters()) {
          out.Sample("nginx_xds_node_lagging", {{"node", node.id}, {"fleet", node.fleet}},
                     node.lagging ? 1 : 0);
        }
      });
  metrics->AddCollector("nginx_xds_nodes_forgotten_total",
                        "Nodes that left fleet status after --forget_nodes_after without a stream.",
                        Type::kCounter, [registry](SampleWriter& out) {
                          out.Sample("nginx_xds_nodes_forgotten_total", {}, registry->forgotten());
                        });
  metrics->AddCollector("nginx_xds_ads_streams_refused_total",
                        "ADS streams refused: a node id in another fleet than its open streams', "
                        "or over --max_streams_per_node.",
                        Type::kCounter, [registry](SampleWriter& out) {
                          out.Sample("nginx_xds_ads_streams_refused_total", {},
                                     registry->refused_streams());
                        });
  metrics->AddCollector("nginx_xds_ads_streams", "Open ADS streams of identified nodes.",
                        Type::kGauge, [registry](SampleWriter& out) {
                          int streams = 0;
                          for (const auto& node : registry->Counters()) streams += node.streams;
                          out.Sample("nginx_xds_ads_streams", {}, streams);
                        });
  metrics->AddCollector(
      "nginx_xds_ads_responses_total", "ADS responses sent, by resource type URL.", Type::kCounter,
      [](SampleWriter& out) {
        for (int type = 0; type < AdsTraffic::kTypes; ++type) {
          const auto t = static_cast<AdsTraffic::Type>(type);
          out.Sample("nginx_xds_ads_responses_total", {{"type_url", AdsTraffic::Label(t)}},
                     AdsTraffic::Global().responses(t));
        }
      });
  metrics->AddCollector("nginx_xds_ads_response_bytes_total",
                        "Bytes of the ADS responses sent (serialized size), by resource type URL.",
                        Type::kCounter, [](SampleWriter& out) {
                          for (int type = 0; type < AdsTraffic::kTypes; ++type) {
                            const auto t = static_cast<AdsTraffic::Type>(type);
                            out.Sample("nginx_xds_ads_response_bytes_total",
                                       {{"type_url", AdsTraffic::Label(t)}},
                                       AdsTraffic::Global().bytes(t));
                          }
                        });
  metrics->AddCollector("nginx_xds_rollouts",
                        "Each fleet's open or last rollout, counted by state.", Type::kGauge,
                        [rollouts](SampleWriter& out) {
                          std::map<std::string, int> states = {
                              {"canary", 0}, {"halted", 0}, {"promoted", 0}, {"aborted", 0}};
                          for (const auto& rollout : rollouts->Rollouts(""))
                            ++states[StateLabel(rollout.state())];
                          for (const auto& [state, count] : states) {
                            out.Sample("nginx_xds_rollouts", {{"state", state}}, count);
                          }
                        });
}

}  // namespace nginx_xds
