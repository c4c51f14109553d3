// Tests of the C ABI (agent/xds_agent.h) against a fake ADS server (state of
// the world) and, for Delta (the default), the real control plane.

#include "agent/xds_agent.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/snapshot_file.h"
#include "common/xds_mapping.h"
#include "controlplane/control_plane.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/fake_ads_server.h"
#include "tests/agent/test_resources.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using testing::ClusterResponse;
using testing::EndpointResponse;
using testing::FakeAdsServer;
using ::testing::HasSubstr;
using testing::kWait;
using testing::NormalizedUpstreamOnPorts;

// What the handler saw of one snapshot, read through the accessors.
struct Seen {
  std::string version;
  bool from_cache = false;
  std::vector<nxa_upstream_t> upstreams;  // string pointers cleared
  std::vector<std::string> names;
  std::vector<std::string> zones;
  std::vector<std::string> hash_keys;
  std::vector<std::vector<nxa_server_t>> servers;
  std::vector<std::vector<std::string>> addresses;
  bool is_delta = false;
  std::vector<std::string> removed;
};

// An embedder as the nginx module would be: it answers each snapshot with
// the current verdict, or holds it unanswered.
class CEmbedder {
 public:
  static void OnSnapshot(void* ctx, nxa_snapshot_t* snapshot) {
    static_cast<CEmbedder*>(ctx)->Take(snapshot);
  }

  void SetVerdict(int status, std::string error) {
    absl::MutexLock lock(&mu_);
    status_ = status;
    error_ = std::move(error);
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }

  // Rejects the upstreams named `names` alone (nxa_snapshot_reject_upstream)
  // with `error`, as nginx does with an upstream it cannot apply.
  void RejectUpstreams(std::vector<std::string> names, std::string error) {
    absl::MutexLock lock(&mu_);
    reject_names_ = std::move(names);
    reject_error_ = std::move(error);
  }

  std::optional<Seen> Next(absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !seen_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&any), timeout)) return std::nullopt;
    Seen s = std::move(seen_.front());
    seen_.pop_front();
    return s;
  }

  size_t count() {
    absl::MutexLock lock(&mu_);
    return seen_.size();
  }

 private:
  void Take(nxa_snapshot_t* snapshot) {
    Seen seen;
    seen.version = nxa_snapshot_version(snapshot);
    seen.from_cache = nxa_snapshot_from_cache(snapshot) != 0;
    seen.is_delta = nxa_snapshot_is_delta(snapshot) != 0;
    for (size_t i = 0; i < nxa_snapshot_removed_count(snapshot); ++i) {
      seen.removed.push_back(nxa_snapshot_removed(snapshot, i));
    }
    EXPECT_EQ(nxa_snapshot_removed(snapshot, seen.removed.size()), nullptr);
    for (size_t i = 0; i < nxa_snapshot_upstream_count(snapshot); ++i) {
      nxa_upstream_t u;
      EXPECT_EQ(nxa_snapshot_upstream(snapshot, i, &u), NXA_OK);
      seen.names.push_back(u.name);
      seen.zones.push_back(u.zone);
      seen.hash_keys.push_back(u.hash_key);
      u.name = u.zone = u.hash_key = nullptr;
      seen.upstreams.push_back(u);
      std::vector<nxa_server_t> servers;
      std::vector<std::string> addresses;
      for (size_t j = 0; j < u.nservers; ++j) {
        nxa_server_t s;
        EXPECT_EQ(nxa_snapshot_server(snapshot, i, j, &s), NXA_OK);
        addresses.push_back(s.address);
        s.address = nullptr;
        servers.push_back(s);
      }
      nxa_server_t none;
      EXPECT_EQ(nxa_snapshot_server(snapshot, i, u.nservers, &none), NXA_ERROR);
      seen.servers.push_back(servers);
      seen.addresses.push_back(addresses);
    }
    nxa_upstream_t none;
    EXPECT_EQ(nxa_snapshot_upstream(snapshot, nxa_snapshot_upstream_count(snapshot), &none),
              NXA_ERROR);

    int status;
    std::string error;
    bool hold;
    {
      absl::MutexLock lock(&mu_);
      for (size_t i = 0; i < seen.names.size(); ++i) {
        for (const std::string& name : reject_names_) {
          if (name == seen.names[i]) {
            EXPECT_EQ(nxa_snapshot_reject_upstream(snapshot, i, reject_error_.c_str()), NXA_OK);
          }
        }
      }
      seen_.push_back(std::move(seen));
      status = status_;
      error = error_;
      hold = hold_;
    }
    // The verdict may come from any thread: answer from this one.
    if (!hold) nxa_snapshot_done(snapshot, status, error.c_str());
  }

  absl::Mutex mu_;
  std::deque<Seen> seen_ ABSL_GUARDED_BY(mu_);
  int status_ ABSL_GUARDED_BY(mu_) = NXA_OK;
  std::string error_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> reject_names_ ABSL_GUARDED_BY(mu_);
  std::string reject_error_ ABSL_GUARDED_BY(mu_);
};

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : "/tmp";
  std::string path = absl::StrCat(base, "/xds_agent_test_XXXXXX");
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  return absl::StrCat(mkdtemp(buf.data()), "/", name);
}

// A port on 127.0.0.1 where nothing listens (connections are refused) until
// Release(), which frees it for a server.
class UnreachablePort {
 public:
  UnreachablePort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
      address_ = absl::StrCat("127.0.0.1:", port_);
    }
  }
  ~UnreachablePort() { Release(); }
  void Release() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
  std::string address_;
};

