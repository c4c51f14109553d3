// The agent's Delta path end to end: XdsClient over real gRPC on loopback
// against the real control plane (in process, SQLite in $TEST_TMPDIR).

#include <unistd.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/snapshot_file.h"
#include "agent/xds_client.h"
#include "controlplane/control_plane.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstreamOnPort;

constexpr absl::Duration kWait = absl::Seconds(20);

// Collects what the client hands over and logs; rejects the upstreams named
// in `reject` one by one (as nginx does for one it cannot apply).
class Embedder {
 public:
  explicit Embedder(std::set<std::string> reject = {}) : reject_(std::move(reject)) {}
  // Rejects each upstream for which `reject` holds.
  explicit Embedder(std::function<bool(const nginx_xds::v1::Upstream&)> reject)
      : reject_if_(std::move(reject)) {}

  XdsClient::SnapshotHandler Handler() {
    return [this](const nginx_xds::v1::Snapshot& snapshot, bool from_cache,
                  SnapshotVerdict verdict) {
      std::vector<nginx_xds::v1::RejectedUpstream> rejected;
      for (const auto& upstream : snapshot.upstreams()) {
        if (reject_.count(upstream.name()) || (reject_if_ && reject_if_(upstream))) {
          nginx_xds::v1::RejectedUpstream each;
          each.set_name(upstream.name());
          each.set_message("refused by the test");
          rejected.push_back(each);
        }
      }
      {
        absl::MutexLock lock(&mu_);
        handed_.push_back(snapshot);
        from_cache_.push_back(from_cache);
      }
      verdict.Done(absl::OkStatus(), rejected);
    };
  }

  XdsClient::LogHandler Logger() {
    return [this](AgentLogLevel level, const std::string& message) {
      std::fprintf(stderr, "agent log %d: %s\n", static_cast<int>(level), message.c_str());
      absl::MutexLock lock(&mu_);
      logs_.push_back(message);
    };
  }

  // Waits for a snapshot of `version`; the newest such one.
  std::optional<nginx_xds::v1::Snapshot> AwaitVersion(const std::string& version) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& each : handed_) {
        if (each.version() == version) return true;
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&seen), kWait)) return std::nullopt;
    std::optional<nginx_xds::v1::Snapshot> found;
    for (const auto& each : handed_) {
      if (each.version() == version) found = each;
    }
    return found;
  }

  // Waits until `count` log lines contain `text`.
  bool AwaitLog(const std::string& text, int count = 1) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return LogCount(text) >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kWait);
  }

  int log_count(const std::string& text) {
    absl::MutexLock lock(&mu_);
    return LogCount(text);
  }

  std::vector<nginx_xds::v1::Snapshot> handed() {
    absl::MutexLock lock(&mu_);
    return {handed_.begin(), handed_.end()};
  }

  std::vector<std::string> versions() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> versions;
    for (const auto& each : handed_) versions.push_back(each.version());
    return versions;
  }

 private:
  int LogCount(const std::string& text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int n = 0;
    for (const auto& line : logs_) n += absl::StrContains(line, text) ? 1 : 0;
    return n;
  }

  const std::set<std::string> reject_;
  const std::function<bool(const nginx_xds::v1::Upstream&)> reject_if_;
  absl::Mutex mu_;
  std::deque<nginx_xds::v1::Snapshot> handed_ ABSL_GUARDED_BY(mu_);
  std::deque<bool> from_cache_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> logs_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<ControlPlane> StartControlPlane() {
  ControlPlane::Options options = TestControlPlaneOptions(absl::ZeroDuration());
  auto cp = ControlPlane::Start(options);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? std::move(*cp) : nullptr;
}

// A control plane on the test's database: the first one starts it afresh; a
// later one loads what is there (the same state and versions, as a replica
// of the first; the two do not follow each other's writes).
std::unique_ptr<ControlPlane> StartReplica(bool fresh) {
  ControlPlane::Options options;
  if (fresh) {
    options = TestControlPlaneOptions(absl::ZeroDuration());  // removes the database
  } else {
    options.xds_listen = "127.0.0.1:0";
    options.admin_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.database_path = std::string(getenv("TEST_TMPDIR")) + "/" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                            ".db";
    options.ack_timeout = absl::ZeroDuration();
  }
  auto cp = ControlPlane::Start(options);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? std::move(*cp) : nullptr;
}

std::string Address(const ControlPlane& cp) {
  return absl::StrCat("127.0.0.1:", cp.xds_port());
}

XdsClientOptions Options(const std::string& server, const std::string& cache_path = "") {
  XdsClientOptions options;
  options.server = server;
  options.node_id = "delta-node";
  options.fleet = "web";
  options.cache_path = cache_path;
  options.backoff_initial = absl::Milliseconds(20);
  options.backoff_max = absl::Milliseconds(200);
  return options;
}

