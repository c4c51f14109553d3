// DeltaAssembler's rules, one per test, on responses built in memory.

#include "agent/delta_assembler.h"

#include <set>
#include <string>
#include <vector>

#include "common/xds_mapping.h"
#include "gtest/gtest.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using nginx_xds::testing::NormalizedUpstreamOnPorts;

// A response of `type_url` at system version `version` carrying each
// upstream's resource of that type, versioned "<name>@<port of its first
// server>", and removing `removed`.
DeltaDiscoveryResponse Response(const std::string& type_url, const std::string& version,
                                const std::vector<nginx_xds::v1::Upstream>& upstreams,
                                const std::vector<std::string>& removed = {}) {
  DeltaDiscoveryResponse response;
  response.set_type_url(type_url);
  response.set_system_version_info(version);
  response.set_nonce("n" + version + type_url.substr(type_url.size() - 3));
  for (const auto& upstream : upstreams) {
    auto* resource = response.add_resources();
    resource->set_name(upstream.name());
    resource->set_version(upstream.name() + "@" + upstream.servers(0).address());
    if (type_url == kClusterTypeUrl) {
      resource->mutable_resource()->PackFrom(ToCluster(upstream));
    } else {
      resource->mutable_resource()->PackFrom(ToLoadAssignment(upstream));
    }
  }
  for (const auto& name : removed) response.add_removed_resources(name);
  return response;
}

std::set<std::string> Names(const nginx_xds::v1::Snapshot& snapshot) {
  std::set<std::string> names;
  for (const auto& upstream : snapshot.upstreams()) names.insert(upstream.name());
  return names;
}

// Applies both halves of `upstreams` at `version`, each committed.
void Sync(DeltaAssembler* assembler, const std::string& version,
          const std::vector<nginx_xds::v1::Upstream>& upstreams) {
  for (const char* type_url : {kClusterTypeUrl, kEndpointTypeUrl}) {
    auto outcome = assembler->Offer(Response(type_url, version, upstreams));
    ASSERT_FALSE(outcome.nack) << *outcome.nack;
    ASSERT_TRUE(outcome.candidate);
    assembler->Commit();
  }
}