nxa_config_t Config(const std::string& server, CEmbedder* embedder,
                    const char* cache_path = nullptr) {
  nxa_config_t config = {};
  config.server = server.c_str();
  config.node_id = "node-c";
  config.fleet = "edge";
  config.cache_path = cache_path;
  config.on_snapshot = &CEmbedder::OnSnapshot;
  config.ctx = embedder;
  config.backoff_initial_ms = 20;
  config.backoff_max_ms = 200;
  // The fake server speaks state of the world; Delta has its own tests.
  config.sotw = 1;
  config.on_log = [](void*, int level, const char* msg) {
    std::fprintf(stderr, "agent log %d: %s\n", level, msg);
  };
  return config;
}

nxa_agent_t* StartAgent(const nxa_config_t& config) {
  char err[256] = "";
  nxa_agent_t* agent = nullptr;
  EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_OK) << err;
  if (agent != nullptr) {
    EXPECT_EQ(nxa_agent_start(agent), NXA_OK);
  }
  return agent;
}

// Destroys `agent` on another thread; fails the test, without hanging it,
// when destroy never returns.
void DestroyReturns(nxa_agent_t* agent) {
  absl::Notification returned;
  std::thread destroyer([&] {
    nxa_agent_destroy(agent);
    returned.Notify();
  });
  if (!returned.WaitForNotificationWithTimeout(kWait)) {
    ADD_FAILURE() << "nxa_agent_destroy did not return";
    std::fflush(stdout);
    _exit(1);
  }
  destroyer.join();
}

DiscoveryRequest Next(FakeAdsServer& server) {
  std::optional<FakeAdsServer::Received> received = server.NextRequest();
  EXPECT_TRUE(received.has_value()) << "no request from the agent";
  return received ? received->request : DiscoveryRequest();
}

void SendPair(FakeAdsServer& server, const std::string& version,
              const std::vector<nginx_xds::v1::Upstream>& upstreams) {
  ASSERT_TRUE(server.Send(ClusterResponse(version, "c" + version, upstreams)));
  ASSERT_TRUE(server.Send(EndpointResponse(version, "e" + version, upstreams)));
}

// Reads requests until an ACK or NACK answering `nonce`.
DiscoveryRequest AnswerTo(FakeAdsServer& server, const std::string& nonce) {
  for (;;) {
    std::optional<FakeAdsServer::Received> received = server.NextRequest();
    if (!received) {
      ADD_FAILURE() << "no answer to nonce " << nonce;
      return DiscoveryRequest();
    }
    if (received->request.response_nonce() == nonce) return received->request;
  }
}

// Validate the embedder's rejection (nxa_snapshot_done with NXA_ERROR)
// becomes a NACK of both responses carrying its message, and a later
// accepted version is ACKed.
TEST(XdsAgentTest, EmbedderRejectionBecomesNack) {
  FakeAdsServer server;
  CEmbedder embedder;
  embedder.SetVerdict(NXA_ERROR, "upstream \"backends\": no shared memory zone");
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder));
  Next(server);
  Next(server);
  EXPECT_EQ(nxa_agent_connected(agent), 1);
  SendPair(server, "1", {NormalizedUpstreamOnPorts("backends", {6001})});
  ASSERT_TRUE(embedder.Next());
  for (const char* nonce : {"c1", "e1"}) {
    DiscoveryRequest nack = AnswerTo(server, nonce);
    EXPECT_EQ(nack.version_info(), "");
    EXPECT_EQ(nack.error_detail().code(), 3);
    EXPECT_EQ(nack.error_detail().message(), "upstream \"backends\": no shared memory zone");
  }

  embedder.SetVerdict(NXA_OK, "");
  SendPair(server, "2", {NormalizedUpstreamOnPorts("backends", {6001, 6002})});
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->version, "2");
  for (const char* nonce : {"c2", "e2"}) {
    DiscoveryRequest ack = AnswerTo(server, nonce);
    EXPECT_EQ(ack.version_info(), "2");
    EXPECT_FALSE(ack.has_error_detail());
  }
  DestroyReturns(agent);
}

// The upstreams of the cache file at `path`, as "name=address,address".
std::vector<std::string> CachedUpstreams(const std::string& path, std::string* version) {
  std::vector<std::string> out;
  absl::StatusOr<nginx_xds::v1::Snapshot> saved = LoadSnapshotFile(path);
  EXPECT_TRUE(saved.ok()) << saved.status();
  if (!saved.ok()) return out;
  *version = saved->version();
  for (const auto& upstream : saved->upstreams()) {
    std::string line = absl::StrCat(upstream.name(), "=");
    for (int i = 0; i < upstream.servers_size(); ++i) {
      absl::StrAppend(&line, i == 0 ? "" : ",", upstream.servers(i).address());
    }
    out.push_back(line);
  }
  return out;
}

// Checks that `nack` rejects exactly the upstreams `names`, each with
// `reason`, in its message lines and its RejectedUpstreams detail.
void ExpectNamesRejected(const DiscoveryRequest& nack, const std::vector<std::string>& names,
                         const std::string& reason) {
  EXPECT_EQ(nack.error_detail().code(), 3);
  std::string message;
  for (const std::string& name : names) {
    absl::StrAppend(&message, message.empty() ? "" : "\n", "upstream \"", name, "\": ", reason);
  }
  EXPECT_EQ(nack.error_detail().message(), message);
  ASSERT_EQ(nack.error_detail().details_size(), 1);
  nginx_xds::v1::RejectedUpstreams detail;
  ASSERT_TRUE(nack.error_detail().details(0).UnpackTo(&detail));
  ASSERT_EQ(detail.upstreams_size(), static_cast<int>(names.size()));
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(detail.upstreams(i).name(), names[i]);
    EXPECT_EQ(detail.upstreams(i).message(), reason);
  }
}

