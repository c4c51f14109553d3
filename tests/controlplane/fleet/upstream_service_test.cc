// The service layer behind every API: validation, errors, durability.

#include "controlplane/fleet/upstream_service.h"

#include <memory>
#include <string>

#include "controlplane/fleet/node_registry.h"
#include "controlplane/store/sqlite_store.h"
#include "controlplane/xds/snapshot_cache.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;
using nginx_xds::v1::Upstream;

class UpstreamServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::string(getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    unlink(path_.c_str());
    Reopen();
  }

  void Reopen() {
    service_.reset();
    store_.reset();
    cache_ = std::make_unique<SnapshotCache>();
    auto store = SqliteStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    UpstreamService::Options options;
    options.ack_timeout = absl::ZeroDuration();
    // "app.test" stands for a name with two addresses, so no DNS is needed.
    options.resolve =
        [](const ServerAddress& address) -> absl::StatusOr<std::vector<ServerAddress>> {
      if (address.kind != ServerAddress::Kind::kHostName) return std::vector{address};
      if (address.host != "app.test") return absl::NotFoundError("host not found: " + address.host);
      ServerAddress a{ServerAddress::Kind::kIpv4, "10.0.0.1", address.port};
      ServerAddress b{ServerAddress::Kind::kIpv4, "10.0.0.2", address.port};
      return std::vector{a, b};
    };
    auto service = UpstreamService::Create(store_.get(), cache_.get(), &registry_, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  // The fleet's upstreams in one string, to compare states before and after.
  std::string State(const std::string& fleet = "default") {
    std::string state;
    for (const auto& upstream : service_->List(fleet)) state += upstream.DebugString();
    return state + "@" + std::to_string(service_->FleetVersion(fleet));
  }

  std::string path_;
  NodeRegistry registry_;
  std::unique_ptr<SnapshotCache> cache_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<UpstreamService> service_;
};

// Validate that a put fills unset server fields with nginx's defaults
// (weight 1, max_fails 1, fail_timeout 10) and answers the new version.
TEST_F(UpstreamServiceTest, PutFillsNginxDefaults) {
  auto result = service_->Put("", MakeUpstream("backends", {"127.0.0.1:8080"}));
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& server = result->upstream().servers(0);
  EXPECT_EQ(server.weight(), 1u);
  EXPECT_EQ(server.max_fails(), 1u);
  EXPECT_EQ(server.fail_timeout(), 10u);
  EXPECT_EQ(result->version(), 1u);
}

// Validate that upstream names are matched case-insensitively, as nginx
// compares them, while the name keeps the spelling it was written with.
TEST_F(UpstreamServiceTest, NamesAreMatchedCaseInsensitively) {
  ASSERT_TRUE(service_->Put("", MakeUpstream("Backends", {"127.0.0.1:8080"})).ok());
  auto got = service_->Get("", "BACKENDS");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name(), "Backends");
  ASSERT_TRUE(service_->Put("", MakeUpstream("backends", {"127.0.0.1:9090"})).ok());
  EXPECT_EQ(service_->List("").size(), 1u);
}

// Validate that every accepted write gets a strictly higher version.
TEST_F(UpstreamServiceTest, EveryWriteMakesAHigherVersion) {
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto result = service_->Put("", MakeUpstream("u" + std::to_string(i), {"127.0.0.1:80"}));
    ASSERT_TRUE(result.ok());
    EXPECT_GT(result->version(), last);
    last = result->version();
  }
  auto removed = service_->Delete("", "u0");
  ASSERT_TRUE(removed.ok());
  EXPECT_GT(removed->version(), last);
}

// Validate that a bad upstream is INVALID_ARGUMENT naming the field and
// value, and leaves the fleet's upstreams and version as they were.
TEST_F(UpstreamServiceTest, InvalidUpstreamIsRejectedAndChangesNothing) {
  ASSERT_TRUE(service_->Put("", MakeUpstream("backends", {"127.0.0.1:8080"})).ok());
  const std::string before = State();
  auto bad_port = service_->Put("", MakeUpstream("backends", {"127.0.0.1:0"}));
  EXPECT_EQ(bad_port.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_port.status().message().find("127.0.0.1:0"), std::string::npos)
      << bad_port.status();
  auto no_servers = service_->Put("", MakeUpstream("backends", {}));
  EXPECT_EQ(no_servers.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_servers.status().message().find("no servers"), std::string::npos);
  auto bad_name = service_->Put("", MakeUpstream("back ends", {"127.0.0.1:80"}));
  EXPECT_EQ(bad_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_name.status().message().find("back ends"), std::string::npos);
  auto bad_fleet = service_->Put("no/fleet", MakeUpstream("x", {"127.0.0.1:80"}));
  EXPECT_EQ(bad_fleet.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_fleet.status().message().find("fleet"), std::string::npos);
  EXPECT_EQ(State(), before);
}