std::string Put(ControlPlane* cp, const nginx_xds::v1::Upstream& upstream) {
  auto result = cp->upstreams()->Put("web", upstream);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? std::to_string(result->version()) : "";
}

std::string Delete(ControlPlane* cp, const std::string& name) {
  auto result = cp->upstreams()->Delete("web", name);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? std::to_string(result->version()) : "";
}

std::set<std::string> Names(const nginx_xds::v1::Snapshot& snapshot) {
  std::set<std::string> names;
  for (const auto& upstream : snapshot.upstreams()) names.insert(upstream.name());
  return names;
}

const nginx_xds::v1::Upstream* Find(const nginx_xds::v1::Snapshot& snapshot,
                                    const std::string& name) {
  for (const auto& upstream : snapshot.upstreams()) {
    if (upstream.name() == name) return &upstream;
  }
  return nullptr;
}

std::string CachePath() {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                           ".cache";
  unlink(path.c_str());
  unlink(ChangeLogPath(path).c_str());
  return path;
}

// Validate the Delta path end to end: the first sync, then a changed upstream,
// a new one and a removed one, each version handed over in order, and the
// node ACKed at the newest version.
TEST(DeltaClientTest, SyncsChangesAndRemovals) {
  auto cp = StartControlPlane();
  ASSERT_NE(cp, nullptr);
  Put(cp.get(), MakeUpstreamOnPort("a", 8001));
  const std::string v2 = Put(cp.get(), MakeUpstreamOnPort("b", 8002));
  Embedder embedder;
  XdsClient client(Options(Address(*cp)), embedder.Handler(), embedder.Logger());
  ASSERT_TRUE(client.Start().ok());

  auto first = embedder.AwaitVersion(v2);
  ASSERT_TRUE(first);
  // Both halves of each upstream arrive in two responses; the snapshot that
  // completes them holds both.
  ASSERT_TRUE(embedder.AwaitLog("applied version " + v2 + " (2 upstreams,"));

  const std::string v3 = Put(cp.get(), MakeUpstreamOnPort("a", 9001));
  auto changed = embedder.AwaitVersion(v3);
  ASSERT_TRUE(changed);
  ASSERT_NE(Find(*changed, "a"), nullptr);
  EXPECT_EQ(Find(*changed, "a")->servers(0).address(), "127.0.0.1:9001");
  EXPECT_EQ(Names(*changed), (std::set<std::string>{"a", "b"}));

  const std::string v4 = Delete(cp.get(), "b");
  ASSERT_TRUE(embedder.AwaitLog("applied version " + v4 + " (1 upstreams,"));
  EXPECT_EQ(Names(*embedder.AwaitVersion(v4)), (std::set<std::string>{"a"}));

  AwaitNodeStatus(*cp->registry(), "delta-node", [&](const nginx_xds::v1::NodeStatus& status) {
    return std::to_string(status.acked_version()) == v4;
  });
  // A server change is a ClusterLoadAssignment alone: no Cluster was sent
  // after the first sync.
  EXPECT_EQ(embedder.log_count("received Cluster version " + v3), 0);
}

// Validate that an upstream nginx rejects is NACKed by name and kept out,
// the others apply, the control plane records the rejection, and a later
// write to another upstream is applied (the rejected version is not
// re-sent).
TEST(DeltaClientTest, OneRejectedUpstreamIsNackedAndTheRestApplies) {
  auto cp = StartControlPlane();
  ASSERT_NE(cp, nullptr);
  Put(cp.get(), MakeUpstreamOnPort("good", 8001));
  const std::string v2 = Put(cp.get(), MakeUpstreamOnPort("bad", 8002));
  Embedder embedder({"bad"});
  XdsClient client(Options(Address(*cp)), embedder.Handler(), embedder.Logger());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(embedder.AwaitLog("applied except 1 upstream: upstream \"bad\": refused by the test"));
  auto status = AwaitNodeStatus(*cp->registry(), "delta-node",
                                [](const nginx_xds::v1::NodeStatus& s) {
                                  return s.rejected_upstreams_size() > 0;
                                });
  ASSERT_GT(status.rejected_upstreams_size(), 0);
  EXPECT_EQ(status.rejected_upstreams(0).name(), "bad");

  const std::string v3 = Put(cp.get(), MakeUpstreamOnPort("good", 9001));
  auto next = embedder.AwaitVersion(v3);
  ASSERT_TRUE(next);
  ASSERT_NE(Find(*next, "good"), nullptr);
  EXPECT_EQ(Find(*next, "good")->servers(0).address(), "127.0.0.1:9001");
  // The rejected version of "bad" was handed over once and never sent again.
  int with_bad = 0;
  for (const auto& snapshot : embedder.handed()) with_bad += Find(snapshot, "bad") ? 1 : 0;
  EXPECT_EQ(with_bad, 1);
  // Fleet status still names it after the later write (each answer does).
  status = AwaitNodeStatus(*cp->registry(), "delta-node", [&](const nginx_xds::v1::NodeStatus& s) {
    return std::to_string(s.acked_version()) == v3;
  });
  ASSERT_EQ(status.rejected_upstreams_size(), 1);
  EXPECT_EQ(status.rejected_upstreams(0).name(), "bad");
}