// Validate an upstream the embedder rejects alone: every other upstream of
// the response is applied and cached, the rejected one keeps its last good
// state in the cache file (a new one stays out), the NACK names each with its
// reason (message lines and a RejectedUpstreams detail) and carries the last
// version applied whole; a later response that still has the bad upstream
// applies its other changes the same way, and one the embedder takes whole
// is ACKed again.
TEST(XdsAgentTest, SingleUpstreamRejectionAppliesTheRest) {
  const std::string cache = TempPath("snapshot.cache");
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder, cache.c_str()));
  Next(server);
  Next(server);
  SendPair(
      server, "1",
      {NormalizedUpstreamOnPorts("api", {7001}), NormalizedUpstreamOnPorts("backends", {6001})});
  ASSERT_TRUE(embedder.Next());
  EXPECT_EQ(AnswerTo(server, "c1").version_info(), "1");

  // nginx's message names the upstream already; the NACK does not twice.
  embedder.RejectUpstreams({"api"}, "upstream \"api\": zone \"z\" is full");
  SendPair(server, "2",
           {NormalizedUpstreamOnPorts("api", {7002}),
            NormalizedUpstreamOnPorts("backends", {6001, 6002})});
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->addresses, (std::vector<std::vector<std::string>>{
                                 {"127.0.0.1:7002"}, {"127.0.0.1:6001", "127.0.0.1:6002"}}));
  for (const char* nonce : {"c2", "e2"}) {
    DiscoveryRequest nack = AnswerTo(server, nonce);
    EXPECT_EQ(nack.version_info(), "1");
    ExpectNamesRejected(nack, {"api"}, "zone \"z\" is full");
  }
  std::string version;
  EXPECT_EQ(
      CachedUpstreams(cache, &version),
      (std::vector<std::string>{"api=127.0.0.1:7001", "backends=127.0.0.1:6001,127.0.0.1:6002"}));
  EXPECT_EQ(version, "2");

  // Still bad, plus another change and a new upstream that is bad too.
  embedder.RejectUpstreams({"api", "fresh"}, "zone \"z\" is full");
  SendPair(server, "3",
           {NormalizedUpstreamOnPorts("api", {7002}), NormalizedUpstreamOnPorts("backends", {6003}),
            NormalizedUpstreamOnPorts("fresh", {8001})});
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->version, "3");
  for (const char* nonce : {"c3", "e3"}) {
    DiscoveryRequest nack = AnswerTo(server, nonce);
    EXPECT_EQ(nack.version_info(), "1");
    ExpectNamesRejected(nack, {"api", "fresh"}, "zone \"z\" is full");
  }
  EXPECT_EQ(CachedUpstreams(cache, &version),
            (std::vector<std::string>{"api=127.0.0.1:7001", "backends=127.0.0.1:6003"}));
  EXPECT_EQ(version, "3");

  embedder.RejectUpstreams({}, "");
  SendPair(
      server, "4",
      {NormalizedUpstreamOnPorts("api", {7004}), NormalizedUpstreamOnPorts("backends", {6003})});
  ASSERT_TRUE(embedder.Next());
  for (const char* nonce : {"c4", "e4"}) {
    DiscoveryRequest ack = AnswerTo(server, nonce);
    EXPECT_EQ(ack.version_info(), "4");
    EXPECT_FALSE(ack.has_error_detail());
  }
  EXPECT_EQ(CachedUpstreams(cache, &version),
            (std::vector<std::string>{"api=127.0.0.1:7004", "backends=127.0.0.1:6003"}));
  DestroyReturns(agent);
}

// Validate a rejection without a message still NACKs with a reason.
TEST(XdsAgentTest, RejectionWithoutMessage) {
  FakeAdsServer server;
  CEmbedder embedder;
  embedder.SetVerdict(NXA_ERROR, "");
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder));
  Next(server);
  Next(server);
  SendPair(server, "1", {NormalizedUpstreamOnPorts("backends", {6001})});
  DiscoveryRequest nack = AnswerTo(server, "c1");
  EXPECT_EQ(nack.error_detail().message(), "rejected by nginx");
  DestroyReturns(agent);
}