// Validate that a host name is resolved into one server per address, each
// keeping the name it came from.
TEST_F(UpstreamServiceTest, HostNameBecomesOneServerPerAddress) {
  auto result = service_->Put("", MakeUpstream("app", {"app.test:8080"}));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->upstream().servers_size(), 2);
  EXPECT_EQ(result->upstream().servers(0).address(), "10.0.0.1:8080");
  EXPECT_EQ(result->upstream().servers(1).address(), "10.0.0.2:8080");
  EXPECT_EQ(result->upstream().servers(1).host(), "app.test");
  auto unknown = service_->Put("", MakeUpstream("app", {"nowhere.test:8080"}));
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("nowhere.test"), std::string::npos);
}

// Validate that AddServer appends a server and refuses one whose address
// the upstream already has (ALREADY_EXISTS), changing nothing.
TEST_F(UpstreamServiceTest, AddServerAppendsAndRejectsDuplicates) {
  ASSERT_TRUE(service_->Put("", MakeUpstream("backends", {"127.0.0.1:8080"})).ok());
  nginx_xds::v1::Server server;
  server.set_address("127.0.0.1:8081");
  auto added = service_->AddServer("", "backends", server);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->upstream().servers(1).address(), "127.0.0.1:8081");
  const std::string before = State();
  auto again = service_->AddServer("", "backends", server);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("127.0.0.1:8081"), std::string::npos);
  EXPECT_EQ(State(), before);
}

// Validate that RemoveServer refuses an unknown address (NOT_FOUND) and the
// last server (FAILED_PRECONDITION), changing nothing, and finds an address
// written in another form ([0::1] for [::1]).
TEST_F(UpstreamServiceTest, RemoveServerRefusesTheLastOneAndUnknownOnes) {
  ASSERT_TRUE(service_->Put("", MakeUpstream("backends", {"127.0.0.1:8080", "[::1]:8081"})).ok());
  const std::string before = State();
  EXPECT_EQ(service_->RemoveServer("", "backends", "127.0.0.1:9999").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(State(), before);
  // "[0::1]" is the same address as the listed "[::1]".
  auto removed = service_->RemoveServer("", "backends", "[0::1]:8081");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->upstream().servers_size(), 1);
  auto last = service_->RemoveServer("", "backends", "127.0.0.1:8080");
  EXPECT_EQ(last.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(last.status().message().find("last server"), std::string::npos);
}

// Validate that UpdateServer changes only the fields the request sets.
TEST_F(UpstreamServiceTest, UpdateServerChangesOnlyTheGivenFields) {
  ASSERT_TRUE(service_->Put("", MakeUpstream("backends", {"127.0.0.1:8080"})).ok());
  nginx_xds::v1::UpdateServerRequest request;
  request.set_upstream("backends");
  request.set_address("127.0.0.1:8080");
  request.set_weight(10);
  request.set_down(true);
  auto updated = service_->UpdateServer(request);
  ASSERT_TRUE(updated.ok()) << updated.status();
  const auto& server = updated->upstream().servers(0);
  EXPECT_EQ(server.weight(), 10u);
  EXPECT_TRUE(server.down());
  EXPECT_EQ(server.max_fails(), 1u);
  // Weight 0 is kept (ngx_dynamic_upstream stores it); past the limit is refused.
  request.set_weight(0);
  auto zero = service_->UpdateServer(request);
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->upstream().servers(0).weight(), 0u);
  request.set_weight(kMaxWeight + 1);
  const std::string before = State();
  auto large = service_->UpdateServer(request);
  EXPECT_EQ(large.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(large.status().message().find("weight"), std::string::npos) << large.status();
  EXPECT_EQ(State(), before);
}

// Validate that deleting an unknown upstream is NOT_FOUND naming it.
TEST_F(UpstreamServiceTest, DeleteOfUnknownUpstreamIsNotFound) {
  auto result = service_->Delete("", "nothing");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("nothing"), std::string::npos);
}

