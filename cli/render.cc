#include "cli/render.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace nginx_xds::cli {
namespace {

using nginx_xds::v1::Server;
using nginx_xds::v1::Upstream;

// "round_robin" for ROUND_ROBIN: the directive names nginx.conf uses.
std::string MethodText(nginx_xds::v1::Method method) {
  return absl::AsciiStrToLower(nginx_xds::v1::Method_Name(method));
}

std::string ServerFlags(const Server& server) {
  std::vector<std::string> flags;
  if (server.backup()) flags.push_back("backup");
  if (server.down()) flags.push_back("down");
  if (!server.host().empty()) flags.push_back(absl::StrCat("host=", server.host()));
  return flags.empty() ? "-" : absl::StrJoin(flags, ",");
}

std::string Summary(const Upstream& upstream) {
  int down = 0;
  int backup = 0;
  for (const Server& server : upstream.servers()) {
    down += server.down();
    backup += server.backup();
  }
  std::string text = absl::StrCat(upstream.servers_size());
  if (down > 0 || backup > 0) absl::StrAppend(&text, " (", down, " down, ", backup, " backup)");
  return text;
}

std::string RolloutStateText(nginx_xds::v1::RolloutState state) {
  std::string name = nginx_xds::v1::RolloutState_Name(state);
  constexpr absl::string_view kPrefix = "ROLLOUT_STATE_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return name;
}

std::string NackText(const nginx_xds::v1::NodeRejection& nack) {
  return absl::StrCat("v", nack.version(), ": ", nack.message());
}

}  // namespace

std::string Table::Render() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string Json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}\n";
  return json + "\n";
}

std::string TimeText(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  google::protobuf::Timestamp seconds = time;
  seconds.set_nanos(0);
  return google::protobuf::util::TimeUtil::ToString(seconds);
}

std::string UpstreamsTable(const nginx_xds::v1::ListUpstreamsResponse& list) {
  Table table({"NAME", "METHOD", "ZONE", "SERVERS"});
  for (const Upstream& upstream : list.upstreams()) {
    table.Add({upstream.name(), MethodText(upstream.method()),
               upstream.zone().empty() ? "-" : upstream.zone(), Summary(upstream)});
  }
  return table.Render();
}

std::string UpstreamText(const Upstream& upstream) {
  std::string text =
      absl::StrCat("upstream ", upstream.name(), ": ", MethodText(upstream.method()));
  if (!upstream.hash_key().empty()) {
    absl::StrAppend(&text, " ", upstream.hash_key(),
                    upstream.hash_consistent() ? " consistent" : "");
  }
  if (!upstream.zone().empty()) absl::StrAppend(&text, ", zone ", upstream.zone());
  if (upstream.keepalive() > 0) absl::StrAppend(&text, ", keepalive ", upstream.keepalive());
  absl::StrAppend(&text, "\n");
  Table table({"ADDRESS", "WEIGHT", "MAX_FAILS", "FAIL_TIMEOUT", "MAX_CONNS", "FLAGS"});
  for (const Server& server : upstream.servers()) {
    table.Add({server.address(), absl::StrCat(server.weight()), absl::StrCat(server.max_fails()),
               absl::StrCat(server.fail_timeout(), "s"),
               server.max_conns() == 0 ? "-" : absl::StrCat(server.max_conns()),
               ServerFlags(server)});
  }
  return text + table.Render();
}

std::string WriteText(const nginx_xds::v1::WriteResponse& write) {
  std::string text =
      absl::StrCat("version ", write.version(), ": acked by ", write.acked_nodes(), " of ",
                   write.connected_nodes(),
                   write.canary() ? " connected canary nodes" : " connected nodes", "\n");
  for (const auto& rejection : write.rejections()) {
    absl::StrAppend(&text, "node ", rejection.node(), " rejected version ", rejection.version(),
                    ": ", rejection.message(), "\n");
  }
  return text;
}

std::string FleetStatusText(const nginx_xds::v1::FleetStatus& status) {
  Table fleets({"FLEET", "VERSION", "NODES", "CONNECTED", "ACKED"});
  for (const auto& [fleet, version] : status.fleet_versions()) {
    int nodes = 0, connected = 0, acked = 0;
    for (const auto& node : status.nodes()) {
      if (node.fleet() != fleet) continue;
      ++nodes;
      connected += node.connected();
      acked += node.connected() && node.acked_version() >= version;
    }
    fleets.Add({fleet, absl::StrCat(version), absl::StrCat(nodes), absl::StrCat(connected),
                absl::StrCat(acked)});
  }
  std::string text = fleets.Render();
  if (status.nodes_size() > 0) {
    Table nodes({"NODE", "FLEET", "CONNECTED", "ACKED", "BEHIND", "UPDATED", "LAST_NACK"});
    for (const auto& node : status.nodes()) {
      auto version = status.fleet_versions().find(node.fleet());
      const uint64_t current = version == status.fleet_versions().end() ? 0 : version->second;
      const uint64_t behind = current > node.acked_version() ? current - node.acked_version() : 0;
      nodes.Add({node.id(), node.fleet(), node.connected() ? "yes" : "no",
                 absl::StrCat(node.acked_version()), behind > 0 ? "yes" : "-",
                 TimeText(node.updated()),
                 node.has_last_nack() ? NackText(node.last_nack()) : "-"});
    }
    absl::StrAppend(&text, "\n", nodes.Render());
  }
  for (const auto& rollout : status.rollouts()) absl::StrAppend(&text, "\n", RolloutText(rollout));
  return text;
}

std::string RolloutText(const nginx_xds::v1::Rollout& rollout) {
  std::string text = absl::StrCat(
      "rollout of fleet ", rollout.fleet(), ": ", RolloutStateText(rollout.state()),
      ", stable version ", rollout.stable_version(), ", canary version ", rollout.canary_version(),
      ", canary acked ", rollout.canary_acked(), " of ", rollout.canary_connected(),
      rollout.auto_promote() ? ", auto-promote" : "", "\n");
  if (rollout.has_halt()) {
    absl::StrAppend(&text, "halted: node ", rollout.halt().node(), " rejected ",
                    NackText(rollout.halt()), "\n");
  }
  Table canary({"CANARY_NODE", "CONNECTED", "ACKED", "LAST_NACK"});
  for (const auto& node : rollout.canary_nodes()) {
    canary.Add({node.id(), node.connected() ? "yes" : "no", absl::StrCat(node.acked_version()),
                node.has_last_nack() ? NackText(node.last_nack()) : "-"});
  }
  if (rollout.canary_nodes_size() > 0) text += canary.Render();
  return text;
}

}  // namespace nginx_xds::cli