// Validate the accessors expose every field of every upstream and server.
TEST(XdsAgentTest, SnapshotAccessors) {
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder));
  Next(server);
  Next(server);

  auto hashed = NormalizedUpstreamOnPorts("hashed", {6001, 6002});
  hashed.set_method(nginx_xds::v1::HASH);
  hashed.set_hash_key("$request_uri");
  hashed.set_hash_consistent(true);
  hashed.set_keepalive(16);
  hashed.set_keepalive_requests(500);
  hashed.mutable_servers(0)->set_weight(5);
  hashed.mutable_servers(0)->set_max_conns(100);
  hashed.mutable_servers(1)->set_down(true);
  hashed.mutable_servers(1)->set_max_fails(0);
  auto plain = NormalizedUpstreamOnPorts("plain", {7001, 7002});
  plain.mutable_servers(1)->set_backup(true);
  plain.mutable_servers(1)->set_fail_timeout(30);
  plain.set_zone("");
  plain.set_method(nginx_xds::v1::LEAST_CONN);
  SendPair(server, "9", {plain, hashed});

  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->version, "9");
  EXPECT_FALSE(seen->from_cache);
  ASSERT_EQ(seen->names, (std::vector<std::string>{"hashed", "plain"}));
  EXPECT_EQ(seen->zones, (std::vector<std::string>{"zone_for_hashed", ""}));
  EXPECT_EQ(seen->hash_keys, (std::vector<std::string>{"$request_uri", ""}));
  const nxa_upstream_t& h = seen->upstreams[0];
  EXPECT_EQ(h.method, NXA_METHOD_HASH);
  EXPECT_EQ(h.hash_consistent, 1);
  EXPECT_EQ(h.keepalive, 16u);
  EXPECT_EQ(h.keepalive_requests, 500u);
  EXPECT_EQ(h.keepalive_time_ms, 3600u * 1000);
  EXPECT_EQ(h.keepalive_timeout_ms, 60u * 1000);
  EXPECT_EQ(h.nservers, 2u);
  EXPECT_EQ(seen->upstreams[1].method, NXA_METHOD_LEAST_CONN);
  EXPECT_EQ(seen->addresses[0], (std::vector<std::string>{"127.0.0.1:6001", "127.0.0.1:6002"}));
  EXPECT_EQ(seen->addresses[1], (std::vector<std::string>{"127.0.0.1:7001", "127.0.0.1:7002"}));
  const auto& s = seen->servers[0];
  EXPECT_EQ(s[0].weight, 5u);
  EXPECT_EQ(s[0].max_conns, 100u);
  EXPECT_EQ(s[0].max_fails, 1u);
  EXPECT_EQ(s[0].fail_timeout, 10u);
  EXPECT_EQ(s[0].down, 0);
  EXPECT_EQ(s[0].backup, 0);
  EXPECT_EQ(s[1].down, 1);
  EXPECT_EQ(s[1].max_fails, 0u);
  EXPECT_EQ(seen->servers[1][0].backup, 0);
  EXPECT_EQ(seen->servers[1][1].backup, 1);
  EXPECT_EQ(seen->servers[1][1].fail_timeout, 30u);
  DestroyReturns(agent);
}

// Validate the cache file is written by the time the ACK is sent, and that an
// agent that cannot reach the control plane hands the cached snapshot over
// (from_cache) once.
TEST(XdsAgentTest, CacheWrittenAfterAckAndHandedOverWhenUnreachable) {
  const std::string cache = TempPath("snapshot.cache");
  {
    FakeAdsServer server;
    CEmbedder embedder;
    nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder, cache.c_str()));
    Next(server);
    Next(server);
    SendPair(server, "3", {NormalizedUpstreamOnPorts("backends", {6001, 6002})});
    ASSERT_TRUE(embedder.Next());
    AnswerTo(server, "c3");
    absl::StatusOr<nginx_xds::v1::Snapshot> saved = LoadSnapshotFile(cache);
    ASSERT_TRUE(saved.ok()) << saved.status();
    EXPECT_EQ(saved->version(), "3");
    DestroyReturns(agent);
  }
  {
    UnreachablePort unreachable;
    ASSERT_FALSE(unreachable.address().empty());
    CEmbedder embedder;
    nxa_agent_t* agent = StartAgent(Config(unreachable.address(), &embedder, cache.c_str()));
    std::optional<Seen> seen = embedder.Next();
    ASSERT_TRUE(seen);
    EXPECT_TRUE(seen->from_cache);
    EXPECT_EQ(seen->version, "3");
    EXPECT_EQ(nxa_agent_connected(agent), 0);
    EXPECT_EQ(seen->names, (std::vector<std::string>{"backends"}));
    EXPECT_EQ(seen->addresses[0], (std::vector<std::string>{"127.0.0.1:6001", "127.0.0.1:6002"}));
    DestroyReturns(agent);
    // Handed over once, however many attempts failed.
    EXPECT_EQ(embedder.count(), 0u);
  }
}

// Validate that with a reachable control plane the cache file is not handed
// over and its version is not claimed (version_info stays empty), so the
// control plane sends the current version for the embedder to apply.
TEST(XdsAgentTest, ReachableServerIsNotToldTheUnappliedCachedVersion) {
  const std::string cache = TempPath("snapshot.cache");
  nginx_xds::v1::Snapshot cached;
  cached.set_version("3");
  *cached.add_upstreams() = NormalizedUpstreamOnPorts("backends", {6001});
  ASSERT_TRUE(SaveSnapshotFile(cache, cached).ok());

  FakeAdsServer server;
  CEmbedder embedder;
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder, cache.c_str()));
  DiscoveryRequest cds = Next(server);
  EXPECT_EQ(cds.version_info(), "");
  EXPECT_TRUE(cds.has_node());
  DiscoveryRequest eds = Next(server);
  EXPECT_EQ(eds.version_info(), "");
  SendPair(server, "3", {NormalizedUpstreamOnPorts("backends", {6001})});
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->version, "3");
  EXPECT_FALSE(seen->from_cache);
  DestroyReturns(agent);
}

