#include "agent/snapshot_assembler.h"

#include <string>
#include <vector>

#include "common/xds_mapping.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/agent/test_resources.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::DiscoveryResponse;
using testing::ClusterResponse;
using ::testing::ElementsAre;
using testing::EndpointResponse;
using ::testing::IsEmpty;
using testing::NormalizedUpstreamOnPorts;

MATCHER_P3(IsNack, type_url, nonce, message, "") {
  return arg.type_url == type_url && arg.nonce == nonce && arg.message == message;
}

MATCHER_P2(IsAnswer, type_url, nonce, "") { return arg.type_url == type_url && arg.nonce == nonce; }

MATCHER_P(EqualsProto, expected, "") {
  return google::protobuf::util::MessageDifferencer::Equals(arg, expected);
}

class SnapshotAssemblerTest : public ::testing::Test {
 protected:
  // Offers a valid pair at `version` and commits it.
  void CommitPair(const std::string& version, const std::vector<nginx_xds::v1::Upstream>& ups) {
    EXPECT_FALSE(assembler_.Offer(ClusterResponse(version, "c" + version, ups)).candidate);
    auto outcome = assembler_.Offer(EndpointResponse(version, "e" + version, ups));
    ASSERT_TRUE(outcome.candidate);
    assembler_.Commit();
  }

  nginx_xds::v1::Upstream backends_ = NormalizedUpstreamOnPorts("backends", {6001, 6002});
  nginx_xds::v1::Upstream api_ = NormalizedUpstreamOnPorts("api", {7001});
  SnapshotAssembler assembler_;
};

