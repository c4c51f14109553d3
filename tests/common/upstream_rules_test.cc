#include "common/upstream_rules.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/address.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {
namespace {

using google::protobuf::util::MessageDifferencer;
using nginx_xds::v1::Upstream;

Upstream ParseUpstream(const std::string& text) {
  Upstream upstream;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &upstream)) << text;
  return upstream;
}

// Answers from a fixed table, so no test depends on DNS.
class FakeResolver {
 public:
  void Add(const std::string& name, std::vector<std::string> ips) { table_[name] = std::move(ips); }

  AddressResolver AsResolver() {
    return [this](const ServerAddress& name) -> absl::StatusOr<std::vector<ServerAddress>> {
      ++calls_;
      auto it = table_.find(name.host);
      if (it == table_.end()) {
        return absl::NotFoundError("host \"" + name.host + "\": not found");
      }
      std::vector<ServerAddress> out;
      for (const std::string& ip : it->second) {
        ServerAddress address = *ParseServerAddress(ip, name.port);
        out.push_back(address);
      }
      return out;
    };
  }

  int calls() const { return calls_; }

 private:
  std::map<std::string, std::vector<std::string>> table_;
  int calls_ = 0;
};

absl::Status Normalize(Upstream* upstream) {
  FakeResolver resolver;
  return NormalizeUpstream(upstream, resolver.AsResolver());
}

// Validate that names of [A-Za-z0-9._-] up to the length limit pass.
TEST(ValidateNameTest, AcceptsLettersDigitsDotsUnderscoresAndHyphens) {
  EXPECT_TRUE(ValidateName("upstream", "Backend_1.prod-eu").ok());
  EXPECT_TRUE(ValidateName("upstream", std::string(kMaxNameLength, 'a')).ok());
}

// Validate that empty, too long and odd-character names are refused,
// the message naming what kind of name it was.
TEST(ValidateNameTest, RejectsEmptyLongAndOddCharactersNamingWhat) {
  absl::Status status = ValidateName("fleet", "");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "fleet name \"\": must be 1-255 characters of [A-Za-z0-9._-]");
  EXPECT_FALSE(ValidateName("fleet", std::string(kMaxNameLength + 1, 'a')).ok());
  EXPECT_FALSE(ValidateName("upstream", "a b").ok());
  EXPECT_FALSE(ValidateName("upstream", "a/b").ok());
}

// Validate that an upstream's key is its name in lower case.
TEST(UpstreamKeyTest, IsTheLowerCaseName) {
  EXPECT_EQ(UpstreamKey("BackEnds.Prod"), "backends.prod");
}

// Validate that unset fields take nginx's defaults.
TEST(NormalizeUpstreamTest, FillsNginxDefaults) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "10.0.0.1" }
  )pb");
  ASSERT_TRUE(Normalize(&upstream).ok());
  EXPECT_EQ(upstream.keepalive_requests(), kDefaultKeepaliveRequests);
  EXPECT_EQ(upstream.keepalive_time_ms(), kDefaultKeepaliveTimeMs);
  EXPECT_EQ(upstream.keepalive_timeout_ms(), kDefaultKeepaliveTimeoutMs);
  EXPECT_TRUE(upstream.has_keepalive_requests());
  ASSERT_EQ(upstream.servers_size(), 1);
  const v1::Server& server = upstream.servers(0);
  EXPECT_EQ(server.address(), "10.0.0.1:80");
  EXPECT_TRUE(server.has_weight());
  EXPECT_EQ(server.weight(), kDefaultWeight);
  EXPECT_EQ(server.max_fails(), kDefaultMaxFails);
  EXPECT_EQ(server.fail_timeout(), kDefaultFailTimeoutSeconds);
}

// Validate that explicit settings, zeroes included, are kept.
TEST(NormalizeUpstreamTest, KeepsExplicitSettingsIncludingZeroes) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    keepalive: 16
    keepalive_requests: 0
    servers {
      address: "10.0.0.1:81"
      weight: 5
      max_fails: 0
      fail_timeout: 0
      max_conns: 7
      down: true
    }
  )pb");
  ASSERT_TRUE(Normalize(&upstream).ok());
  EXPECT_EQ(upstream.keepalive(), 16u);
  EXPECT_TRUE(upstream.has_keepalive_requests());
  EXPECT_EQ(upstream.keepalive_requests(), 0u);
  const v1::Server& server = upstream.servers(0);
  EXPECT_EQ(server.weight(), 5u);
  EXPECT_TRUE(server.has_max_fails());
  EXPECT_EQ(server.max_fails(), 0u);
  EXPECT_EQ(server.fail_timeout(), 0u);
  EXPECT_EQ(server.max_conns(), 7u);
  EXPECT_TRUE(server.down());
}