// Validate that a snapshot handed over from the cache is never ACKed, and
// that once the control plane is up the agent reports the cached version it
// runs and ACKs an identical snapshot without handing it over again.
TEST(XdsAgentTest, CachedSnapshotIsNotAckedAndItsVersionIsReported) {
  const std::string cache = TempPath("snapshot.cache");
  nginx_xds::v1::Snapshot cached;
  cached.set_version("5");
  *cached.add_upstreams() = NormalizedUpstreamOnPorts("backends", {6001});
  ASSERT_TRUE(SaveSnapshotFile(cache, cached).ok());

  UnreachablePort port;
  ASSERT_NE(port.port(), 0);
  CEmbedder embedder;
  nxa_agent_t* agent = StartAgent(Config(port.address(), &embedder, cache.c_str()));
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->from_cache);
  EXPECT_EQ(seen->version, "5");

  // The control plane comes up on the same port.
  port.Release();
  FakeAdsServer server(port.port());
  ASSERT_FALSE(server.address().empty());
  DiscoveryRequest cds = Next(server);
  EXPECT_TRUE(cds.has_node());
  EXPECT_EQ(cds.version_info(), "5");
  EXPECT_EQ(cds.response_nonce(), "");
  DiscoveryRequest eds = Next(server);
  EXPECT_EQ(eds.version_info(), "5");
  EXPECT_EQ(eds.response_nonce(), "");

  SendPair(server, "5", {NormalizedUpstreamOnPorts("backends", {6001})});
  for (const char* nonce : {"c5", "e5"}) {
    DiscoveryRequest ack = AnswerTo(server, nonce);
    EXPECT_EQ(ack.version_info(), "5");
    EXPECT_FALSE(ack.has_error_detail());
  }
  EXPECT_EQ(embedder.count(), 0u);
  DestroyReturns(agent);
}

// Validate a corrupt cache file is ignored rather than handed over.
TEST(XdsAgentTest, CorruptCacheIgnored) {
  const std::string cache = TempPath("snapshot.cache");
  FILE* f = std::fopen(cache.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("garbage", f);
  std::fclose(f);
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder, cache.c_str()));
  DiscoveryRequest cds = Next(server);
  EXPECT_EQ(cds.version_info(), "");
  DestroyReturns(agent);
}

// Validate destroy returns while the agent waits for a verdict that never
// comes; the snapshot handed over is released by destroy.
TEST(XdsAgentTest, DestroyWhileWaitingForVerdict) {
  FakeAdsServer server;
  CEmbedder embedder;
  embedder.Hold();
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder));
  Next(server);
  Next(server);
  SendPair(server, "1", {NormalizedUpstreamOnPorts("backends", {6001})});
  ASSERT_TRUE(embedder.Next());
  DestroyReturns(agent);
}

// Validate destroy returns while the agent blocks reading an idle stream.
TEST(XdsAgentTest, DestroyWhileStreamIdle) {
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder));
  Next(server);
  Next(server);
  DestroyReturns(agent);
}

// Validate destroy returns while the agent cannot reach the control plane.
TEST(XdsAgentTest, DestroyWhileUnreachable) {
  UnreachablePort unreachable;
  CEmbedder embedder;
  nxa_config_t config = Config(unreachable.address(), &embedder);
  config.backoff_initial_ms = 0;  // the defaults: a long backoff sleep
  config.backoff_max_ms = 0;
  nxa_agent_t* agent = StartAgent(config);
  DestroyReturns(agent);
  EXPECT_EQ(embedder.count(), 0u);
}

// Validate static upstreams reach the Node metadata and can only be added
// before start.
TEST(XdsAgentTest, StaticUpstreams) {
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_config_t config = Config(server.address(), &embedder);
  char err[256];
  nxa_agent_t* agent = nullptr;
  ASSERT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_OK) << err;

  nxa_upstream_t upstream = {};
  upstream.name = "from_conf";
  upstream.zone = "from_conf_zone";
  upstream.method = NXA_METHOD_IP_HASH;
  upstream.hash_key = "";
  upstream.keepalive = 8;
  nxa_server_t servers[2] = {};
  servers[0].address = "10.0.0.1:80";
  servers[0].weight = 3;
  servers[0].max_fails = 1;
  servers[0].fail_timeout = 10;
  servers[1].address = "10.0.0.2:80";
  servers[1].weight = 1;
  servers[1].backup = 1;
  upstream.nservers = 2;
  EXPECT_EQ(nxa_agent_add_static_upstream(agent, &upstream, servers), NXA_OK);
  EXPECT_EQ(nxa_agent_connected(agent), 0);  // not started

  nxa_upstream_t bad = upstream;
  bad.method = 42;
  EXPECT_EQ(nxa_agent_add_static_upstream(agent, &bad, servers), NXA_ERROR);
  bad = upstream;
  bad.name = "bad name!";
  EXPECT_EQ(nxa_agent_add_static_upstream(agent, &bad, servers), NXA_ERROR);
  EXPECT_EQ(nxa_agent_add_static_upstream(agent, nullptr, servers), NXA_ERROR);
  EXPECT_EQ(nxa_agent_add_static_upstream(agent, &upstream, nullptr), NXA_ERROR);

  ASSERT_EQ(nxa_agent_start(agent), NXA_OK);
  EXPECT_EQ(nxa_agent_start(agent), NXA_ERROR);
  EXPECT_EQ(nxa_agent_add_static_upstream(agent, &upstream, servers), NXA_ERROR);

  DiscoveryRequest cds = Next(server);
  const auto& statics = cds.node()
                            .metadata()
                            .fields()
                            .at("nginx")
                            .struct_value()
                            .fields()
                            .at("static_upstreams")
                            .list_value();
  ASSERT_EQ(statics.values_size(), 1);
  nginx_xds::v1::Upstream sent;
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(statics.values(0), &json).ok());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &sent).ok()) << json;
  EXPECT_EQ(sent.name(), "from_conf");
  EXPECT_EQ(sent.zone(), "from_conf_zone");
  EXPECT_EQ(sent.method(), nginx_xds::v1::IP_HASH);
  EXPECT_EQ(sent.keepalive(), 8u);
  ASSERT_EQ(sent.servers_size(), 2);
  EXPECT_EQ(sent.servers(0).address(), "10.0.0.1:80");
  EXPECT_EQ(sent.servers(0).weight(), 3u);
  EXPECT_TRUE(sent.servers(1).backup());
  DestroyReturns(agent);
}

