#include "common/xds_mapping.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/upstream_rules.h"
#include "google/protobuf/struct.pb.h"

namespace nginx_xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::core::v3::Address;
using envoy::config::core::v3::HealthStatus;
using envoy::config::core::v3::Metadata;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::endpoint::v3::LbEndpoint;
using envoy::config::endpoint::v3::LocalityLbEndpoints;
using google::protobuf::Struct;
using google::protobuf::Value;
using nginx_xds::v1::Method;
using nginx_xds::v1::Server;
using nginx_xds::v1::Upstream;

constexpr uint32_t kBackupPriority = 1;

// The inverse of MethodName: only its exact lower-case text.
std::optional<Method> MethodFromName(absl::string_view name) {
  Method method;
  if (!v1::Method_Parse(absl::AsciiStrToUpper(name), &method)) return std::nullopt;
  if (MethodName(method) != name) return std::nullopt;
  return method;
}

// The closest Envoy policy; the exact nginx method travels in metadata.
Cluster::LbPolicy PolicyFor(const Upstream& upstream) {
  switch (upstream.method()) {
    case v1::LEAST_CONN:
      return Cluster::LEAST_REQUEST;
    case v1::RANDOM:
      return Cluster::RANDOM;
    case v1::HASH:
      return upstream.hash_consistent() ? Cluster::RING_HASH : Cluster::ROUND_ROBIN;
    default:
      return Cluster::ROUND_ROBIN;
  }
}

// Sets fields[key] to `value` only when it differs from nginx's default, so
// the metadata of an upstream has one form.
void PutNumber(Struct* fields, const char* key, uint32_t value, uint32_t default_value) {
  if (value == default_value) return;
  (*fields->mutable_fields())[key].set_number_value(value);
}

void PutString(Struct* fields, const char* key, const std::string& value) {
  if (value.empty()) return;
  (*fields->mutable_fields())[key].set_string_value(value);
}

Struct ClusterMetadata(const Upstream& upstream) {
  Struct nginx;
  if (upstream.method() != v1::ROUND_ROBIN) {
    (*nginx.mutable_fields())["method"].set_string_value(
        v1::Method_IsValid(upstream.method()) ? MethodName(upstream.method()) : "round_robin");
  }
  PutString(&nginx, "hash_key", upstream.hash_key());
  if (upstream.hash_consistent()) {
    (*nginx.mutable_fields())["hash_consistent"].set_bool_value(true);
  }
  PutString(&nginx, "zone", upstream.zone());
  PutNumber(&nginx, "keepalive", upstream.keepalive(), 0);
  PutNumber(
      &nginx, "keepalive_requests",
      upstream.has_keepalive_requests() ? upstream.keepalive_requests() : kDefaultKeepaliveRequests,
      kDefaultKeepaliveRequests);
  PutNumber(
      &nginx, "keepalive_time_ms",
      upstream.has_keepalive_time_ms() ? upstream.keepalive_time_ms() : kDefaultKeepaliveTimeMs,
      kDefaultKeepaliveTimeMs);
  PutNumber(&nginx, "keepalive_timeout_ms",
            upstream.has_keepalive_timeout_ms() ? upstream.keepalive_timeout_ms()
                                                : kDefaultKeepaliveTimeoutMs,
            kDefaultKeepaliveTimeoutMs);
  return nginx;
}

// An unparsable address (the upstream was not normalized) still maps to
// something FromXds rejects rather than to a silently different server.
Address ToAddress(const std::string& text) {
  Address address;
  absl::StatusOr<ServerAddress> parsed = ParseServerAddress(text, 0);
  if (!parsed.ok()) {
    address.mutable_socket_address()->set_address(text);
  } else if (parsed->kind == ServerAddress::Kind::kUnix) {
    address.mutable_pipe()->set_path(parsed->host);
  } else {
    address.mutable_socket_address()->set_address(parsed->host);
    address.mutable_socket_address()->set_port_value(parsed->port);
  }
  return address;
}