// Validate that Adopt stores only the upstreams the fleet lacks: the
// control plane's state wins over a node's nginx.conf.
TEST_F(UpstreamServiceTest, AdoptKeepsWhatTheFleetAlreadyHas) {
  ASSERT_TRUE(service_->Put("", MakeUpstream("host1", {"127.0.0.1:9000"})).ok());
  auto adopted = service_->Adopt(
      "", {MakeUpstream("host1", {"127.0.0.1:8088"}), MakeUpstream("host2", {"127.0.0.1:8089"})});
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(*adopted, 1);
  EXPECT_EQ(service_->Get("", "host1")->servers(0).address(), "127.0.0.1:9000");
  EXPECT_EQ(service_->Get("", "host2")->servers(0).address(), "127.0.0.1:8089");
}

// Validate that every answered write, in every fleet, is there after the
// store is closed and opened again, deletes included.
TEST_F(UpstreamServiceTest, EveryAcknowledgedWriteSurvivesARestart) {
  ASSERT_TRUE(service_->Put("blue", MakeUpstream("backends", {"127.0.0.1:8080"})).ok());
  ASSERT_TRUE(service_->Put("green", MakeUpstream("backends", {"127.0.0.1:9090"})).ok());
  ASSERT_TRUE(service_->Put("blue", MakeUpstream("gone", {"127.0.0.1:1"})).ok());
  auto last = service_->Delete("blue", "gone");
  ASSERT_TRUE(last.ok());
  const std::string blue = State("blue");
  const std::string green = State("green");
  Reopen();
  EXPECT_EQ(State("blue"), blue);
  EXPECT_EQ(State("green"), green);
  // The version counter continues where it was.
  auto next = service_->Put("green", MakeUpstream("more", {"127.0.0.1:2"}));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->version(), last->version() + 1);
}

std::vector<std::string> Names(const std::vector<Upstream>& upstreams) {
  std::vector<std::string> names;
  for (const auto& upstream : upstreams) names.push_back(upstream.name());
  return names;
}

// dyups lists upstreams in the order of their slots (ngx_http_dyups_module
// b29a7c5): a replaced one moves to a new slot at the end, a deleted one
// frees its slot, new ones (adopted ones too) take the free slot with the
// highest number; the slots survive a restart.
TEST_F(UpstreamServiceTest, SlotsFollowDyupsAndSurviveARestart) {
  for (const char* name : {"host1", "host2", "dyhost"}) {
    ASSERT_TRUE(service_->Put("", MakeUpstream(name, {"127.0.0.1:8088"})).ok());
  }
  ASSERT_TRUE(service_->Put("", MakeUpstream("HOST1", {"127.0.0.1:9000"})).ok());
  EXPECT_EQ(Names(service_->ListInCreationOrder("")),
            (std::vector<std::string>{"host2", "dyhost", "HOST1"}));
  ASSERT_TRUE(service_->Delete("", "host2").ok());
  // Slots: free, free, dyhost, HOST1. b takes slot 1, a slot 0.
  ASSERT_TRUE(
      service_->Adopt("", {MakeUpstream("b", {"127.0.0.1:1"}), MakeUpstream("a", {"127.0.0.1:1"})})
          .ok());
  ASSERT_TRUE(service_->Put("", MakeUpstream("host2", {"127.0.0.1:8089"})).ok());
  const std::vector<std::string> order = {"a", "b", "dyhost", "HOST1", "host2"};
  EXPECT_EQ(Names(service_->ListInCreationOrder("")), order);
  EXPECT_EQ(Names(service_->List("")),
            (std::vector<std::string>{"a", "b", "dyhost", "HOST1", "host2"}));
  Reopen();
  EXPECT_EQ(Names(service_->ListInCreationOrder("default")), order);
  EXPECT_TRUE(service_->ListInCreationOrder("other").empty());
}