// Validate labels reach the Node metadata as string fields, beside "nginx".
TEST(XdsAgentTest, LabelsAreNodeMetadataStrings) {
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_config_t config = Config(server.address(), &embedder);
  const nxa_label_t labels[] = {{"group", "canary"}, {"zone", "eu-1"}};
  config.labels = labels;
  config.nlabels = 2;
  char err[256];
  nxa_agent_t* agent = nullptr;
  ASSERT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_OK) << err;
  ASSERT_EQ(nxa_agent_start(agent), NXA_OK);
  DiscoveryRequest cds = Next(server);
  const auto& fields = cds.node().metadata().fields();
  ASSERT_EQ(fields.count("group"), 1u);
  EXPECT_EQ(fields.at("group").string_value(), "canary");
  EXPECT_EQ(fields.at("zone").string_value(), "eu-1");
  EXPECT_EQ(fields.count("nginx"), 1u);
  DestroyReturns(agent);
}

// Validate a label may not take the reserved key, be empty or come twice.
TEST(XdsAgentTest, BadLabelsAreRefusedByName) {
  CEmbedder embedder;
  const std::string nowhere = "127.0.0.1:1";
  char err[256];
  nxa_agent_t* agent = nullptr;
  struct Case {
    std::vector<nxa_label_t> labels;
    const char* error;
  };
  const Case cases[] = {
      {{{"nginx", "x"}}, "label key \"nginx\" is reserved or empty"},
      {{{"", "x"}}, "label key \"\" is reserved or empty"},
      {{{nullptr, "x"}}, "label key \"\" is reserved or empty"},
      {{{"group", "a"}, {"group", "b"}}, "label \"group\" is given twice"},
  };
  for (const Case& c : cases) {
    nxa_config_t config = Config(nowhere, &embedder);
    config.labels = c.labels.data();
    config.nlabels = c.labels.size();
    EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_ERROR) << c.error;
    EXPECT_STREQ(err, c.error);
    EXPECT_EQ(agent, nullptr);
  }
}

// Validate nxa_agent_create checks its configuration and reports why.
TEST(XdsAgentTest, CreateValidatesConfig) {
  CEmbedder embedder;
  const std::string nowhere = "127.0.0.1:1";  // outlives the configs that point at it
  char err[256];
  nxa_agent_t* agent = reinterpret_cast<nxa_agent_t*>(0x1);

  EXPECT_EQ(nxa_agent_create(nullptr, &agent, err, sizeof(err)), NXA_ERROR);
  EXPECT_EQ(agent, nullptr);
  EXPECT_STREQ(err, "no configuration");

  nxa_config_t config = Config(nowhere, &embedder);
  config.node_id = nullptr;
  EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_ERROR);
  EXPECT_STREQ(err, "no node_id");

  config = Config(nowhere, &embedder);
  config.server = "";
  EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_ERROR);
  EXPECT_THAT(err, HasSubstr("server"));

  // A list of replicas with an empty entry.
  config = Config(nowhere, &embedder);
  config.server = "127.0.0.1:1,,127.0.0.1:2";
  EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_ERROR);
  EXPECT_THAT(err, HasSubstr("empty entry"));

  config = Config(nowhere, &embedder);
  config.on_snapshot = nullptr;
  EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_ERROR);
  EXPECT_THAT(err, HasSubstr("on_snapshot"));

  config = Config(nowhere, &embedder);
  config.fleet = "no spaces allowed";
  EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_ERROR);
  EXPECT_THAT(err, HasSubstr("fleet"));

  // A short buffer is truncated, not overrun; a NULL one is allowed.
  char tiny[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(nxa_agent_create(nullptr, &agent, tiny, sizeof(tiny)), NXA_ERROR);
  EXPECT_STREQ(tiny, "no ");
  EXPECT_EQ(nxa_agent_create(nullptr, &agent, nullptr, 0), NXA_ERROR);
  EXPECT_EQ(nxa_agent_create(&config, nullptr, err, sizeof(err)), NXA_ERROR);

  // Defaults: no fleet, no user agent, no cache.
  config = Config(nowhere, &embedder);
  config.fleet = nullptr;
  ASSERT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_OK) << err;
  nxa_agent_destroy(agent);  // never started
}