LbEndpoint ToLbEndpoint(const Server& server, int index) {
  LbEndpoint lb_endpoint;
  auto* endpoint = lb_endpoint.mutable_endpoint();
  *endpoint->mutable_address() = ToAddress(server.address());
  endpoint->set_hostname(server.host());
  // xDS weights are 1 or more: nginx's weight 0 (no requests while a server
  // with a weight is up) travels as weight 1 + DRAINING, which xDS clients
  // send nothing to, with the exact weight (and `down`) in metadata.
  const bool zero_weight = server.has_weight() && server.weight() == 0;
  lb_endpoint.mutable_load_balancing_weight()->set_value(zero_weight           ? 1
                                                         : server.has_weight() ? server.weight()
                                                                               : kDefaultWeight);
  lb_endpoint.set_health_status(server.down() || zero_weight ? envoy::config::core::v3::DRAINING
                                                             : envoy::config::core::v3::HEALTHY);
  Struct& nginx = (*lb_endpoint.mutable_metadata()->mutable_filter_metadata())[kNginxMetadataKey];
  auto& fields = *nginx.mutable_fields();
  if (zero_weight) {
    fields["weight"].set_number_value(0);
    if (server.down()) fields["down"].set_bool_value(true);
  }
  fields["max_fails"].set_number_value(server.has_max_fails() ? server.max_fails()
                                                              : kDefaultMaxFails);
  fields["fail_timeout"].set_number_value(server.has_fail_timeout() ? server.fail_timeout()
                                                                    : kDefaultFailTimeoutSeconds);
  if (server.max_conns() != 0) {
    fields["max_conns"].set_number_value(server.max_conns());
  }
  // Priorities separate primaries from backups; this restores nginx's order.
  fields["index"].set_number_value(index);
  return lb_endpoint;
}

// ---- FromXds ----

// Reads the metadata["nginx"] fields of one resource; `where` prefixes errors
// ("endpoint 2: "), the cluster name is added by the caller. Unknown keys are
// ignored so that a newer control plane can add settings without NACKs.
class NginxFields {
 public:
  NginxFields(const Metadata& metadata, std::string where) : where_(std::move(where)) {
    auto it = metadata.filter_metadata().find(kNginxMetadataKey);
    if (it != metadata.filter_metadata().end()) fields_ = &it->second;
  }

  // A non-negative integer no larger than `max`; `fallback` when absent.
  absl::StatusOr<uint32_t> Number(const char* key, uint32_t fallback, uint32_t max) const {
    const Value* value = Find(key);
    if (value == nullptr) return fallback;
    double number = value->number_value();
    if (value->kind_case() != Value::kNumberValue || !std::isfinite(number) || number < 0 ||
        number > max || number != std::floor(number)) {
      return Error(absl::StrCat("metadata \"", key, "\" must be an integer 0-", max));
    }
    return static_cast<uint32_t>(number);
  }

  bool Has(const char* key) const { return Find(key) != nullptr; }

  absl::StatusOr<std::string> String(const char* key) const {
    const Value* value = Find(key);
    if (value == nullptr) return std::string();
    if (value->kind_case() != Value::kStringValue) {
      return Error(absl::StrCat("metadata \"", key, "\" must be a string"));
    }
    return value->string_value();
  }

  absl::StatusOr<bool> Bool(const char* key) const {
    const Value* value = Find(key);
    if (value == nullptr) return false;
    if (value->kind_case() != Value::kBoolValue) {
      return Error(absl::StrCat("metadata \"", key, "\" must be a bool"));
    }
    return value->bool_value();
  }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, what));
  }

 private:
  const Value* Find(const char* key) const {
    if (fields_ == nullptr) return nullptr;
    auto it = fields_->fields().find(key);
    return it == fields_->fields().end() ? nullptr : &it->second;
  }

  std::string where_;
  const Struct* fields_ = nullptr;
};

// Assigns the value of a StatusOr expression or returns its error.
#define NGINX_XDS_ASSIGN_OR_RETURN(lhs, expr)       \
  do {                                              \
    auto status_or = (expr);                        \
    if (!status_or.ok()) return status_or.status(); \
    lhs = *std::move(status_or);                    \
  } while (false)

