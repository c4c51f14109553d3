// The bootstrap file GET /xds/bootstrap writes for proxyless gRPC clients.

#include "controlplane/api/http/xds_bootstrap.h"

#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using google::protobuf::Struct;

XdsBootstrapServer Plaintext() { return {"127.0.0.1:18000", false, false}; }

std::vector<QueryParam> Params(std::vector<std::pair<std::string, std::string>> pairs) {
  std::vector<QueryParam> params;
  for (auto& [name, value] : pairs) params.push_back({name, value, true});
  return params;
}

Struct Parse(const std::string& json) {
  Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  return parsed;
}

const google::protobuf::Value& Field(const Struct& s, const std::string& name) {
  static const google::protobuf::Value kMissing;
  auto it = s.fields().find(name);
  EXPECT_NE(it, s.fields().end()) << "no field " << name;
  return it == s.fields().end() ? kMissing : it->second;
}

// Validates the shape gRPC clients read: one xds_server with the bound
// address, insecure creds and xds_v3, and a node with id, cluster (the fleet)
// and an empty locality (grpc-js-xds refuses a node without one).
TEST(XdsBootstrapTest, PlaintextBootstrapNamesServerNodeFleetAndLocality) {
  auto json = XdsBootstrapJson(Plaintext(), Params({{"node", "svc-1"}, {"fleet", "web"}}));
  ASSERT_TRUE(json.ok()) << json.status();
  Struct bootstrap = Parse(*json);
  const auto& servers = Field(bootstrap, "xds_servers").list_value();
  ASSERT_EQ(servers.values_size(), 1);
  const Struct& server = servers.values(0).struct_value();
  EXPECT_EQ(Field(server, "server_uri").string_value(), "127.0.0.1:18000");
  EXPECT_EQ(Field(Field(server, "channel_creds").list_value().values(0).struct_value(), "type")
                .string_value(),
            "insecure");
  EXPECT_EQ(Field(server, "server_features").list_value().values(0).string_value(), "xds_v3");
  const Struct& node = Field(bootstrap, "node").struct_value();
  EXPECT_EQ(Field(node, "id").string_value(), "svc-1");
  EXPECT_EQ(Field(node, "cluster").string_value(), "web");
  EXPECT_TRUE(Field(node, "locality").has_struct_value());
}

// Validates that the fleet defaults to "default" and server= overrides the
// bound address (needed when the server listens on every address).
TEST(XdsBootstrapTest, DefaultFleetAndServerOverride) {
  XdsBootstrapServer everywhere{"0.0.0.0:18000", false, false};
  auto refused = XdsBootstrapJson(everywhere, Params({{"node", "a"}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("server=HOST:PORT"), std::string::npos);
  auto json = XdsBootstrapJson(everywhere, Params({{"node", "a"}, {"server", "cp.example:18000"}}));
  ASSERT_TRUE(json.ok()) << json.status();
  Struct bootstrap = Parse(*json);
  EXPECT_EQ(Field(Field(bootstrap, "node").struct_value(), "cluster").string_value(), "default");
  EXPECT_EQ(Field(Field(bootstrap, "xds_servers").list_value().values(0).struct_value(),
                  "server_uri")
                .string_value(),
            "cp.example:18000");
}

// Validates gRFC A65 "tls" channel credentials with the client's files under
// mutual TLS, and the error naming what is missing.
TEST(XdsBootstrapTest, MutualTlsNeedsTheClientsFiles) {
  XdsBootstrapServer mtls{"127.0.0.1:18000", true, true};
  auto missing = XdsBootstrapJson(mtls, Params({{"node", "a"}, {"ca_file", "/ca.pem"}}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "the ADS server uses mutual TLS: give ca_file, cert_file and key_file (the "
            "client's PEM files); cert_file is missing");
  auto json = XdsBootstrapJson(mtls, Params({{"node", "a"},
                                             {"ca_file", "/ca.pem"},
                                             {"cert_file", "/c.pem"},
                                             {"key_file", "/k.pem"}}));
  ASSERT_TRUE(json.ok()) << json.status();
  const Struct bootstrap = Parse(*json);
  const Struct& creds = Field(Field(bootstrap, "xds_servers").list_value().values(0).struct_value(),
                              "channel_creds")
                            .list_value()
                            .values(0)
                            .struct_value();
  EXPECT_EQ(Field(creds, "type").string_value(), "tls");
  const Struct& config = Field(creds, "config").struct_value();
  EXPECT_EQ(Field(config, "ca_certificate_file").string_value(), "/ca.pem");
  EXPECT_EQ(Field(config, "certificate_file").string_value(), "/c.pem");
  EXPECT_EQ(Field(config, "private_key_file").string_value(), "/k.pem");
}

// Validates that bad parameters are refused with what was wrong.
TEST(XdsBootstrapTest, BadParametersAreNamed) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> params;
    std::string message;
  } cases[] = {
      {{}, "node=ID is required: the client's node id"},
      {{{"node", "a"}, {"color", "red"}},
       "unknown parameter \"color\"; /xds/bootstrap takes node, fleet, server, ca_file, "
       "cert_file and key_file"},
      {{{"node", "a"}, {"node", "b"}}, "parameter \"node\" is given more than once"},
      {{{"node", "a"}, {"server", "unix:/x"}}, "server \"unix:/x\" is not HOST:PORT"},
      {{{"node", "a"}, {"server", "host"}}, "server \"host\" is not HOST:PORT"},
  };
  for (const Case& c : cases) {
    auto json = XdsBootstrapJson(Plaintext(), Params(c.params));
    ASSERT_FALSE(json.ok()) << c.message;
    EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(json.status().message(), c.message);
  }
  EXPECT_FALSE(XdsBootstrapJson(Plaintext(), Params({{"node", "a b"}})).ok());
  EXPECT_FALSE(XdsBootstrapJson(Plaintext(), Params({{"node", "a"}, {"fleet", "x/y"}})).ok());
}

}  // namespace
}  // namespace nginx_xds