// Validate that IPv6 and unix addresses are put in canonical form.
TEST(NormalizeUpstreamTest, CanonicalizesIpv6AndUnixAddresses) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "[0:0::1]" }
    servers { address: "unix:/run/app.sock" }
  )pb");
  ASSERT_TRUE(Normalize(&upstream).ok());
  EXPECT_EQ(upstream.servers(0).address(), "[::1]:80");
  EXPECT_EQ(upstream.servers(1).address(), "unix:/run/app.sock");
}

// Validate that normalizing a normalized upstream changes nothing.
TEST(NormalizeUpstreamTest, IsIdempotent) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    method: HASH
    hash_key: "$request_uri"
    hash_consistent: true
    servers { address: "[0:0::1]:8080" weight: 3 }
    servers { address: "10.0.0.2" }
  )pb");
  ASSERT_TRUE(Normalize(&upstream).ok());
  Upstream again = upstream;
  ASSERT_TRUE(Normalize(&again).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(upstream, again));
  EXPECT_TRUE(ValidateNormalizedUpstream(upstream).ok());
}

// Validate that a host name becomes one server per address, in its place,
// keeping the host name.
TEST(NormalizeUpstreamTest, ResolvesHostNameIntoOneServerPerAddressInPlace) {
  FakeResolver resolver;
  resolver.Add("backend.local", {"10.0.0.1", "[::2]"});
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "10.0.0.9:80" }
    servers { address: "backend.local:8080" weight: 4 backup: true }
    servers { address: "10.0.0.10:80" }
  )pb");
  ASSERT_TRUE(NormalizeUpstream(&upstream, resolver.AsResolver()).ok());
  EXPECT_EQ(resolver.calls(), 1);
  ASSERT_EQ(upstream.servers_size(), 4);
  EXPECT_EQ(upstream.servers(0).address(), "10.0.0.9:80");
  EXPECT_EQ(upstream.servers(0).host(), "");
  EXPECT_EQ(upstream.servers(1).address(), "10.0.0.1:8080");
  EXPECT_EQ(upstream.servers(2).address(), "[::2]:8080");
  for (int i : {1, 2}) {
    EXPECT_EQ(upstream.servers(i).host(), "backend.local");
    EXPECT_EQ(upstream.servers(i).weight(), 4u);
    EXPECT_TRUE(upstream.servers(i).backup());
  }
  EXPECT_EQ(upstream.servers(3).address(), "10.0.0.10:80");
}

// Validate that an unknown host name is INVALID_ARGUMENT naming the server.
TEST(NormalizeUpstreamTest, UnknownHostNameIsInvalidArgumentNamingTheServer) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "nowhere.local:80" }
  )pb");
  absl::Status status = Normalize(&upstream);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "host not found in upstream \"nowhere.local:80\": host \"nowhere.local\": not found");
}

// Validate that a resolver outage stays UNAVAILABLE, not a bad request.
TEST(NormalizeUpstreamTest, ResolverOutageStaysUnavailable) {
  AddressResolver failing = [](const ServerAddress&) -> absl::StatusOr<std::vector<ServerAddress>> {
    return absl::UnavailableError("resolver down");
  };
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "backend.local:80" }
  )pb");
  EXPECT_EQ(NormalizeUpstream(&upstream, failing).code(), absl::StatusCode::kUnavailable);
}

// Validate that addresses equal once canonical are duplicates.
TEST(NormalizeUpstreamTest, RejectsDuplicateAddressesAfterCanonicalForm) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "10.0.0.1" }
    servers { address: "10.0.0.1:80" }
  )pb");
  absl::Status status = Normalize(&upstream);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "server \"10.0.0.1:80\": duplicate address");
}

// Validate that a resolved address that duplicates a listed one is refused.
TEST(NormalizeUpstreamTest, RejectsResolvedAddressThatDuplicatesAListedOne) {
  FakeResolver resolver;
  resolver.Add("backend.local", {"10.0.0.1"});
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "10.0.0.1:80" }
    servers { address: "backend.local" }
  )pb");
  absl::Status status = NormalizeUpstream(&upstream, resolver.AsResolver());
  EXPECT_EQ(status.message(), "server \"10.0.0.1:80\": duplicate address");
}

// Validate that a port out of range is refused naming the server.
TEST(NormalizeUpstreamTest, PortOutOfRangeNamesTheServer) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "10.0.0.1:0" }
  )pb");
  absl::Status status = Normalize(&upstream);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "server \"10.0.0.1:0\": port must be 1-65535");
}

