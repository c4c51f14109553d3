// Staged rollouts end to end over real gRPC on loopback: the control plane,
// in-process agents (the C ABI the nginx module uses), the RolloutService
// gRPC API and the HTTP endpoints under /rollouts.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/control_plane.h"
#include "controlplane/rollout/rollout.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nginx_xds/v1/management.grpc.pb.h"
#include "tests/controlplane/test_agent.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;
using nginx_xds::v1::Rollout;
using nginx_xds::v1::RolloutResponse;
using nginx_xds::v1::Upstream;
using nginx_xds::v1::WriteResponse;
using ::testing::HasSubstr;

const std::vector<std::string> kOld = {"127.0.0.1:7001"};
const std::vector<std::string> kNew = {"127.0.0.1:7001", "127.0.0.1:7002"};

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = TestControlPlaneOptions(absl::Seconds(10));
    Start();
  }

  void Start() {
    auto cp = ControlPlane::Start(options_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", cp_->admin_port()),
                                       grpc::InsecureChannelCredentials());
    rollouts_ = nginx_xds::v1::RolloutService::NewStub(channel);
    upstreams_ = nginx_xds::v1::UpstreamService::NewStub(channel);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", cp_->http_port());
    http_->set_read_timeout(30, 0);
  }

  // Waits (bounded) until `count` nodes of `fleet` are connected.
  void AwaitConnected(const std::string& fleet, int count) {
    uint64_t seen = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      int connected = 0;
      const auto status = cp_->registry()->Status(fleet);
      for (const auto& node : status.nodes()) connected += node.connected();
      if (connected == count) return;
      seen = cp_->registry()->WaitForChange(seen, deadline);
    }
    FAIL() << "fleet " << fleet << " never had " << count << " connected nodes";
  }

  uint64_t Acked(const std::string& node) {
    const auto status = cp_->registry()->Status("");
    for (const auto& each : status.nodes()) {
      if (each.id() == node) return each.acked_version();
    }
    return 0;
  }

  // Waits (bounded) until `node` acknowledged `version`; returns what it acked.
  uint64_t AwaitAcked(const std::string& node, uint64_t version) {
    uint64_t seen = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (Acked(node) < version && absl::Now() < deadline) {
      seen = cp_->registry()->WaitForChange(seen, deadline);
    }
    return Acked(node);
  }

  // Waits (bounded) until `fleet`'s rollout is in `state`.
  Rollout AwaitState(const std::string& fleet, nginx_xds::v1::RolloutState state) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::StatusOr<Rollout> rollout;
    while (absl::Now() < deadline) {
      rollout = cp_->rollouts()->GetRollout(fleet);
      if (rollout.ok() && rollout->state() == state) return *rollout;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "rollout of " << fleet << " never reached "
                  << nginx_xds::v1::RolloutState_Name(state) << ": "
                  << (rollout.ok() ? rollout->DebugString() : rollout.status().ToString());
    return Rollout();
  }

  WriteResponse Write(const std::string& fleet, const Upstream& upstream) {
    nginx_xds::v1::PutUpstreamRequest request;
    request.set_fleet(fleet);
    *request.mutable_upstream() = upstream;
    WriteResponse response;
    grpc::ClientContext context;
    grpc::Status status = upstreams_->PutUpstream(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status Start(const std::string& fleet, std::vector<std::string> nodes, bool auto_promote,
                     Rollout* rollout) {
    nginx_xds::v1::StartRolloutRequest request;
    request.set_fleet(fleet);
    for (auto& node : nodes) request.add_canary_node_ids(node);
    request.set_auto_promote(auto_promote);
    grpc::ClientContext context;
    return rollouts_->StartRollout(&context, request, rollout);
  }

  grpc::Status Promote(const std::string& fleet, RolloutResponse* response, bool force = false) {
    nginx_xds::v1::PromoteRolloutRequest request;
    request.set_fleet(fleet);
    request.set_force(force);
    grpc::ClientContext context;
    return rollouts_->PromoteRollout(&context, request, response);
  }

  grpc::Status Abort(const std::string& fleet, RolloutResponse* response) {
    nginx_xds::v1::AbortRolloutRequest request;
    request.set_fleet(fleet);
    grpc::ClientContext context;
    return rollouts_->AbortRollout(&context, request, response);
  }

  grpc::Status Get(const std::string& fleet, Rollout* rollout) {
    nginx_xds::v1::GetRolloutRequest request;
    request.set_fleet(fleet);
    grpc::ClientContext context;
    return rollouts_->GetRollout(&context, request, rollout);
  }

  // Records every snapshot the cache tells one watcher about: what an ADS
  // stream of a node outside the canary group is sent. Publish tells the
  // watchers before a write returns, so a version the probe was not told
  // by then was sent to no such node (no sleep needed to prove it).
  class Probe : public SnapshotWatcher {
   public:
    void OnSnapshot(std::shared_ptr<const Snapshot> snapshot) override {
      absl::MutexLock lock(&mu_);
      told_.push_back(snapshot->version());
    }
    std::vector<uint64_t> told() const {
      absl::MutexLock lock(&mu_);
      return told_;
    }

   private:
    mutable absl::Mutex mu_;
    std::vector<uint64_t> told_;
  };

  // A probe watching `fleet` as a node that is in no canary group; returns
  // it and, in `serves`, the version such a node is served from now.
  std::shared_ptr<Probe> Watch(const std::string& fleet, uint64_t* serves = nullptr) {
    auto probe = std::make_shared<Probe>();
    const auto now = cp_->cache()->Watch(fleet, WatcherNode{"probe", {}}, probe);
    if (serves != nullptr) *serves = now->version();
    probes_.push_back(probe);
    return probe;
  }

  ControlPlane::Options options_;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<nginx_xds::v1::RolloutService::Stub> rollouts_;
  std::unique_ptr<nginx_xds::v1::UpstreamService::Stub> upstreams_;
  std::unique_ptr<httplib::Client> http_;
  std::vector<std::shared_ptr<Probe>> probes_;
};

// Validate that only the canary gets a write, a joining node gets stable, and
// promotion sends the canary version to everyone.
TEST_F(RolloutTest, CanaryGetsTheChangeOthersKeepStableUntilPromoted) {
  TestAgent canary("c1", "web", cp_->xds_port());
  TestAgent other("w1", "web", cp_->xds_port());
  AwaitConnected("web", 2);
  const uint64_t stable = Write("web", MakeUpstream("app", kOld)).version();

  Rollout rollout;
  ASSERT_TRUE(Start("web", {"c1"}, false, &rollout).ok());
  EXPECT_EQ(rollout.state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  EXPECT_EQ(rollout.stable_version(), stable);
  EXPECT_EQ(rollout.canary_version(), stable);

  // The write waits for the canary only, and says so; no node outside the
  // canary group is sent it.
  const auto outside = Watch("web");
  WriteResponse write = Write("web", MakeUpstream("app", kNew));
  EXPECT_TRUE(write.canary());
  EXPECT_EQ(write.connected_nodes(), 1u);
  EXPECT_EQ(write.acked_nodes(), 1u);
  EXPECT_EQ(canary.AwaitVersion(write.version(), "app"), kNew);
  EXPECT_TRUE(outside->told().empty());
  EXPECT_EQ(Acked("w1"), stable);

  // A node that joins mid-rollout is served the stable version.
  uint64_t served = 0;
  Watch("web", &served);
  EXPECT_EQ(served, stable);
  TestAgent joiner("w2", "web", cp_->xds_port());
  EXPECT_EQ(joiner.AwaitVersion(stable, "app"), kOld);
  AwaitConnected("web", 3);
  EXPECT_EQ(AwaitAcked("w2", stable), stable);

  // Fleet status shows the rollout (gRPC and HTTP).
  {
    nginx_xds::v1::FleetStatus status;
    nginx_xds::v1::GetFleetStatusRequest request;
    request.set_fleet("web");
    grpc::ClientContext context;
    auto fleet_stub = nginx_xds::v1::FleetService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", cp_->admin_port()), grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(fleet_stub->GetFleetStatus(&context, request, &status).ok());
    ASSERT_EQ(status.rollouts_size(), 1);
    EXPECT_EQ(status.rollouts(0).state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
    EXPECT_EQ(status.rollouts(0).canary_version(), write.version());
    ASSERT_EQ(status.rollouts(0).canary_nodes_size(), 1);
    EXPECT_EQ(status.rollouts(0).canary_nodes(0).acked_version(), write.version());
  }
  auto text = http_->Get("/fleet/status");
  ASSERT_TRUE(text);
  EXPECT_THAT(text->body, HasSubstr(absl::StrCat("  rollout of fleet web: CANARY, stable version ",
                                                 stable, ", canary version ", write.version(),
                                                 ", 1 of 1 connected canary nodes acked")));
  EXPECT_THAT(text->body, HasSubstr(absl::StrCat("    canary node c1: connected, acked version ",
                                                 write.version())));
  auto json = http_->Get("/fleet/status?format=json");
  ASSERT_TRUE(json);
  EXPECT_THAT(json->body, HasSubstr("\"rollouts\":[{\"fleet\":\"web\",\"state\":\"CANARY\""));

  RolloutResponse promoted;
  grpc::Status status = Promote("web", &promoted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(promoted.rollout().state(), nginx_xds::v1::ROLLOUT_STATE_PROMOTED);
  EXPECT_EQ(promoted.rollout().canary_version(), write.version());
  EXPECT_FALSE(promoted.write().canary());
  EXPECT_EQ(promoted.write().connected_nodes(), 3u);
  EXPECT_EQ(promoted.write().acked_nodes(), 3u);
  EXPECT_EQ(other.AwaitVersion(write.version(), "app"), kNew);
  EXPECT_EQ(joiner.AwaitVersion(write.version(), "app"), kNew);

  // Closed: writes go to everyone again.
  WriteResponse after = Write("web", MakeUpstream("app", kOld));
  EXPECT_FALSE(after.canary());
  EXPECT_EQ(after.acked_nodes(), 3u);
}

// Validate that auto_promote promotes once the canary acknowledged a write.
TEST_F(RolloutTest, AutoPromoteAfterTheCanaryAcks) {
  TestAgent canary("c1", "web", cp_->xds_port());
  TestAgent other("w1", "web", cp_->xds_port());
  AwaitConnected("web", 2);
  const uint64_t stable = Write("web", MakeUpstream("app", kOld)).version();
  Rollout rollout;
  ASSERT_TRUE(Start("web", {"c1"}, true, &rollout).ok());
  // Nothing written yet: nothing to promote, whatever the canary acked.
  // Promote applies the rollout thread's rules first, synchronously, so its
  // refusal shows that they do not promote either.
  RolloutResponse early;
  grpc::Status refused = Promote("web", &early);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("nothing to promote"));
  EXPECT_EQ(cp_->rollouts()->GetRollout("web")->state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  EXPECT_EQ(Acked("w1"), stable);

  WriteResponse write = Write("web", MakeUpstream("app", kNew));
  EXPECT_TRUE(write.canary());
  Rollout done = AwaitState("web", nginx_xds::v1::ROLLOUT_STATE_PROMOTED);
  EXPECT_EQ(done.canary_version(), write.version());
  EXPECT_EQ(other.AwaitVersion(write.version(), "app"), kNew);
}

// Validate that a canary NACK halts the rollout, promotion is refused until
// the canary acknowledges a newer write, and the others never see the bad one.
TEST_F(RolloutTest, CanaryNackHaltsAndPromoteIsRefused) {
  TestAgent canary("c1", "web", cp_->xds_port(), /*reject_upstream=*/"bad");
  TestAgent other("w1", "web", cp_->xds_port());
  AwaitConnected("web", 2);
  const uint64_t stable = Write("web", MakeUpstream("app", kOld)).version();
  Rollout rollout;
  ASSERT_TRUE(Start("web", {"c1"}, true, &rollout).ok());

  const auto outside = Watch("web");
  WriteResponse bad = Write("web", MakeUpstream("bad", kOld));
  EXPECT_TRUE(bad.canary());
  ASSERT_EQ(bad.rejections_size(), 1);
  EXPECT_EQ(bad.rejections(0).node(), "c1");
  Rollout halted = AwaitState("web", nginx_xds::v1::ROLLOUT_STATE_HALTED);
  EXPECT_EQ(halted.halt().node(), "c1");
  EXPECT_EQ(halted.halt().version(), bad.version());
  // Over Delta the node's NACK names the resources of the response it refused.
  EXPECT_EQ(halted.halt().message(), "upstream \"bad\": cannot apply upstream");

  for (bool force : {false, true}) {
    RolloutResponse promoted;
    grpc::Status status = Promote("web", &promoted, force);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(),
                HasSubstr(absl::StrCat("the rollout of fleet \"web\" is halted: node \"c1\" "
                                       "rejected version ",
                                       bad.version(), ": upstream \"bad\": cannot apply upstream")));
  }
  EXPECT_EQ(cp_->rollouts()->GetRollout("web")->state(), nginx_xds::v1::ROLLOUT_STATE_HALTED);
  EXPECT_TRUE(outside->told().empty());
  EXPECT_EQ(Acked("w1"), stable);
  auto text = http_->Get("/rollouts/web");
  ASSERT_TRUE(text);
  EXPECT_THAT(text->body, HasSubstr(absl::StrCat("  halted: node c1 rejected version ",
                                                 bad.version(),
                                                 ": upstream \"bad\": cannot apply upstream\n")));

  // A fix the canary takes resumes the rollout, which then auto-promotes.
  nginx_xds::v1::DeleteUpstreamRequest remove;
  remove.set_fleet("web");
  remove.set_name("bad");
  WriteResponse fixed;
  grpc::ClientContext context;
  ASSERT_TRUE(upstreams_->DeleteUpstream(&context, remove, &fixed).ok());
  EXPECT_EQ(fixed.acked_nodes(), 1u);
  Rollout done = AwaitState("web", nginx_xds::v1::ROLLOUT_STATE_PROMOTED);
  EXPECT_EQ(done.canary_version(), fixed.version());
  // The promoted state is what w1 already runs (it never had "bad"), so over
  // Delta nothing is sent to it: the control plane counts it as up to date.
  EXPECT_EQ(AwaitAcked("w1", fixed.version()), fixed.version());
  EXPECT_EQ(other.AwaitVersion(stable, "app"), kOld);
}

// Validate a canary that rejects, alone, an upstream the rollout wrote halts
// the rollout (that write is answered with its rejection), keeps it halted
// while writes to other upstreams are acknowledged, and its removal resumes
// it; an upstream rejected since before the rollout does not halt it.
TEST_F(RolloutTest, CanaryRejectingOneUpstreamHaltsOnlyForTheRolloutsChange) {
  TestAgent canary("c1", "web", cp_->xds_port(), /*reject_upstream=*/"bad",
                   /*reject_alone=*/true);
  TestAgent other("w1", "web", cp_->xds_port());
  AwaitConnected("web", 2);
  Write("web", MakeUpstream("app", kOld));
  // Rejected before the rollout: not the rollout's doing.
  Write("web", MakeUpstream("bad", kOld));
  Rollout rollout;
  ASSERT_TRUE(Start("web", {"c1"}, false, &rollout).ok());

  WriteResponse app = Write("web", MakeUpstream("app", kNew));
  EXPECT_TRUE(app.canary());
  EXPECT_EQ(app.acked_nodes(), 1u);
  EXPECT_EQ(app.rejections_size(), 0);
  EXPECT_EQ(canary.AwaitVersion(app.version(), "app"), kNew);
  // What the rollout thread decides on: no rejection by the canary.
  EXPECT_FALSE(CanaryRejection(*cp_->rollouts()->GetRollout("web")));

  WriteResponse bad = Write("web", MakeUpstream("bad", kNew));
  EXPECT_EQ(bad.acked_nodes(), 0u);
  ASSERT_EQ(bad.rejections_size(), 1);
  EXPECT_EQ(bad.rejections(0).node(), "c1");
  Rollout halted = AwaitState("web", nginx_xds::v1::ROLLOUT_STATE_HALTED);
  EXPECT_EQ(halted.halt().node(), "c1");
  EXPECT_EQ(halted.halt().message(), std::string("upstream \"bad\": ") + TestAgent::kAloneReason);

  WriteResponse more = Write("web", MakeUpstream("app", kOld));
  EXPECT_EQ(more.acked_nodes(), 1u);
  EXPECT_EQ(more.rejections_size(), 0);
  // The canary still rejects the rollout's change: it stays halted.
  EXPECT_TRUE(CanaryRejection(*cp_->rollouts()->GetRollout("web")));
  EXPECT_EQ(cp_->rollouts()->GetRollout("web")->state(), nginx_xds::v1::ROLLOUT_STATE_HALTED);

  nginx_xds::v1::DeleteUpstreamRequest remove;
  remove.set_fleet("web");
  remove.set_name("bad");
  WriteResponse fixed;
  grpc::ClientContext context;
  ASSERT_TRUE(upstreams_->DeleteUpstream(&context, remove, &fixed).ok());
  EXPECT_EQ(fixed.acked_nodes(), 1u);
  AwaitState("web", nginx_xds::v1::ROLLOUT_STATE_CANARY);
}

// Validate that aborting writes the stable upstreams back for everyone.
TEST_F(RolloutTest, AbortRevertsEveryone) {
  TestAgent canary("c1", "web", cp_->xds_port());
  TestAgent other("w1", "web", cp_->xds_port());
  AwaitConnected("web", 2);
  const uint64_t stable = Write("web", MakeUpstream("app", kOld)).version();
  Rollout rollout;
  ASSERT_TRUE(Start("web", {"c1"}, false, &rollout).ok());
  Write("web", MakeUpstream("app", kNew));
  const uint64_t added = Write("web", MakeUpstream("extra", kOld)).version();
  EXPECT_EQ(canary.AwaitVersion(added, "extra"), kOld);

  auto aborted = http_->Post("/rollouts/web/abort", "", "text/plain");
  ASSERT_TRUE(aborted);
  ASSERT_EQ(aborted->status, 200) << aborted->body;
  const uint64_t version = std::stoull(aborted->get_header_value("X-Xds-Version"));
  EXPECT_GT(version, added);
  EXPECT_EQ(aborted->get_header_value("X-Xds-Acked-Nodes"), "2");
  EXPECT_THAT(aborted->body,
              HasSubstr(absl::StrCat("rollout of fleet web: ABORTED, stable version ", stable,
                                     ", canary version ", version)));
  EXPECT_EQ(canary.AwaitVersion(version, "app"), kOld);
  EXPECT_EQ(canary.AwaitVersion(version, "extra"), std::vector<std::string>{});
  // w1 never left the stable upstreams, so the abort sends it nothing over
  // Delta; the control plane counts it as up to date.
  EXPECT_EQ(AwaitAcked("w1", version), version);
  EXPECT_EQ(other.AwaitVersion(stable, "app"), kOld);
  std::vector<std::string> names;
  for (const auto& upstream : cp_->upstreams()->List("web")) names.push_back(upstream.name());
  EXPECT_EQ(names, std::vector<std::string>{"app"});
  EXPECT_EQ(cp_->rollouts()->GetRollout("web")->state(), nginx_xds::v1::ROLLOUT_STATE_ABORTED);
}

// Validate that a rollout survives a restart of the control plane: the canary
// version goes to the canary only, stable to the others, and promotion works.
TEST_F(RolloutTest, RestartKeepsTheRollout) {
  uint64_t stable;
  uint64_t canary_version;
  {
    TestAgent canary("c1", "web", cp_->xds_port());
    TestAgent other("w1", "web", cp_->xds_port());
    AwaitConnected("web", 2);
    stable = Write("web", MakeUpstream("app", kOld)).version();
    Rollout rollout;
    ASSERT_TRUE(Start("web", {"c1"}, false, &rollout).ok());
    canary_version = Write("web", MakeUpstream("app", kNew)).version();
    EXPECT_EQ(canary.AwaitVersion(canary_version, "app"), kNew);
  }
  http_.reset();
  cp_.reset();
  Start();

  Rollout restored;
  ASSERT_TRUE(Get("web", &restored).ok());
  EXPECT_EQ(restored.state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  EXPECT_EQ(restored.stable_version(), stable);
  EXPECT_EQ(restored.canary_version(), canary_version);
  ASSERT_EQ(restored.canary_node_ids_size(), 1);

  // Restored pinned: a node outside the canary group is served stable.
  uint64_t served = 0;
  const auto outside = Watch("web", &served);
  EXPECT_EQ(served, stable);
  TestAgent canary("c1", "web", cp_->xds_port());
  TestAgent other("w1", "web", cp_->xds_port());
  EXPECT_EQ(canary.AwaitVersion(canary_version, "app"), kNew);
  EXPECT_EQ(other.AwaitVersion(stable, "app"), kOld);
  AwaitConnected("web", 2);
  EXPECT_TRUE(outside->told().empty());
  EXPECT_EQ(AwaitAcked("w1", stable), stable);
  // Promote without force needs the canary's ACK recorded, not just applied.
  EXPECT_EQ(AwaitAcked("c1", canary_version), canary_version);

  RolloutResponse promoted;
  grpc::Status status = Promote("web", &promoted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(other.AwaitVersion(canary_version, "app"), kNew);
}

// Validate that each bad request gets its clear error and changes nothing.
TEST_F(RolloutTest, GrpcBadInputGivesClearErrorsAndChangesNothing) {
  TestAgent canary("c1", "web", cp_->xds_port());
  AwaitConnected("web", 1);
  Write("web", MakeUpstream("app", kOld));
  Rollout rollout;
  RolloutResponse closed;

  grpc::Status status = Start("nope", {"c1"}, false, &rollout);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "fleet \"nope\" not found: it has no version to roll out from");
  status = Start("bad fleet", {"c1"}, false, &rollout);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  status = Start("web", {}, false, &rollout);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("a rollout needs a canary group"));
  status = Start("web", {"c1", "ghost"}, false, &rollout);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("node \"ghost\" is not a node of fleet \"web\""));
  status = Get("web", &rollout);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "fleet \"web\" has had no rollout");
  status = Promote("web", &closed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "fleet \"web\" has no open rollout");
  status = Abort("web", &closed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  ASSERT_TRUE(Start("web", {"c1"}, false, &rollout).ok());
  Rollout again;
  status = Start("web", {"c1"}, true, &again);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("fleet \"web\" already has an open rollout"));
  status = Promote("web", &closed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("nothing to promote"));
  Rollout now;
  ASSERT_TRUE(Get("web", &now).ok());
  EXPECT_EQ(now.state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  EXPECT_FALSE(now.auto_promote());
  EXPECT_EQ(now.stable_version(), rollout.stable_version());

  // Nothing written: aborting only closes it, without a new version.
  ASSERT_TRUE(Abort("web", &closed).ok());
  EXPECT_EQ(closed.rollout().state(), nginx_xds::v1::ROLLOUT_STATE_ABORTED);
  EXPECT_EQ(closed.write().version(), rollout.stable_version());
  status = Promote("web", &closed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// Validate the HTTP endpoints: text and JSON, and errors that change nothing.
TEST_F(RolloutTest, HttpEndpoints) {
  TestAgent canary("c1", "web", cp_->xds_port());
  TestAgent other("w1", "web", cp_->xds_port());
  AwaitConnected("web", 2);
  const uint64_t stable = Write("web", MakeUpstream("app", kOld)).version();
  struct Case {
    std::string method;
    std::string target;
    int status;
    std::string message;
  };
  const std::vector<Case> bad = {
      {"POST", "/rollouts/web", 400, "a rollout needs a canary group"},
      {"POST", "/rollouts/web?nodes=ghost", 404, "node \"ghost\" is not a node of fleet \"web\""},
      {"POST", "/rollouts/nope?nodes=c1", 404, "fleet \"nope\" not found"},
      {"POST", "/rollouts/web?nodes=c1&auto_promote=maybe", 400,
       "auto_promote \"maybe\" is not true or false"},
      {"POST", "/rollouts/web?nodes=c1&label=nokey", 400, "label \"nokey\" is not KEY=VALUE"},
      {"POST", "/rollouts/web?node=c1", 400, "unknown parameter \"node\""},
      {"POST", "/rollouts/web?nodes=,c1", 400, "has an empty node id"},
      {"GET", "/rollouts/web", 404, "fleet \"web\" has had no rollout"},
      {"GET", "/rollouts/web?format=xml", 400, "format \"xml\" is not json or text"},
      {"POST", "/rollouts/web/promote", 409, "fleet \"web\" has no open rollout"},
      {"POST", "/rollouts/web/abort", 409, "fleet \"web\" has no open rollout"},
      {"GET", "/rollouts/web/promote", 405, "use POST"},
      {"POST", "/rollouts", 405, "use GET, HEAD"},
      {"DELETE", "/rollouts/web", 405, "use GET, HEAD, POST"},
      {"POST", "/rollouts/web/retry", 404, "no endpoint \"/rollouts/web/retry\""},
  };
  for (const Case& each : bad) {
    httplib::Request request;
    request.method = each.method;
    request.path = each.target;
    auto result = http_->send(request);
    ASSERT_TRUE(result) << each.target;
    EXPECT_EQ(result->status, each.status) << each.method << " " << each.target << result->body;
    EXPECT_THAT(result->body, HasSubstr(each.message)) << each.method << " " << each.target;
  }
  EXPECT_EQ(cp_->rollouts()->Rollouts("").size(), 0u);

  auto started = http_->Post("/rollouts/web?nodes=c1&format=json", "", "text/plain");
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 200) << started->body;
  EXPECT_EQ(started->get_header_value("Content-Type"), "application/json");
  EXPECT_THAT(started->body,
              HasSubstr(absl::StrCat("{\"fleet\":\"web\",\"state\":\"CANARY\",\"stable_version\":",
                                     stable, ",\"canary_version\":", stable,
                                     ",\"canary_node_ids\":[\"c1\"],\"canary_labels\":{},"
                                     "\"auto_promote\":false")));
  auto again = http_->Post("/rollouts/web?nodes=w1", "", "text/plain");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  EXPECT_THAT(again->body, HasSubstr("already has an open rollout"));
  auto early = http_->Post("/rollouts/web/promote", "", "text/plain");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 409);
  EXPECT_THAT(early->body, HasSubstr("nothing to promote"));

  // A dyups write during the rollout: stored, sent to the canary, said so.
  auto posted = http_->Post("/upstream/app", {{"X-Xds-Fleet", "web"}},
                            "server 127.0.0.1:7001;server 127.0.0.1:7002;",
                            "application/x-www-form-urlencoded");
  ASSERT_TRUE(posted);
  ASSERT_EQ(posted->status, 200) << posted->body;
  EXPECT_EQ(posted->get_header_value("X-Xds-Rollout"), "canary");
  EXPECT_EQ(posted->get_header_value("X-Xds-Connected-Nodes"), "1");
  const uint64_t version = std::stoull(posted->get_header_value("X-Xds-Version"));
  EXPECT_EQ(canary.AwaitVersion(version, "app"), kNew);

  auto text = http_->Get("/rollouts/web");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200);
  EXPECT_EQ(text->body, absl::StrCat("rollout of fleet web: CANARY, stable version ", stable,
                                     ", canary version ", version,
                                     ", 1 of 1 connected canary nodes acked, canary node c1\n"
                                     "  canary node c1: connected, acked version ",
                                     version, "\n"));
  auto list = http_->Get("/rollouts?format=json");
  ASSERT_TRUE(list);
  EXPECT_THAT(list->body, HasSubstr("{\"rollouts\":[{\"fleet\":\"web\""));

  auto promoted = http_->Post("/rollouts/web/promote", "", "text/plain");
  ASSERT_TRUE(promoted);
  ASSERT_EQ(promoted->status, 200) << promoted->body;
  EXPECT_EQ(promoted->get_header_value("X-Xds-Version"), absl::StrCat(version));
  EXPECT_EQ(promoted->get_header_value("X-Xds-Acked-Nodes"), "2");
  EXPECT_THAT(promoted->body, HasSubstr("rollout of fleet web: PROMOTED"));
  EXPECT_EQ(other.AwaitVersion(version, "app"), kNew);
}

}  // namespace
}  // namespace nginx_xds