// Validate a Cluster and ClusterLoadAssignment pair at one version yields the
// snapshot, answering both responses.
TEST_F(SnapshotAssemblerTest, SameVersionPairYieldsSnapshot) {
  auto outcome = assembler_.Offer(ClusterResponse("7", "n1", {backends_, api_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  EXPECT_FALSE(outcome.candidate);

  outcome = assembler_.Offer(EndpointResponse("7", "n2", {backends_, api_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.version(), "7");
  // Ordered by name.
  ASSERT_EQ(outcome.candidate->snapshot.upstreams_size(), 2);
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(0), EqualsProto(api_));
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(1), EqualsProto(backends_));
  EXPECT_THAT(outcome.candidate->answers,
              ElementsAre(IsAnswer(kClusterTypeUrl, "n1"), IsAnswer(kEndpointTypeUrl, "n2")));
  EXPECT_FALSE(assembler_.last_good());

  assembler_.Commit();
  ASSERT_TRUE(assembler_.last_good());
  EXPECT_EQ(assembler_.last_good()->version(), "7");
}

// Validate the order of the two types does not matter.
TEST_F(SnapshotAssemblerTest, EndpointsFirstAlsoYields) {
  EXPECT_FALSE(assembler_.Offer(EndpointResponse("1", "n1", {backends_})).candidate);
  auto outcome = assembler_.Offer(ClusterResponse("1", "n2", {backends_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->answers,
              ElementsAre(IsAnswer(kClusterTypeUrl, "n2"), IsAnswer(kEndpointTypeUrl, "n1")));
}

// Validate an empty set of upstreams is a valid snapshot.
TEST_F(SnapshotAssemblerTest, EmptySnapshot) {
  assembler_.Offer(ClusterResponse("1", "n1", {}));
  auto outcome = assembler_.Offer(EndpointResponse("1", "n2", {}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.upstreams_size(), 0);
}

// Validate a new cluster of the list waits for its assignment.
TEST_F(SnapshotAssemblerTest, OnlyCompleteSameVersionPairsYield) {
  CommitPair("1", {backends_});
  // Clusters at 2 wait for assignments at 2; the accepted ones are at 1.
  auto outcome = assembler_.Offer(ClusterResponse("2", "c2", {backends_, api_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  EXPECT_FALSE(outcome.candidate);
  outcome = assembler_.Offer(EndpointResponse("2", "e2", {backends_, api_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.upstreams_size(), 2);
}

// Validate a re-sent response of one type pairs with the accepted other type.
TEST_F(SnapshotAssemblerTest, ResentTypePairsWithAcceptedVersion) {
  CommitPair("1", {backends_});
  assembler_.ResetStream();
  auto outcome = assembler_.Offer(ClusterResponse("1", "c9", {backends_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->answers, ElementsAre(IsAnswer(kClusterTypeUrl, "c9")));
}

// Validate an unknown resource type is NACKed.
TEST_F(SnapshotAssemblerTest, UnknownTypeUrl) {
  DiscoveryResponse response = ClusterResponse("1", "n1", {});
  response.set_type_url("type.googleapis.com/envoy.config.listener.v3.Listener");
  auto outcome = assembler_.Offer(response);
  EXPECT_THAT(outcome.nacks,
              ElementsAre(IsNack("type.googleapis.com/envoy.config.listener.v3.Listener", "n1",
                                 "unknown type_url "
                                 "\"type.googleapis.com/envoy.config.listener.v3.Listener\"")));
}

// Validate a response without a version is NACKed.
TEST_F(SnapshotAssemblerTest, EmptyVersion) {
  auto outcome = assembler_.Offer(ClusterResponse("", "n1", {backends_}));
  EXPECT_THAT(outcome.nacks,
              ElementsAre(IsNack(kClusterTypeUrl, "n1", "the response has no version_info")));
}

// Validate every Any's type_url must match the response's.
TEST_F(SnapshotAssemblerTest, ResourceTypeMismatch) {
  DiscoveryResponse response = ClusterResponse("1", "n1", {backends_});
  *response.add_resources() = EndpointResponse("1", "x", {api_}).resources(0);
  auto outcome = assembler_.Offer(response);
  EXPECT_THAT(outcome.nacks,
              ElementsAre(IsNack(
                  kClusterTypeUrl, "n1",
                  "resource 1: type_url "
                  "\"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\" does "
                  "not match the response's type_url "
                  "\"type.googleapis.com/envoy.config.cluster.v3.Cluster\"")));
  EXPECT_FALSE(outcome.candidate);
}

// Validate every Any must decode.
TEST_F(SnapshotAssemblerTest, UndecodableResource) {
  DiscoveryResponse response = EndpointResponse("1", "n1", {backends_});
  response.mutable_resources(0)->set_value("\xff\xff\xff");
  auto outcome = assembler_.Offer(response);
  EXPECT_THAT(outcome.nacks,
              ElementsAre(IsNack(
                  kEndpointTypeUrl, "n1",
                  "resource 0: cannot decode envoy.config.endpoint.v3.ClusterLoadAssignment")));
}

// Validate resource names are unique, compared as nginx does (case-insensitively).
TEST_F(SnapshotAssemblerTest, DuplicateNames) {
  nginx_xds::v1::Upstream upper = backends_;
  upper.set_name("BACKENDS");
  auto outcome = assembler_.Offer(ClusterResponse("1", "n1", {backends_, upper}));
  EXPECT_THAT(outcome.nacks, ElementsAre(IsNack(kClusterTypeUrl, "n1",
                                                "resource 1: duplicate cluster \"BACKENDS\"")));
  outcome = assembler_.Offer(EndpointResponse("1", "n2", {api_, api_}));
  EXPECT_THAT(outcome.nacks,
              ElementsAre(IsNack(kEndpointTypeUrl, "n2",
                                 "resource 1: duplicate ClusterLoadAssignment \"api\"")));
}

// Validate a resource without a name is NACKed.
TEST_F(SnapshotAssemblerTest, NamelessResource) {
  nginx_xds::v1::Upstream nameless = backends_;
  nameless.clear_name();
  auto outcome = assembler_.Offer(ClusterResponse("1", "n1", {nameless}));
  EXPECT_THAT(outcome.nacks,
              ElementsAre(IsNack(kClusterTypeUrl, "n1", "resource 0: cluster has no name")));
}

MATCHER_P2(IsRejected, name, message, "") { return arg.name() == name && arg.message() == message; }

// Validate a cluster of the list without its assignment makes no snapshot
// yet: its assignment completes it (and answers both responses).
TEST_F(SnapshotAssemblerTest, ClusterWaitsForItsAssignment) {
  assembler_.Offer(ClusterResponse("3", "n1", {backends_, api_}));
  auto outcome = assembler_.Offer(EndpointResponse("3", "n2", {backends_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  EXPECT_FALSE(outcome.candidate);
  outcome = assembler_.Offer(EndpointResponse("3", "n3", {api_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(),
              ElementsAre(EqualsProto(api_), EqualsProto(backends_)));
  EXPECT_THAT(outcome.candidate->rejected, IsEmpty());
  EXPECT_THAT(outcome.candidate->answers,
              ElementsAre(IsAnswer(kClusterTypeUrl, "n1"), IsAnswer(kEndpointTypeUrl, "n3")));
}

// Validate an assignment for a cluster not in the list is ignored.
TEST_F(SnapshotAssemblerTest, AssignmentWithoutClusterIsIgnored) {
  assembler_.Offer(ClusterResponse("3", "n1", {backends_}));
  auto outcome = assembler_.Offer(EndpointResponse("3", "n2", {backends_, api_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(), ElementsAre(EqualsProto(backends_)));
  EXPECT_THAT(outcome.candidate->rejected, IsEmpty());
}

// Validate SotW to the letter: assignment responses carrying only what
// changed are merged by name, and each makes a snapshot at its version
// without a Cluster response.
TEST_F(SnapshotAssemblerTest, ChangedAssignmentsAloneAreMergedByName) {
  CommitPair("1", {backends_, api_});
  const auto api2 = NormalizedUpstreamOnPorts("api", {7002});
  auto outcome = assembler_.Offer(EndpointResponse("2", "e2", {api2}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.version(), "2");
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(),
              ElementsAre(EqualsProto(api2), EqualsProto(backends_)));
  EXPECT_THAT(outcome.candidate->answers, ElementsAre(IsAnswer(kEndpointTypeUrl, "e2")));
  assembler_.Commit();
}

// Validate SotW to the letter: a Cluster list sent alone (a Cluster changed,
// no assignment did) makes a snapshot at its version, and a cluster removed
// from the list drops its assignment.
TEST_F(SnapshotAssemblerTest, ClusterListAloneMakesASnapshotAndDropsRemoved) {
  CommitPair("1", {backends_, api_});
  auto outcome = assembler_.Offer(ClusterResponse("2", "c2", {backends_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.version(), "2");
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(), ElementsAre(EqualsProto(backends_)));
  assembler_.Commit();
  // api is back in the list: its old assignment is gone, so it waits for one.
  EXPECT_FALSE(assembler_.Offer(ClusterResponse("3", "c3", {backends_, api_})).candidate);
  outcome = assembler_.Offer(EndpointResponse("3", "e3", {api_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(),
              ElementsAre(EqualsProto(api_), EqualsProto(backends_)));
}

// Validate a server that sends both types whole at every version: an
// unchanged Cluster list at a new version waits for the assignments of that
// version (one snapshot per version, not a mix of two).
TEST_F(SnapshotAssemblerTest, UnchangedClusterListWaitsForItsAssignments) {
  CommitPair("1", {backends_, api_});
  const auto api2 = NormalizedUpstreamOnPorts("api", {7002});
  EXPECT_FALSE(assembler_.Offer(ClusterResponse("2", "c2", {backends_, api2})).candidate);
  auto outcome = assembler_.Offer(EndpointResponse("2", "e2", {backends_, api2}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(),
              ElementsAre(EqualsProto(api2), EqualsProto(backends_)));
  EXPECT_THAT(outcome.candidate->answers,
              ElementsAre(IsAnswer(kClusterTypeUrl, "c2"), IsAnswer(kEndpointTypeUrl, "e2")));
}

// Validate FromXds errors reach the upstream's rejection precisely, and the
// other upstreams are still offered.
TEST_F(SnapshotAssemblerTest, BadEndpointPort) {
  DiscoveryResponse endpoints = EndpointResponse("3", "n2", {backends_, api_});
  // The resources are in the order given.
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  ASSERT_TRUE(endpoints.resources(0).UnpackTo(&assignment));
  ASSERT_EQ(assignment.cluster_name(), "backends");
  assignment.mutable_endpoints(1)
      ->mutable_lb_endpoints(0)
      ->mutable_endpoint()
      ->mutable_address()
      ->mutable_socket_address()
      ->set_port_value(0);
  endpoints.mutable_resources(0)->PackFrom(assignment);

  assembler_.Offer(ClusterResponse("3", "n1", {backends_, api_}));
  auto outcome = assembler_.Offer(endpoints);
  EXPECT_THAT(outcome.nacks, IsEmpty());
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->snapshot.upstreams(), ElementsAre(EqualsProto(api_)));
  EXPECT_THAT(outcome.candidate->rejected,
              ElementsAre(IsRejected("backends", "endpoint 1: port 0 out of range 1-65535")));
}

// Validate an invalid upstream keeps its last good state (WithoutRejected
// over the last good snapshot) while the rest of its version is offered, and
// a later version fixing it assembles whole.
TEST_F(SnapshotAssemblerTest, LastGoodKeptForRejectedUpstream) {
  CommitPair("1", {backends_, api_});
  nginx_xds::v1::Upstream bad = api_;
  bad.mutable_servers(0)->set_weight(1000001);  // above kMaxWeight
  nginx_xds::v1::Upstream moved = NormalizedUpstreamOnPorts("backends", {6003});
  assembler_.Offer(ClusterResponse("2", "c2", {moved, bad}));
  auto outcome = assembler_.Offer(EndpointResponse("2", "e2", {moved, bad}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  ASSERT_TRUE(outcome.candidate);
  ASSERT_EQ(outcome.candidate->rejected.size(), 1u);
  EXPECT_EQ(outcome.candidate->rejected[0].name(), "api");
  const nginx_xds::v1::Snapshot applied = WithoutRejected(
      outcome.candidate->snapshot, outcome.candidate->rejected, &*assembler_.last_good());
  EXPECT_EQ(applied.version(), "2");
  EXPECT_THAT(applied.upstreams(), ElementsAre(EqualsProto(api_), EqualsProto(moved)));
  assembler_.Commit(applied);
  EXPECT_THAT(*assembler_.last_good(), EqualsProto(applied));

  assembler_.Offer(ClusterResponse("3", "c3", {backends_, api_}));
  outcome = assembler_.Offer(EndpointResponse("3", "e3", {backends_, api_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->rejected, IsEmpty());
  assembler_.Commit();
  EXPECT_EQ(assembler_.last_good()->version(), "3");
}

// Validate a rejected upstream that is new stays absent, and the NACK text
// has a line `upstream "NAME": reason` per upstream, the reason without the
// name twice.
TEST_F(SnapshotAssemblerTest, WithoutRejectedDropsNewAndFormatsMessage) {
  nginx_xds::v1::Snapshot offered;
  offered.set_version("4");
  *offered.add_upstreams() = api_;
  *offered.add_upstreams() = backends_;
  nginx_xds::v1::Snapshot previous;
  *previous.add_upstreams() = NormalizedUpstreamOnPorts("BACKENDS", {6009});
  std::vector<nginx_xds::v1::RejectedUpstream> rejected(2);
  rejected[0].set_name("api");
  rejected[0].set_message(ReasonAbout("api", "upstream \"api\": zone \"z\" is full"));
  rejected[1].set_name("backends");
  rejected[1].set_message("no servers but backups");
  const nginx_xds::v1::Snapshot applied = WithoutRejected(offered, rejected, &previous);
  EXPECT_THAT(applied.upstreams(), ElementsAre(EqualsProto(previous.upstreams(0))));
  EXPECT_EQ(RejectedUpstreamsMessage(rejected),
            "upstream \"api\": zone \"z\" is full\n"
            "upstream \"backends\": no servers but backups");
}

// Validate the embedder's rejection keeps the last good snapshot and forgets
// the rejected responses.
TEST_F(SnapshotAssemblerTest, RejectKeepsLastGood) {
  CommitPair("1", {backends_});
  assembler_.Offer(ClusterResponse("2", "c2", {api_}));
  ASSERT_TRUE(assembler_.Offer(EndpointResponse("2", "e2", {api_})).candidate);
  assembler_.Reject();
  EXPECT_EQ(assembler_.last_good()->version(), "1");
  EXPECT_FALSE(assembler_.has_candidate());
  // Resending only clusters at 1 pairs with the accepted assignments at 1.
  auto outcome = assembler_.Offer(ClusterResponse("1", "c1b", {backends_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.upstreams(0).name(), "backends");
}

// Validate an invalid response also NACKs the other type's pending response
// of the same version, so the server is never left waiting for an answer.
TEST_F(SnapshotAssemblerTest, InvalidResponseNacksPendingOtherType) {
  assembler_.Offer(ClusterResponse("5", "c5", {backends_}));
  DiscoveryResponse endpoints = EndpointResponse("5", "e5", {backends_, backends_});
  auto outcome = assembler_.Offer(endpoints);
  const std::string message = "resource 1: duplicate ClusterLoadAssignment \"backends\"";
  EXPECT_THAT(outcome.nacks, ElementsAre(IsNack(kEndpointTypeUrl, "e5", message),
                                         IsNack(kClusterTypeUrl, "c5", message)));
}

// Validate responses of the two types at different versions complete each
// other (SotW versions are per response); the snapshot has the newest one.
TEST_F(SnapshotAssemblerTest, DifferentVersionsCompleteEachOther) {
  assembler_.Offer(ClusterResponse("5", "c5", {backends_}));
  auto outcome = assembler_.Offer(EndpointResponse("6", "e6", {backends_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  EXPECT_THAT(outcome.superseded, IsEmpty());
  ASSERT_TRUE(outcome.candidate);
  EXPECT_EQ(outcome.candidate->snapshot.version(), "6");
  EXPECT_THAT(outcome.candidate->answers,
              ElementsAre(IsAnswer(kClusterTypeUrl, "c5"), IsAnswer(kEndpointTypeUrl, "e6")));
}

// Validate an invalid response at another version supersedes the other
// type's pending response rather than NACKing it.
TEST_F(SnapshotAssemblerTest, InvalidResponseAtOtherVersionSupersedesPending) {
  assembler_.Offer(ClusterResponse("5", "c5", {backends_}));
  auto outcome = assembler_.Offer(EndpointResponse("6", "e6", {backends_, backends_}));
  EXPECT_THAT(outcome.nacks,
              ElementsAre(IsNack(kEndpointTypeUrl, "e6",
                                 "resource 1: duplicate ClusterLoadAssignment \"backends\"")));
  EXPECT_THAT(outcome.superseded, ElementsAre(IsAnswer(kClusterTypeUrl, "c5")));
}

// Validate a newer response of the same type replaces a pending one silently.
TEST_F(SnapshotAssemblerTest, NewerResponseReplacesPending) {
  assembler_.Offer(ClusterResponse("5", "c5", {backends_}));
  auto outcome = assembler_.Offer(ClusterResponse("6", "c6", {backends_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  outcome = assembler_.Offer(EndpointResponse("6", "e6", {backends_}));
  ASSERT_TRUE(outcome.candidate);
  EXPECT_THAT(outcome.candidate->answers,
              ElementsAre(IsAnswer(kClusterTypeUrl, "c6"), IsAnswer(kEndpointTypeUrl, "e6")));
}

// Validate pending responses die with their stream.
TEST_F(SnapshotAssemblerTest, ResetStreamDropsPending) {
  assembler_.Offer(ClusterResponse("5", "c5", {backends_}));
  assembler_.ResetStream();
  auto outcome = assembler_.Offer(EndpointResponse("5", "e5", {backends_}));
  EXPECT_THAT(outcome.nacks, IsEmpty());
  EXPECT_FALSE(outcome.candidate);
}

// Validate nothing is accepted while a candidate awaits its verdict.
TEST_F(SnapshotAssemblerTest, NoOfferWhileCandidateOutstanding) {
  assembler_.Offer(ClusterResponse("1", "c1", {backends_}));
  ASSERT_TRUE(assembler_.Offer(EndpointResponse("1", "e1", {backends_})).candidate);
  auto outcome = assembler_.Offer(ClusterResponse("2", "c2", {backends_}));
  EXPECT_EQ(outcome.nacks.size(), 1u);
  EXPECT_FALSE(outcome.candidate);
}

}  // namespace
}  // namespace nginx_xds