// Validate the NULL-safe entry points.
TEST(XdsAgentTest, NullArguments) {
  nxa_agent_destroy(nullptr);
  EXPECT_EQ(nxa_agent_connected(nullptr), 0);
  EXPECT_EQ(nxa_agent_start(nullptr), NXA_ERROR);
  EXPECT_EQ(nxa_agent_add_static_upstream(nullptr, nullptr, nullptr), NXA_ERROR);
  EXPECT_STREQ(nxa_snapshot_version(nullptr), "");
  EXPECT_EQ(nxa_snapshot_from_cache(nullptr), 0);
  EXPECT_EQ(nxa_snapshot_upstream_count(nullptr), 0u);
  nxa_upstream_t u;
  EXPECT_EQ(nxa_snapshot_upstream(nullptr, 0, &u), NXA_ERROR);
  nxa_server_t s;
  EXPECT_EQ(nxa_snapshot_server(nullptr, 0, 0, &s), NXA_ERROR);
  nxa_snapshot_done(nullptr, NXA_OK, nullptr);
  EXPECT_EQ(nxa_snapshot_reject_upstream(nullptr, 0, "x"), NXA_ERROR);
}

// Validate config.deltas: the first snapshot is whole, each later version
// holds only the upstreams that are new or differ, and names those gone.
TEST(XdsAgentTest, DeltasHandOverOnlyWhatChanged) {
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_config_t config = Config(server.address(), &embedder);
  config.deltas = 1;
  nxa_agent_t* agent = StartAgent(config);
  Next(server);
  Next(server);
  SendPair(
      server, "1",
      {NormalizedUpstreamOnPorts("api", {7001}), NormalizedUpstreamOnPorts("backends", {6001})});
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->is_delta);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "backends"}));
  EXPECT_EQ(AnswerTo(server, "c1").version_info(), "1");

  SendPair(server, "2",
           {NormalizedUpstreamOnPorts("api", {7002}), NormalizedUpstreamOnPorts("backends", {6001}),
            NormalizedUpstreamOnPorts("fresh", {8001})});
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  EXPECT_EQ(seen->version, "2");
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "fresh"}));
  EXPECT_EQ(seen->addresses,
            (std::vector<std::vector<std::string>>{{"127.0.0.1:7002"}, {"127.0.0.1:8001"}}));
  EXPECT_TRUE(seen->removed.empty());
  EXPECT_EQ(AnswerTo(server, "c2").version_info(), "2");

  SendPair(server, "3", {NormalizedUpstreamOnPorts("api", {7002})});
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  EXPECT_TRUE(seen->names.empty());
  EXPECT_EQ(seen->removed, (std::vector<std::string>{"backends", "fresh"}));
  EXPECT_EQ(AnswerTo(server, "c3").version_info(), "3");
  DestroyReturns(agent);
}

// Validate a rejected upstream keeps its last applied state in the agent's
// view of the embedder: the next version offers it again, and an upstream
// the embedder NACKed whole is offered again too.
TEST(XdsAgentTest, DeltasAfterRejectionsOfferTheRejectedAgain) {
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_config_t config = Config(server.address(), &embedder);
  config.deltas = 1;
  nxa_agent_t* agent = StartAgent(config);
  Next(server);
  Next(server);
  SendPair(
      server, "1",
      {NormalizedUpstreamOnPorts("api", {7001}), NormalizedUpstreamOnPorts("backends", {6001})});
  ASSERT_TRUE(embedder.Next());
  EXPECT_EQ(AnswerTo(server, "c1").version_info(), "1");

  embedder.RejectUpstreams({"api"}, "zone \"z\" is full");
  SendPair(
      server, "2",
      {NormalizedUpstreamOnPorts("api", {7002}), NormalizedUpstreamOnPorts("backends", {6002})});
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "backends"}));
  EXPECT_EQ(AnswerTo(server, "c2").version_info(), "1");

  // The embedder refuses version 3 whole: it runs what it ran.
  embedder.RejectUpstreams({}, "");
  embedder.SetVerdict(NXA_ERROR, "refused");
  SendPair(
      server, "3",
      {NormalizedUpstreamOnPorts("api", {7002}), NormalizedUpstreamOnPorts("backends", {6003})});
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "backends"}));
  EXPECT_EQ(AnswerTo(server, "c3").version_info(), "1");

  embedder.SetVerdict(NXA_OK, "");
  SendPair(
      server, "4",
      {NormalizedUpstreamOnPorts("api", {7002}), NormalizedUpstreamOnPorts("backends", {6002})});
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  // backends is as version 2 applied it; api was rejected there.
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api"}));
  EXPECT_EQ(AnswerTo(server, "c4").version_info(), "4");
  DestroyReturns(agent);
}

// Validate nxa_agent_want_full(): the next version is handed over whole,
// and changes are handed over again after it.
TEST(XdsAgentTest, WantFullHandsOverTheNextWhole) {
  FakeAdsServer server;
  CEmbedder embedder;
  nxa_config_t config = Config(server.address(), &embedder);
  config.deltas = 1;
  nxa_agent_t* agent = StartAgent(config);
  Next(server);
  Next(server);
  SendPair(
      server, "1",
      {NormalizedUpstreamOnPorts("api", {7001}), NormalizedUpstreamOnPorts("backends", {6001})});
  ASSERT_TRUE(embedder.Next());
  EXPECT_EQ(AnswerTo(server, "c1").version_info(), "1");

  nxa_agent_want_full(agent);
  SendPair(
      server, "2",
      {NormalizedUpstreamOnPorts("api", {7002}), NormalizedUpstreamOnPorts("backends", {6001})});
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->is_delta);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "backends"}));
  EXPECT_EQ(AnswerTo(server, "c2").version_info(), "2");

  SendPair(
      server, "3",
      {NormalizedUpstreamOnPorts("api", {7003}), NormalizedUpstreamOnPorts("backends", {6001})});
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api"}));
  DestroyReturns(agent);
}