// Validate that a new stream carries initial_resource_versions: when the
// replica it fails over to has the same state, nothing is re-sent and
// nothing handed over again; the next write there is applied (no version
// missed).
TEST(DeltaClientTest, FailsOverToTheNextServerWithoutResending) {
  auto first = StartReplica(/*fresh=*/true);
  ASSERT_NE(first, nullptr);
  Put(first.get(), MakeUpstreamOnPort("a", 8001));
  const std::string v2 = Put(first.get(), MakeUpstreamOnPort("b", 8002));
  // A second replica on the same database: same state, same versions.
  auto second = StartReplica(/*fresh=*/false);
  ASSERT_NE(second, nullptr);

  Embedder embedder;
  XdsClient client(Options(Address(*first) + "," + Address(*second)), embedder.Handler(),
                   embedder.Logger());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(embedder.AwaitLog("applied version " + v2 + " (2 upstreams,"));
  const size_t handed = embedder.handed().size();
  EXPECT_EQ(embedder.log_count("received Cluster version " + v2 + " nonce"), 1);

  first->Shutdown(absl::ZeroDuration());
  ASSERT_TRUE(embedder.AwaitLog("connected to " + Address(*second)));
  // The new replica answers each type once, with nothing the agent holds.
  ASSERT_TRUE(embedder.AwaitLog("with 0 resources and 0 removed", 2));
  AwaitNodeStatus(*second->registry(), "delta-node", [&](const nginx_xds::v1::NodeStatus& s) {
    return s.connected() && std::to_string(s.acked_version()) == v2;
  });
  EXPECT_EQ(embedder.handed().size(), handed);

  const std::string v3 = Put(second.get(), MakeUpstreamOnPort("c", 8003));
  auto next = embedder.AwaitVersion(v3);
  ASSERT_TRUE(next);
  EXPECT_EQ(Names(*next), (std::set<std::string>{"a", "b", "c"}));
}

// Validate that a restarted agent claims the resource versions of its cache
// file: the control plane sends nothing it holds, and the embedder still
// gets the whole state.
TEST(DeltaClientTest, RestartFromCacheFileResendsNothing) {
  auto cp = StartControlPlane();
  ASSERT_NE(cp, nullptr);
  const std::string cache = CachePath();
  Put(cp.get(), MakeUpstreamOnPort("a", 8001));
  const std::string v2 = Put(cp.get(), MakeUpstreamOnPort("b", 8002));
  {
    Embedder embedder;
    XdsClient client(Options(Address(*cp), cache), embedder.Handler(), embedder.Logger());
    ASSERT_TRUE(client.Start().ok());
    ASSERT_TRUE(embedder.AwaitLog("applied version " + v2 + " (2 upstreams,"));
    const std::string v3 = Put(cp.get(), MakeUpstreamOnPort("a", 9001));
    ASSERT_TRUE(embedder.AwaitLog("applied version " + v3));
  }
  absl::StatusOr<CachedState> cached = LoadCacheFile(cache);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->versions.size(), 2u);

  Embedder embedder;
  XdsClient client(Options(Address(*cp), cache), embedder.Handler(), embedder.Logger());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(embedder.AwaitLog("with 0 resources and 0 removed", 2));
  auto whole = embedder.AwaitVersion(cached->snapshot.version());
  ASSERT_TRUE(whole);
  EXPECT_EQ(Names(*whole), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(Find(*whole, "a")->servers(0).address(), "127.0.0.1:9001");
  EXPECT_EQ(embedder.log_count("with 1 resources"), 0);
}