// Validate that on error the upstream is left as it was.
TEST(NormalizeUpstreamTest, LeavesUpstreamUnchangedOnError) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "backends"
    servers { address: "[0:0::1]" }
    servers { address: "10.0.0.1:99999" }
  )pb");
  const Upstream before = upstream;
  ASSERT_FALSE(Normalize(&upstream).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(upstream, before));
}

struct BadUpstream {
  std::string description;
  std::string text;
  std::string message;
};

class NormalizeUpstreamRejectionTest : public ::testing::TestWithParam<BadUpstream> {};

// Validate that each bad field is INVALID_ARGUMENT naming the field and value.
TEST_P(NormalizeUpstreamRejectionTest, RejectsWithMessageNamingTheField) {
  Upstream upstream = ParseUpstream(GetParam().text);
  absl::Status status = Normalize(&upstream);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    EveryRule, NormalizeUpstreamRejectionTest,
    ::testing::Values(BadUpstream{"BadName", R"pb(name: "a b"
                                                  servers { address: "10.0.0.1" })pb",
                                  "upstream name \"a b\": must be 1-255 characters of "
                                  "[A-Za-z0-9._-]"},
                      BadUpstream{"NoServers", R"pb(name: "b")pb",
                                  "no servers are inside upstream \"b\""},
                      BadUpstream{"OnlyBackups",
                                  R"pb(name: "onlybackup"
                                       servers { address: "127.0.0.1:22088" backup: true })pb",
                                  "no servers in upstream \"onlybackup\" (every server is a "
                                  "backup)"},
                      BadUpstream{"ZeroWeightWithHash",
                                  R"pb(name: "b"
                                       method: HASH
                                       hash_key: "$uri"
                                       servers { address: "10.0.0.1" weight: 0 }
                                       servers { address: "10.0.0.2" })pb",
                                  "server \"10.0.0.1\": weight 0 is not supported by method "
                                  "hash (only round robin and least_conn)"},
                      BadUpstream{"ZeroWeightWithIpHash",
                                  R"pb(name: "b"
                                       method: IP_HASH
                                       servers { address: "10.0.0.1" weight: 0 })pb",
                                  "server \"10.0.0.1\": weight 0 is not supported by method "
                                  "ip_hash (only round robin and least_conn)"},
                      BadUpstream{"ZeroWeightWithRandom",
                                  R"pb(name: "b"
                                       method: RANDOM
                                       servers { address: "10.0.0.1" weight: 0 })pb",
                                  "server \"10.0.0.1\": weight 0 is not supported by method "
                                  "random (only round robin and least_conn)"},
                      BadUpstream{"WeightTooLarge",
                                  R"pb(name: "b"
                                       servers { address: "10.0.0.1" weight: 1000001 })pb",
                                  "server \"10.0.0.1\": weight 1000001 must be 0-1000000"},
                      BadUpstream{"HashWithoutKey", R"pb(name: "b"
                                                         method: HASH
                                                         servers { address: "10.0.0.1" })pb",
                                  "upstream \"b\": method hash needs a hash_key"},
                      BadUpstream{"KeyWithoutHash", R"pb(name: "b"
                                                         hash_key: "$uri"
                                                         servers { address: "10.0.0.1" })pb",
                                  "upstream \"b\": hash_key and hash_consistent need method "
                                  "hash, not round_robin"},
                      BadUpstream{"BadZone", R"pb(name: "b"
                                                  zone: "z z"
                                                  servers { address: "10.0.0.1" })pb",
                                  "upstream \"b\": zone name \"z z\": must be 1-255 characters "
                                  "of [A-Za-z0-9._-]"},
                      BadUpstream{"HostOnUnixSocket",
                                  R"pb(name: "b"
                                       servers { address: "unix:/run/a.sock" host: "a.local" })pb",
                                  "server \"unix:/run/a.sock\": a unix socket has no host"},
                      BadUpstream{"BadAddress", R"pb(name: "b"
                                                     servers { address: "1.2.3:80" })pb",
                                  "server \"1.2.3:80\": invalid IPv4 address \"1.2.3\""}),
    [](const ::testing::TestParamInfo<BadUpstream>& info) { return info.param.description; });

