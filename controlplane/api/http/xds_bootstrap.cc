#include "controlplane/api/http/xds_bootstrap.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/upstream_rules.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace nginx_xds {

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr const char* kParameters[] = {"node", "fleet", "server", "ca_file", "cert_file",
                                       "key_file"};

Value StringValue(const std::string& text) {
  Value value;
  value.set_string_value(text);
  return value;
}

Value StructValue(Struct fields) {
  Value value;
  *value.mutable_struct_value() = std::move(fields);
  return value;
}

Value ListValue(std::vector<Value> values) {
  Value value;
  for (Value& each : values) *value.mutable_list_value()->add_values() = std::move(each);
  return value;
}

// Whether `host_port`'s host is a wildcard address a client cannot dial.
bool ListensEverywhere(const std::string& host_port) {
  return absl::StartsWith(host_port, "0.0.0.0:") || absl::StartsWith(host_port, "[::]:") ||
         absl::StartsWith(host_port, ":");
}

absl::StatusOr<Value> ChannelCredentials(const XdsBootstrapServer& server,
                                         const std::map<std::string, std::string>& given) {
  Struct creds;
  if (!server.tls) {
    (*creds.mutable_fields())["type"] = StringValue("insecure");
    return StructValue(std::move(creds));
  }
  std::vector<std::string> needed = {"ca_file"};
  if (server.mutual_tls) needed = {"ca_file", "cert_file", "key_file"};
  Struct config;
  const std::map<std::string, std::string> keys = {{"ca_file", "ca_certificate_file"},
                                                   {"cert_file", "certificate_file"},
                                                   {"key_file", "private_key_file"}};
  for (const std::string& name : needed) {
    auto it = given.find(name);
    if (it == given.end() || it->second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ADS server uses ", server.mutual_tls ? "mutual TLS" : "TLS", ": give ",
          server.mutual_tls ? "ca_file, cert_file and key_file" : "ca_file",
          " (the client's PEM files); ", name, " is missing"));
    }
    (*config.mutable_fields())[keys.at(name)] = StringValue(it->second);
  }
  (*creds.mutable_fields())["type"] = StringValue("tls");
  (*creds.mutable_fields())["config"] = StructValue(std::move(config));
  return StructValue(std::move(creds));
}

}  // namespace

absl::StatusOr<std::string> XdsBootstrapJson(const XdsBootstrapServer& server,
                                             const std::vector<QueryParam>& params) {
  std::map<std::string, std::string> given;
  const std::set<std::string> known(std::begin(kParameters), std::end(kParameters));
  for (const QueryParam& param : params) {
    if (known.count(param.name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown parameter \"", param.name,
                       "\"; /xds/bootstrap takes node, fleet, server, ca_file, cert_file and "
                       "key_file"));
    }
    if (!given.emplace(param.name, param.value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter \"", param.name, "\" is given more than once"));
    }
  }
  auto node = given.find("node");
  if (node == given.end() || node->second.empty()) {
    return absl::InvalidArgumentError("node=ID is required: the client's node id");
  }
  absl::Status valid = ValidateName("node", node->second);
  if (!valid.ok()) return valid;
  const std::string fleet = given.count("fleet") ? given["fleet"] : std::string(kDefaultFleet);
  valid = ValidateName("fleet", fleet);
  if (!valid.ok()) return valid;

  std::string server_uri = server.listen_address;
  if (given.count("server")) {
    server_uri = given["server"];
    absl::StatusOr<ServerAddress> parsed = ParseServerAddress(server_uri, 0);
    if (!parsed.ok() || parsed->kind == ServerAddress::Kind::kUnix) {
      return absl::InvalidArgumentError(
          absl::StrCat("server \"", server_uri, "\" is not HOST:PORT"));
    }
  } else if (ListensEverywhere(server_uri)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ADS server listens on every address (", server_uri,
                     "); say which one clients reach with server=HOST:PORT"));
  }
  absl::StatusOr<Value> creds = ChannelCredentials(server, given);
  if (!creds.ok()) return creds.status();

  Struct xds_server;
  (*xds_server.mutable_fields())["server_uri"] = StringValue(server_uri);
  (*xds_server.mutable_fields())["channel_creds"] = ListValue({*std::move(creds)});
  (*xds_server.mutable_fields())["server_features"] = ListValue({StringValue("xds_v3")});
  Struct node_fields;
  (*node_fields.mutable_fields())["id"] = StringValue(node->second);
  (*node_fields.mutable_fields())["cluster"] = StringValue(fleet);
  (*node_fields.mutable_fields())["locality"] = StructValue(Struct());
  Struct bootstrap;
  (*bootstrap.mutable_fields())["xds_servers"] =
      ListValue({StructValue(std::move(xds_server))});
  (*bootstrap.mutable_fields())["node"] = StructValue(std::move(node_fields));

  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  auto printed = google::protobuf::util::MessageToJsonString(bootstrap, &json, options);
  if (!printed.ok()) return absl::InternalError(std::string(printed.message()));
  return json;
}

}  // namespace nginx_xds