absl::Status CheckClusterShape(const Cluster& cluster) {
  if (cluster.type() != Cluster::EDS) {
    return absl::InvalidArgumentError(
        absl::StrCat("type ", Cluster::DiscoveryType_Name(cluster.type()), " is not EDS"));
  }
  const auto& eds = cluster.eds_cluster_config();
  if (!eds.eds_config().has_ads()) {
    return absl::InvalidArgumentError("eds_config is not ads");
  }
  // AUTO means "the client's choice", which is V3 here.
  if (eds.eds_config().resource_api_version() != envoy::config::core::v3::V3 &&
      eds.eds_config().resource_api_version() != envoy::config::core::v3::AUTO) {
    return absl::InvalidArgumentError("eds_config resource_api_version is not V3");
  }
  if (!eds.service_name().empty() && eds.service_name() != cluster.name()) {
    return absl::InvalidArgumentError(
        absl::StrCat("eds service_name \"", eds.service_name(), "\" differs from the name"));
  }
  return absl::OkStatus();
}

absl::Status ReadClusterMetadata(const Cluster& cluster, Upstream* upstream) {
  NginxFields nginx(cluster.metadata(), "");
  std::string method_name = "round_robin";
  if (nginx.Has("method")) {
    NGINX_XDS_ASSIGN_OR_RETURN(method_name, nginx.String("method"));
  }
  std::optional<Method> method = MethodFromName(method_name);
  if (!method) {
    return nginx.Error(absl::StrCat("unknown method \"", method_name, "\""));
  }
  upstream->set_method(*method);
  NGINX_XDS_ASSIGN_OR_RETURN(*upstream->mutable_hash_key(), nginx.String("hash_key"));
  bool consistent = false;
  NGINX_XDS_ASSIGN_OR_RETURN(consistent, nginx.Bool("hash_consistent"));
  upstream->set_hash_consistent(consistent);
  NGINX_XDS_ASSIGN_OR_RETURN(*upstream->mutable_zone(), nginx.String("zone"));
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  uint32_t number = 0;
  NGINX_XDS_ASSIGN_OR_RETURN(number, nginx.Number("keepalive", 0, kMax));
  upstream->set_keepalive(number);
  NGINX_XDS_ASSIGN_OR_RETURN(number,
                             nginx.Number("keepalive_requests", kDefaultKeepaliveRequests, kMax));
  upstream->set_keepalive_requests(number);
  NGINX_XDS_ASSIGN_OR_RETURN(number,
                             nginx.Number("keepalive_time_ms", kDefaultKeepaliveTimeMs, kMax));
  upstream->set_keepalive_time_ms(number);
  NGINX_XDS_ASSIGN_OR_RETURN(
      number, nginx.Number("keepalive_timeout_ms", kDefaultKeepaliveTimeoutMs, kMax));
  upstream->set_keepalive_timeout_ms(number);
  if (cluster.lb_policy() != PolicyFor(*upstream)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lb_policy ", Cluster::LbPolicy_Name(cluster.lb_policy()), " does not match method ",
        method_name, upstream->hash_consistent() ? " consistent" : ""));
  }
  return absl::OkStatus();
}

// The server's address text, checked to be an IP literal or a unix path.
absl::StatusOr<std::string> ReadAddress(const LbEndpoint& lb_endpoint, const std::string& where) {
  auto error = [&where](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(where, what));
  };
  if (!lb_endpoint.has_endpoint()) return error("no endpoint");
  const Address& address = lb_endpoint.endpoint().address();
  std::string text;
  if (address.has_pipe()) {
    text = absl::StrCat("unix:", address.pipe().path());
  } else if (address.has_socket_address()) {
    const auto& socket = address.socket_address();
    if (socket.protocol() != envoy::config::core::v3::SocketAddress::TCP) {
      return error("protocol is not TCP");
    }
    if (socket.port_specifier_case() != envoy::config::core::v3::SocketAddress::kPortValue) {
      return error("no port_value");
    }
    if (socket.port_value() < 1 || socket.port_value() > 65535) {
      return error(absl::StrCat("port ", socket.port_value(), " out of range 1-65535"));
    }
    bool ipv6 = socket.address().find(':') != std::string::npos;
    text = ipv6 ? absl::StrCat("[", socket.address(), "]:", socket.port_value())
                : absl::StrCat(socket.address(), ":", socket.port_value());
  } else {
    return error("no socket_address or pipe");
  }
  absl::StatusOr<ServerAddress> parsed = ParseServerAddress(text, 0);
  if (!parsed.ok()) return error(parsed.status().message());
  if (parsed->kind == ServerAddress::Kind::kHostName) {
    return error(absl::StrCat("address \"", text, "\" is not an IP address"));
  }
  return parsed->ToString();
}