// Server changes keep an upstream's slot; a replace whose own slot is the
// highest free one stays there; freed slots at the end stay counted across
// a restart, so a new upstream goes after every other one, not into a
// free slot between them.
TEST_F(UpstreamServiceTest, SlotsOfChangesReplacesAndTrailingFreeSlots) {
  for (const char* name : {"u0", "u1", "u2", "u3"}) {
    ASSERT_TRUE(service_->Put("", MakeUpstream(name, {"127.0.0.1:8088"})).ok());
  }
  nginx_xds::v1::Server added;
  added.set_address("127.0.0.1:8089");
  ASSERT_TRUE(service_->AddServer("", "u0", added).ok());
  EXPECT_EQ(Names(service_->ListInCreationOrder("")),
            (std::vector<std::string>{"u0", "u1", "u2", "u3"}));
  // Slot 0 free: u2's own slot (2) is the highest free one once it is freed.
  ASSERT_TRUE(service_->Delete("", "u0").ok());
  ASSERT_TRUE(service_->Put("", MakeUpstream("u2", {"127.0.0.1:9000"})).ok());
  EXPECT_EQ(Names(service_->ListInCreationOrder("")), (std::vector<std::string>{"u1", "u2", "u3"}));
  // Free: 0 and 3 (at the end). After a restart the new one takes slot 3.
  ASSERT_TRUE(service_->Delete("", "u3").ok());
  Reopen();
  ASSERT_TRUE(service_->Put("", MakeUpstream("new", {"127.0.0.1:1"})).ok());
  EXPECT_EQ(Names(service_->ListInCreationOrder("")),
            (std::vector<std::string>{"u1", "u2", "new"}));
  ASSERT_TRUE(service_->Put("", MakeUpstream("newer", {"127.0.0.1:1"})).ok());
  EXPECT_EQ(Names(service_->ListInCreationOrder("")),
            (std::vector<std::string>{"newer", "u1", "u2", "new"}));
}

// Validate that FindByZone matches the zone exactly and refuses a zone
// several upstreams share (FAILED_PRECONDITION naming them).
TEST_F(UpstreamServiceTest, FindByZoneMatchesExactlyAndRefusesAmbiguity) {
  Upstream zoned = MakeUpstream("backends", {"127.0.0.1:8080"});
  zoned.set_zone("zone_for_backends");
  ASSERT_TRUE(service_->Put("", zoned).ok());
  auto found = service_->FindByZone("", "zone_for_backends");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->name(), "backends");
  EXPECT_EQ(service_->FindByZone("", "ZONE_FOR_BACKENDS").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->FindByZone("", "backends").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->FindByZone("", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->FindByZone("other", "zone_for_backends").status().code(),
            absl::StatusCode::kNotFound);
  zoned.set_name("twin");
  ASSERT_TRUE(service_->Put("", zoned).ok());
  auto ambiguous = service_->FindByZone("", "zone_for_backends");
  EXPECT_EQ(ambiguous.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(ambiguous.status().message()),
              ::testing::HasSubstr("is shared by upstreams \"backends\", \"twin\""));
}

// dyups' POST replaces what a body can say and keeps the rest.
TEST_F(UpstreamServiceTest, ReplaceKeepsZoneAndNameSpelling) {
  Upstream zoned = MakeUpstream("Backends", {"127.0.0.1:8080"});
  zoned.set_zone("zone_for_backends");
  zoned.set_keepalive(8);
  ASSERT_TRUE(service_->Put("", zoned).ok());
  auto replaced = service_->Replace("", MakeUpstream("BACKENDS", {"127.0.0.1:9090"}));
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(replaced->upstream().name(), "Backends");
  auto stored = service_->Get("", "backends");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->name(), "Backends");
  EXPECT_EQ(stored->zone(), "zone_for_backends");
  EXPECT_EQ(stored->keepalive(), 0u);
  EXPECT_EQ(stored->servers(0).address(), "127.0.0.1:9090");
  // A new one is created as given; a bad one changes nothing.
  ASSERT_TRUE(service_->Replace("", MakeUpstream("dyhost", {"127.0.0.1:1"})).ok());
  EXPECT_EQ(service_->Get("", "dyhost")->zone(), "");
  const std::string before = State();
  EXPECT_EQ(service_->Replace("", MakeUpstream("dyhost", {"127.0.0.1:0"})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Replace("", MakeUpstream("dyhost", {})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(State(), before);
}

}  // namespace
}  // namespace nginx_xds