// Validate SotW mode (--protocol=sotw) against the real control plane as it
// serves SotW today: the sync and each write are applied at their versions.
TEST(DeltaClientTest, SotwModeAgainstTheControlPlane) {
  auto cp = StartControlPlane();
  ASSERT_NE(cp, nullptr);
  Put(cp.get(), MakeUpstreamOnPort("a", 8001));
  const std::string v2 = Put(cp.get(), MakeUpstreamOnPort("b", 8002));
  Embedder embedder;
  XdsClientOptions options = Options(Address(*cp));
  options.protocol = XdsProtocol::kSotw;
  XdsClient client(options, embedder.Handler(), embedder.Logger());
  ASSERT_TRUE(client.Start().ok());
  auto first = embedder.AwaitVersion(v2);
  ASSERT_TRUE(first);
  EXPECT_EQ(Names(*first), (std::set<std::string>{"a", "b"}));
  const std::string v3 = Put(cp.get(), MakeUpstreamOnPort("a", 9001));
  auto changed = embedder.AwaitVersion(v3);
  ASSERT_TRUE(changed);
  EXPECT_EQ(Find(*changed, "a")->servers(0).address(), "127.0.0.1:9001");
  const std::string v4 = Delete(cp.get(), "b");
  auto removed = embedder.AwaitVersion(v4);
  ASSERT_TRUE(removed);
  EXPECT_EQ(Names(*removed), (std::set<std::string>{"a"}));
  AwaitNodeStatus(*cp->registry(), "delta-node", [&](const nginx_xds::v1::NodeStatus& status) {
    return std::to_string(status.acked_version()) == v4;
  });
}

// Validate that a first sync the control plane splits over several
// responses (at most 1 MiB each) is handed over once, whole: every upstream
// in the first snapshot.
TEST(DeltaClientTest, FirstSyncSplitOverResponsesIsHandedOverWhole) {
  auto cp = StartControlPlane();
  ASSERT_NE(cp, nullptr);
  constexpr int kUpstreams = 4000;
  std::vector<nginx_xds::v1::Upstream> upstreams;
  for (int i = 0; i < kUpstreams; ++i) {
    std::vector<std::string> servers;
    for (int s = 1; s <= 10; ++s) {
      servers.push_back(absl::StrCat("10.", i / 250, ".", i % 250, ".", s, ":80"));
    }
    upstreams.push_back(nginx_xds::testing::MakeUpstream(absl::StrCat("u", i), servers));
  }
  auto adopted = cp->upstreams()->Adopt("web", upstreams);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  Embedder embedder;
  XdsClient client(Options(Address(*cp)), embedder.Handler(), embedder.Logger());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(embedder.AwaitLog("applied version"));
  // More than one response per type came (the split is real) ...
  ASSERT_GE(embedder.log_count("received ClusterLoadAssignment"), 2);
  // ... and the first snapshot handed over held every upstream.
  const auto handed = embedder.handed();
  ASSERT_FALSE(handed.empty());
  EXPECT_EQ(handed.front().upstreams_size(), kUpstreams);
}

// Validate that a write changing both halves of an upstream (its method and
// its servers), rejected by nginx when the Cluster half arrives, stays
// rejected when the assignment half arrives: nginx never runs the new
// servers with the old method, a state nobody wrote.
TEST(DeltaClientTest, UpstreamRejectedAtAVersionStaysRejectedForItsOtherHalf) {
  auto cp = StartControlPlane();
  ASSERT_NE(cp, nullptr);
  const std::string v1 = Put(cp.get(), MakeUpstreamOnPort("dyhost", 8001));
  Embedder embedder([](const nginx_xds::v1::Upstream& upstream) {
    return upstream.method() == nginx_xds::v1::HASH;
  });
  XdsClient client(Options(Address(*cp)), embedder.Handler(), embedder.Logger());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(embedder.AwaitVersion(v1));

  nginx_xds::v1::Upstream hashed = MakeUpstreamOnPort("dyhost", 9001);
  hashed.set_method(nginx_xds::v1::HASH);
  hashed.set_hash_key("$request_uri");
  const std::string v2 = Put(cp.get(), hashed);
  // Both halves answered: the node's ACK state reaches v2 (with the NACK).
  AwaitNodeStatus(*cp->registry(), "delta-node", [&](const nginx_xds::v1::NodeStatus& s) {
    return std::to_string(s.acked_version()) == v2 && s.rejected_upstreams_size() == 1;
  });
  ASSERT_TRUE(embedder.AwaitLog("received ClusterLoadAssignment version " + v2));
  ASSERT_TRUE(embedder.AwaitLog("applied version " + v2, 2));
  for (const auto& snapshot : embedder.handed()) {
    const nginx_xds::v1::Upstream* dyhost = Find(snapshot, "dyhost");
    if (dyhost == nullptr || dyhost->method() == nginx_xds::v1::HASH) continue;
    EXPECT_EQ(dyhost->servers(0).address(), "127.0.0.1:8001")
        << "version " << snapshot.version() << " mixes the old method with the new servers";
  }
}

}  // namespace
}  // namespace nginx_xds