// Validate a snapshot from the cache file is whole even with deltas, and
// without deltas no snapshot is a delta.
TEST(XdsAgentTest, CachedSnapshotIsWholeAndDeltasAreOptIn) {
  EXPECT_EQ(nxa_snapshot_is_delta(nullptr), 0);
  EXPECT_EQ(nxa_snapshot_removed_count(nullptr), 0u);
  EXPECT_EQ(nxa_snapshot_removed(nullptr, 0), nullptr);
  nxa_agent_want_full(nullptr);

  FakeAdsServer server;
  CEmbedder embedder;
  nxa_agent_t* agent = StartAgent(Config(server.address(), &embedder));
  Next(server);
  Next(server);
  SendPair(server, "1", {NormalizedUpstreamOnPorts("api", {7001})});
  ASSERT_TRUE(embedder.Next());
  SendPair(server, "2",
           {NormalizedUpstreamOnPorts("api", {7002}), NormalizedUpstreamOnPorts("b", {6001})});
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->is_delta);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "b"}));
  DestroyReturns(agent);
}

// Validate the default protocol (Delta) through the C ABI with config.deltas,
// as the nginx module runs it, against the real control plane: the first
// snapshot whole, then each write as its change alone; and that the first
// address of a replica list that refuses connections is passed over.
TEST(XdsAgentDeltaTest, DeltasFromTheRealControlPlanePastAnUnreachableReplica) {
  auto cp = ControlPlane::Start(TestControlPlaneOptions(absl::ZeroDuration()));
  ASSERT_TRUE(cp.ok()) << cp.status();
  auto put = [&](const nginx_xds::v1::Upstream& upstream) {
    auto written = (*cp)->upstreams()->Put("edge", upstream);
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() ? std::to_string(written->version()) : "";
  };
  put(testing::MakeUpstreamOnPort("api", 7001));
  const std::string v2 = put(testing::MakeUpstreamOnPort("backends", 6001));

  UnreachablePort down;
  const std::string servers = absl::StrCat(down.address(), ",127.0.0.1:", (*cp)->xds_port());
  CEmbedder embedder;
  nxa_config_t config = Config(servers, &embedder);
  config.sotw = 0;
  config.deltas = 1;
  nxa_agent_t* agent = StartAgent(config);
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->is_delta);
  EXPECT_EQ(seen->version, v2);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "backends"}));

  const std::string v3 = put(testing::MakeUpstreamOnPort("api", 7002));
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  EXPECT_EQ(seen->version, v3);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api"}));
  EXPECT_EQ(seen->addresses, (std::vector<std::vector<std::string>>{{"127.0.0.1:7002"}}));
  EXPECT_TRUE(seen->removed.empty());

  auto deleted = (*cp)->upstreams()->Delete("edge", "backends");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  EXPECT_EQ(seen->version, std::to_string(deleted->version()));
  EXPECT_TRUE(seen->names.empty());
  EXPECT_EQ(seen->removed, (std::vector<std::string>{"backends"}));
  // Nothing else was handed over: the halves of one change make one hand-over.
  EXPECT_FALSE(embedder.Next(absl::Milliseconds(300)));

  // After nxa_agent_want_full() the next change comes whole: what the
  // embedder ran with the change applied.
  nxa_agent_want_full(agent);
  const std::string v6 = put(testing::MakeUpstreamOnPort("fresh", 8001));
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->is_delta);
  EXPECT_EQ(seen->version, v6);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "fresh"}));
  EXPECT_EQ(seen->addresses,
            (std::vector<std::vector<std::string>>{{"127.0.0.1:7002"}, {"127.0.0.1:8001"}}));
  // And the one after it is a change again.
  const std::string v7 = put(testing::MakeUpstreamOnPort("fresh", 8002));
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->is_delta);
  EXPECT_EQ(seen->version, v7);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"fresh"}));
  DestroyReturns(agent);
}

// Validate that without config.deltas every version over Delta is handed
// over whole (as the module takes it today): the change applied to what
// the embedder runs.
TEST(XdsAgentDeltaTest, WithoutDeltasEveryVersionIsWhole) {
  auto cp = ControlPlane::Start(TestControlPlaneOptions(absl::ZeroDuration()));
  ASSERT_TRUE(cp.ok()) << cp.status();
  auto put = [&](const nginx_xds::v1::Upstream& upstream) {
    auto written = (*cp)->upstreams()->Put("edge", upstream);
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() ? std::to_string(written->version()) : "";
  };
  put(testing::MakeUpstreamOnPort("api", 7001));
  put(testing::MakeUpstreamOnPort("backends", 6001));
  CEmbedder embedder;
  nxa_config_t config = Config(absl::StrCat("127.0.0.1:", (*cp)->xds_port()), &embedder);
  config.sotw = 0;
  nxa_agent_t* agent = StartAgent(config);
  std::optional<Seen> seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "backends"}));
  const std::string v3 = put(testing::MakeUpstreamOnPort("api", 7002));
  seen = embedder.Next();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->is_delta);
  EXPECT_EQ(seen->version, v3);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"api", "backends"}));
  EXPECT_EQ(seen->addresses,
            (std::vector<std::vector<std::string>>{{"127.0.0.1:7002"}, {"127.0.0.1:6001"}}));
  DestroyReturns(agent);
}

}  // namespace
}  // namespace nginx_xds