absl::StatusOr<bool> ReadDown(const LbEndpoint& lb_endpoint, const std::string& where) {
  switch (lb_endpoint.health_status()) {
    case envoy::config::core::v3::UNKNOWN:
    case envoy::config::core::v3::HEALTHY:
      return false;
    case envoy::config::core::v3::DRAINING:
      return true;
    default:
      break;
  }
  std::string name = envoy::config::core::v3::HealthStatus_Name(lb_endpoint.health_status());
  if (name.empty()) name = absl::StrCat(lb_endpoint.health_status());
  return absl::InvalidArgumentError(
      absl::StrCat(where, "health_status ", name, " is not HEALTHY, UNKNOWN or DRAINING"));
}

// One server and, if the endpoint carries one, its position in the upstream.
struct IndexedServer {
  Server server;
  std::optional<uint32_t> index;
};

absl::StatusOr<IndexedServer> ReadServer(const LbEndpoint& lb_endpoint, bool backup, int position) {
  std::string where = absl::StrCat("endpoint ", position, ": ");
  IndexedServer result;
  Server& server = result.server;
  NGINX_XDS_ASSIGN_OR_RETURN(*server.mutable_address(), ReadAddress(lb_endpoint, where));
  server.set_host(lb_endpoint.endpoint().hostname());
  uint32_t weight = kDefaultWeight;
  if (lb_endpoint.has_load_balancing_weight()) {
    weight = lb_endpoint.load_balancing_weight().value();
  }
  if (weight < 1 || weight > kMaxWeight) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "weight ", weight, " out of range 1-", kMaxWeight));
  }
  bool down = false;
  NGINX_XDS_ASSIGN_OR_RETURN(down, ReadDown(lb_endpoint, where));
  server.set_backup(backup);

  NginxFields nginx(lb_endpoint.metadata(), where);
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  uint32_t number = 0;
  if (nginx.Has("weight")) {
    // nginx's weight 0: DRAINING says "no requests", metadata "down" says
    // whether the server is also down.
    NGINX_XDS_ASSIGN_OR_RETURN(number, nginx.Number("weight", 0, 0));
    if (weight != 1 || !down) {
      return nginx.Error("metadata \"weight\" 0 needs load_balancing_weight 1 and DRAINING");
    }
    weight = 0;
    NGINX_XDS_ASSIGN_OR_RETURN(down, nginx.Bool("down"));
  }
  server.set_weight(weight);
  server.set_down(down);
  NGINX_XDS_ASSIGN_OR_RETURN(number, nginx.Number("max_fails", kDefaultMaxFails, kMax));
  server.set_max_fails(number);
  NGINX_XDS_ASSIGN_OR_RETURN(number,
                             nginx.Number("fail_timeout", kDefaultFailTimeoutSeconds, kMax));
  server.set_fail_timeout(number);
  NGINX_XDS_ASSIGN_OR_RETURN(number, nginx.Number("max_conns", 0, kMax));
  server.set_max_conns(number);
  if (nginx.Has("index")) {
    NGINX_XDS_ASSIGN_OR_RETURN(
        number, nginx.Number("index", 0, static_cast<uint32_t>(kMaxServersPerUpstream)));
    result.index = number;
  }
  return result;
}

// Puts servers back in nginx's order: every endpoint has a distinct "index"
// below the count, or none has one and the order is as received.
absl::StatusOr<std::vector<Server>> RestoreOrder(std::vector<IndexedServer> servers) {
  size_t indexed = std::count_if(servers.begin(), servers.end(),
                                 [](const IndexedServer& s) { return s.index.has_value(); });
  std::vector<Server> ordered(servers.size());
  if (indexed == 0) {
    for (size_t i = 0; i < servers.size(); ++i) {
      ordered[i] = std::move(servers[i].server);
    }
    return ordered;
  }
  std::vector<bool> filled(servers.size(), false);
  for (size_t i = 0; i < servers.size(); ++i) {
    const std::optional<uint32_t>& index = servers[i].index;
    std::string where = absl::StrCat("endpoint ", i, ": ");
    if (!index) return absl::InvalidArgumentError(where + "metadata \"index\" missing");
    if (*index >= servers.size() || filled[*index]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "metadata \"index\" ", *index, " is out of range or repeated"));
    }
    filled[*index] = true;
    ordered[*index] = std::move(servers[i].server);
  }
  return ordered;
}