// Validate that an upstream is complete only with both halves: the Cluster
// alone makes no upstream and says so; the assignment completes it.
TEST(DeltaAssemblerTest, UpstreamNeedsClusterAndAssignment) {
  DeltaAssembler assembler;
  const auto a = NormalizedUpstreamOnPorts("a", {8001});
  auto outcome = assembler.Offer(Response(kClusterTypeUrl, "1", {a}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_TRUE(outcome.candidate->incomplete);
  EXPECT_FALSE(outcome.candidate->upstreams_changed);
  EXPECT_EQ(outcome.candidate->snapshot.upstreams_size(), 0);
  assembler.Commit();
  outcome = assembler.Offer(Response(kEndpointTypeUrl, "1", {a}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_TRUE(outcome.candidate->upstreams_changed);
  EXPECT_EQ(Names(outcome.candidate->snapshot), (std::set<std::string>{"a"}));
  EXPECT_EQ(outcome.candidate->snapshot.version(), "1");
  EXPECT_EQ(outcome.candidate->nonce, "n1ent");
}

// Validate that a response changing one upstream leaves the others as held
// and carries them in the snapshot.
TEST(DeltaAssemblerTest, ChangeOfOneKeepsTheOthers) {
  DeltaAssembler assembler;
  Sync(&assembler, "1",
       {NormalizedUpstreamOnPorts("a", {8001}), NormalizedUpstreamOnPorts("b", {8002})});
  auto outcome =
      assembler.Offer(Response(kEndpointTypeUrl, "2", {NormalizedUpstreamOnPorts("a", {9001})}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_TRUE(outcome.candidate->upstreams_changed);
  const auto& snapshot = outcome.candidate->snapshot;
  ASSERT_EQ(snapshot.upstreams_size(), 2);
  EXPECT_EQ(snapshot.upstreams(0).servers(0).address(), "127.0.0.1:9001");
  EXPECT_EQ(snapshot.upstreams(1).servers(0).address(), "127.0.0.1:8002");
  assembler.Commit();
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("a"), "a@127.0.0.1:9001");
}

// Validate that one resource that cannot be decoded is rejected by its name
// alone: the others of the response apply, and it keeps its held version.
TEST(DeltaAssemblerTest, BadResourceIsRejectedAloneAndTheRestApplies) {
  DeltaAssembler assembler;
  Sync(&assembler, "1",
       {NormalizedUpstreamOnPorts("a", {8001}), NormalizedUpstreamOnPorts("b", {8002})});
  auto response = Response(kEndpointTypeUrl, "2",
                           {NormalizedUpstreamOnPorts("a", {9001}),
                            NormalizedUpstreamOnPorts("b", {9002})});
  response.mutable_resources(1)->mutable_resource()->set_value("\xff\xff not a proto");
  auto outcome = assembler.Offer(response);
  ASSERT_FALSE(outcome.nack);
  ASSERT_TRUE(outcome.candidate);
  ASSERT_EQ(outcome.candidate->rejected.size(), 1u);
  EXPECT_EQ(outcome.candidate->rejected[0].name(), "b");
  EXPECT_NE(outcome.candidate->rejected[0].message().find("cannot decode"), std::string::npos);
  const auto& snapshot = outcome.candidate->snapshot;
  ASSERT_EQ(snapshot.upstreams_size(), 2);
  EXPECT_EQ(snapshot.upstreams(0).servers(0).address(), "127.0.0.1:9001");
  EXPECT_EQ(snapshot.upstreams(1).servers(0).address(), "127.0.0.1:8002");
  assembler.Commit();
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("b"), "b@127.0.0.1:8002");
}

// Validate that an upstream whose resources fail validation (here: an
// assignment naming another cluster) is rejected alone.
TEST(DeltaAssemblerTest, MismatchedNameIsRejectedAlone) {
  DeltaAssembler assembler;
  auto response = Response(kClusterTypeUrl, "1", {NormalizedUpstreamOnPorts("a", {8001})});
  response.mutable_resources(0)->set_name("other");
  auto outcome = assembler.Offer(response);
  ASSERT_TRUE(outcome.candidate);
  ASSERT_EQ(outcome.candidate->rejected.size(), 1u);
  EXPECT_EQ(outcome.candidate->rejected[0].name(), "other");
  assembler.Commit();
  EXPECT_TRUE(assembler.HeldVersions(kClusterTypeUrl).empty());
}

// Validate that a response wrong as a whole is NACKed and changes nothing.
TEST(DeltaAssemblerTest, ResponseWithoutSystemVersionIsNackedWhole) {
  DeltaAssembler assembler;
  Sync(&assembler, "1", {NormalizedUpstreamOnPorts("a", {8001})});
  auto response = Response(kEndpointTypeUrl, "", {NormalizedUpstreamOnPorts("a", {9001})});
  auto outcome = assembler.Offer(response);
  ASSERT_TRUE(outcome.nack);
  EXPECT_FALSE(outcome.candidate);
  EXPECT_FALSE(assembler.has_candidate());
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("a"), "a@127.0.0.1:8001");
}

// Validate that removing the Cluster removes the upstream, and the removal
// of its assignment after that changes nothing more.
TEST(DeltaAssemblerTest, RemovedResourcesRemoveTheUpstream) {
  DeltaAssembler assembler;
  Sync(&assembler, "1",
       {NormalizedUpstreamOnPorts("a", {8001}), NormalizedUpstreamOnPorts("b", {8002})});
  auto outcome = assembler.Offer(Response(kClusterTypeUrl, "2", {}, {"b"}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_TRUE(outcome.candidate->upstreams_changed);
  EXPECT_EQ(Names(outcome.candidate->snapshot), (std::set<std::string>{"a"}));
  assembler.Commit();
  outcome = assembler.Offer(Response(kEndpointTypeUrl, "2", {}, {"b"}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_FALSE(outcome.candidate->upstreams_changed);
  EXPECT_FALSE(outcome.candidate->incomplete);
  assembler.Commit();
  EXPECT_EQ(assembler.HeldVersions(kClusterTypeUrl).count("b"), 0u);
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).count("b"), 0u);
}

// Validate that Reject() forgets the response: the held versions are those
// before it, and the next snapshot is built from them.
TEST(DeltaAssemblerTest, RejectForgetsTheResponse) {
  DeltaAssembler assembler;
  Sync(&assembler, "1", {NormalizedUpstreamOnPorts("a", {8001})});
  ASSERT_TRUE(
      assembler.Offer(Response(kEndpointTypeUrl, "2", {NormalizedUpstreamOnPorts("a", {9001})}))
          .candidate);
  assembler.Reject();
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("a"), "a@127.0.0.1:8001");
  auto outcome = assembler.Offer(Response(kClusterTypeUrl, "3", {}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.upstreams(0).servers(0).address(), "127.0.0.1:8001");
}

// Validate that an upstream the embedder rejects keeps its held versions
// (so a new stream does not claim the rejected one) and its last good state.
TEST(DeltaAssemblerTest, EmbedderRejectionKeepsTheLastGoodState) {
  DeltaAssembler assembler;
  Sync(&assembler, "1",
       {NormalizedUpstreamOnPorts("a", {8001}), NormalizedUpstreamOnPorts("b", {8002})});
  ASSERT_TRUE(assembler
                  .Offer(Response(kEndpointTypeUrl, "2",
                                  {NormalizedUpstreamOnPorts("a", {9001}),
                                   NormalizedUpstreamOnPorts("b", {9002})}))
                  .candidate);
  nginx_xds::v1::RejectedUpstream rejected;
  rejected.set_name("b");
  assembler.Commit({rejected});
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("a"), "a@127.0.0.1:9001");
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("b"), "b@127.0.0.1:8002");
  auto outcome = assembler.Offer(Response(kClusterTypeUrl, "3", {}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.upstreams(1).servers(0).address(), "127.0.0.1:8002");
}

// Validate that Seed() holds a cached state's resources with their versions,
// and that a response naming the same versions changes nothing.
TEST(DeltaAssemblerTest, SeedHoldsTheCachedVersions) {
  DeltaAssembler assembler;
  nginx_xds::v1::Snapshot cached;
  cached.set_version("7");
  *cached.add_upstreams() = NormalizedUpstreamOnPorts("a", {8001});
  assembler.Seed(cached, {{"a", {"ca", "ea"}}});
  EXPECT_EQ(assembler.HeldVersions(kClusterTypeUrl).at("a"), "ca");
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("a"), "ea");
  auto outcome = assembler.Offer(Response(kClusterTypeUrl, "7", {}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_FALSE(outcome.candidate->upstreams_changed);
  EXPECT_EQ(Names(outcome.candidate->snapshot), (std::set<std::string>{"a"}));
  // The resources rebuilt from the upstream give the upstream back.
  assembler.Commit();
  outcome = assembler.Offer(Response(kClusterTypeUrl, "8", {NormalizedUpstreamOnPorts("a", {8001})}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_FALSE(outcome.candidate->upstreams_changed);
}

// Validate `refuse`: an upstream the caller rejected at this version is
// rejected again by name, its resources of the response not held.
TEST(DeltaAssemblerTest, RefusedUpstreamIsRejectedAgain) {
  DeltaAssembler assembler;
  Sync(&assembler, "1", {NormalizedUpstreamOnPorts("a", {8001})});
  auto outcome = assembler.Offer(
      Response(kEndpointTypeUrl, "2", {NormalizedUpstreamOnPorts("a", {9001})}), true,
      {{"a", "refused at version 2"}});
  ASSERT_TRUE(outcome.candidate);
  ASSERT_EQ(outcome.candidate->rejected.size(), 1u);
  EXPECT_EQ(outcome.candidate->rejected[0].message(), "refused at version 2");
  EXPECT_TRUE(outcome.candidate->changes.empty());
  EXPECT_EQ(outcome.candidate->snapshot.upstreams(0).servers(0).address(), "127.0.0.1:8001");
  assembler.Commit();
  EXPECT_EQ(assembler.HeldVersions(kEndpointTypeUrl).at("a"), "a@127.0.0.1:8001");
}

}  // namespace
}  // namespace nginx_xds