// Validates that weight 0 (ngx_dynamic_upstream's weight=0) is kept, not
// defaulted, with round robin and least_conn.
TEST(NormalizeUpstreamTest, KeepsWeightZeroWithRoundRobinAndLeastConn) {
  for (const char* method : {"ROUND_ROBIN", "LEAST_CONN"}) {
    Upstream upstream = ParseUpstream(std::string("name: \"b\" method: ") + method + R"pb(
      servers { address: "10.0.0.1" weight: 0 }
      servers { address: "10.0.0.2" }
    )pb");
    ASSERT_TRUE(Normalize(&upstream).ok()) << method;
    EXPECT_TRUE(upstream.servers(0).has_weight());
    EXPECT_EQ(upstream.servers(0).weight(), 0u);
    EXPECT_TRUE(ValidateNormalizedUpstream(upstream).ok());
  }
}

// Validates that backups are accepted with every method: nginx takes them
// when the servers precede hash, ip_hash or random.
TEST(NormalizeUpstreamTest, AcceptsBackupsWithEveryMethod) {
  for (const char* method : {"HASH", "IP_HASH", "RANDOM", "LEAST_CONN"}) {
    Upstream upstream = ParseUpstream(std::string("name: \"b\" method: ") + method + R"pb(
      servers { address: "10.0.0.1" }
      servers { address: "10.0.0.2" backup: true }
    )pb");
    if (upstream.method() == v1::HASH) upstream.set_hash_key("$uri");
    absl::Status status = Normalize(&upstream);
    EXPECT_TRUE(status.ok()) << method << ": " << status;
  }
}

// Validates that a down primary still counts as a server, as in nginx.
TEST(NormalizeUpstreamTest, DownPrimaryAndBackupIsEnough) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "b"
    servers { address: "10.0.0.1" down: true }
    servers { address: "10.0.0.2" backup: true }
  )pb");
  EXPECT_TRUE(Normalize(&upstream).ok());
}

// Validate that a method number the enum lacks is refused.
TEST(NormalizeUpstreamTest, RejectsUnknownMethodNumber) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "b"
    servers { address: "10.0.0.1" }
  )pb");
  upstream.set_method(static_cast<v1::Method>(9));
  EXPECT_EQ(Normalize(&upstream).message(), "upstream \"b\": unknown method 9");
}

// Validate that more servers than the limit are refused.
TEST(NormalizeUpstreamTest, RejectsMoreServersThanTheLimit) {
  Upstream upstream;
  upstream.set_name("big");
  for (size_t i = 0; i <= kMaxServersPerUpstream; ++i) {
    upstream.add_servers()->set_address("10.0." + std::to_string(i / 256) + "." +
                                        std::to_string(i % 256));
  }
  absl::Status status = Normalize(&upstream);
  EXPECT_EQ(status.message(), "upstream \"big\": more than 4096 servers");
}

// Validate that the agent's check refuses a host name still unresolved.
TEST(ValidateNormalizedUpstreamTest, RejectsUnresolvedHostName) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "b"
    keepalive_requests: 1000
    keepalive_time_ms: 1
    keepalive_timeout_ms: 1
    servers { address: "backend.local:80" weight: 1 max_fails: 1 fail_timeout: 10 }
  )pb");
  EXPECT_EQ(ValidateNormalizedUpstream(upstream).message(),
            "server \"backend.local:80\": host name is not resolved");
}

// Validate that the agent's check refuses an address not in canonical form.
TEST(ValidateNormalizedUpstreamTest, RejectsNonCanonicalAddress) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "b"
    keepalive_requests: 1000
    keepalive_time_ms: 1
    keepalive_timeout_ms: 1
    servers { address: "[0::1]:80" weight: 1 max_fails: 1 fail_timeout: 10 }
  )pb");
  EXPECT_EQ(ValidateNormalizedUpstream(upstream).message(),
            "server \"[0::1]:80\": not in canonical form \"[::1]:80\"");
}

// Validate that the agent's check refuses unset defaults.
TEST(ValidateNormalizedUpstreamTest, RejectsUnsetDefaults) {
  Upstream upstream = ParseUpstream(R"pb(
    name: "b"
    keepalive_requests: 1000
    keepalive_time_ms: 1
    keepalive_timeout_ms: 1
    servers { address: "10.0.0.1:80" }
  )pb");
  EXPECT_EQ(ValidateNormalizedUpstream(upstream).message(),
            "server \"10.0.0.1:80\": weight, max_fails and fail_timeout must be "
            "set");
}

// Validate the one default-fleet fallback: an empty fleet is "default",
// any other is kept and must be a valid name.
TEST(ResolveFleetTest, EmptyIsDefaultOthersValidated) {
  EXPECT_EQ(FleetOrDefault(""), "default");
  EXPECT_EQ(FleetOrDefault("web"), "web");
  EXPECT_EQ(ResolveFleet("").value(), "default");
  EXPECT_EQ(ResolveFleet("web").value(), "web");
  EXPECT_EQ(ResolveFleet("a b").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nginx_xds