absl::StatusOr<std::vector<Server>> ReadServers(const ClusterLoadAssignment& assignment) {
  std::vector<IndexedServer> servers;
  for (const LocalityLbEndpoints& group : assignment.endpoints()) {
    if (group.priority() > kBackupPriority) {
      return absl::InvalidArgumentError(
          absl::StrCat("priority ", group.priority(), " is not 0 (primary) or 1 (backup)"));
    }
    for (const LbEndpoint& lb_endpoint : group.lb_endpoints()) {
      absl::StatusOr<IndexedServer> server =
          ReadServer(lb_endpoint, group.priority() == kBackupPriority, servers.size());
      if (!server.ok()) return server.status();
      servers.push_back(*std::move(server));
    }
  }
  return RestoreOrder(std::move(servers));
}

absl::StatusOr<Upstream> ReadUpstream(const Cluster& cluster,
                                      const ClusterLoadAssignment& assignment) {
  if (assignment.cluster_name() != cluster.name()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster_name \"", assignment.cluster_name(),
                                                   "\" of the ClusterLoadAssignment differs"));
  }
  absl::Status status = CheckClusterShape(cluster);
  if (!status.ok()) return status;
  Upstream upstream;
  upstream.set_name(cluster.name());
  status = ReadClusterMetadata(cluster, &upstream);
  if (!status.ok()) return status;
  absl::StatusOr<std::vector<Server>> servers = ReadServers(assignment);
  if (!servers.ok()) return servers.status();
  for (Server& server : *servers) *upstream.add_servers() = std::move(server);
  status = ValidateNormalizedUpstream(upstream);
  if (!status.ok()) return status;
  return upstream;
}

#undef NGINX_XDS_ASSIGN_OR_RETURN

}  // namespace

Cluster ToCluster(const Upstream& upstream) {
  Cluster cluster;
  cluster.set_name(upstream.name());
  cluster.set_type(Cluster::EDS);
  auto* eds_config = cluster.mutable_eds_cluster_config()->mutable_eds_config();
  eds_config->mutable_ads();
  eds_config->set_resource_api_version(envoy::config::core::v3::V3);
  cluster.set_lb_policy(PolicyFor(upstream));
  (*cluster.mutable_metadata()->mutable_filter_metadata())[kNginxMetadataKey] =
      ClusterMetadata(upstream);
  return cluster;
}

ClusterLoadAssignment ToLoadAssignment(const Upstream& upstream) {
  ClusterLoadAssignment assignment;
  assignment.set_cluster_name(upstream.name());
  // One locality per server, weighted as the server: gRPC clients balance
  // over localities by their weights but give every endpoint of a locality
  // an equal share, so this is how nginx's weights reach them. Primaries
  // first, then backups, each group in nginx's order.
  for (bool backups : {false, true}) {
    for (int i = 0; i < upstream.servers_size(); ++i) {
      const Server& server = upstream.servers(i);
      if (server.backup() != backups) continue;
      LocalityLbEndpoints& locality = *assignment.add_endpoints();
      locality.mutable_locality()->set_sub_zone(absl::StrCat("server-", i));
      locality.set_priority(backups ? kBackupPriority : 0);
      *locality.add_lb_endpoints() = ToLbEndpoint(server, i);
      locality.mutable_load_balancing_weight()->set_value(
          locality.lb_endpoints(0).load_balancing_weight().value());
    }
  }
  return assignment;
}

absl::StatusOr<Upstream> FromXds(const Cluster& cluster, const ClusterLoadAssignment& assignment) {
  absl::StatusOr<Upstream> upstream = ReadUpstream(cluster, assignment);
  if (!upstream.ok()) {
    return absl::Status(
        upstream.status().code(),
        absl::StrCat("cluster \"", cluster.name(), "\": ", upstream.status().message()));
  }
  return upstream;
}

}  // namespace nginx_xds
