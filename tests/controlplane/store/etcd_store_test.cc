// EtcdStore against a real etcd (Debian's etcd-server) started by the test
// on free loopback ports: what is committed is what a new store loads, a
// lost compare-and-swap changes nothing, an unreachable etcd is UNAVAILABLE.

#include "controlplane/store/etcd_store.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::Upstream;
using ::testing::HasSubstr;

// A port nobody listens on now (the kernel's choice for port 0).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

using nginx_xds::testing::NormalizedUpstream;

// One etcd member on free loopback ports, killed when it goes away.
class EtcdProcess {
 public:
  explicit EtcdProcess(const std::string& name) {
    client_port_ = FreePort();
    const int peer_port = FreePort();
    const std::string data = absl::StrCat(getenv("TEST_TMPDIR"), "/etcd-", name);
    const std::string client = url();
    const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
    pid_ = fork();
    if (pid_ == 0) {
      const std::string log = data + ".log";
      freopen(log.c_str(), "w", stderr);
      execl("/usr/bin/etcd", "etcd", "--name", "n1", "--data-dir", data.c_str(),
            "--listen-client-urls", client.c_str(), "--advertise-client-urls", client.c_str(),
            "--listen-peer-urls", peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(),
            "--initial-cluster", ("n1=" + peer).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~EtcdProcess() { Kill(); }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", client_port_); }
  int client_port() const { return client_port_; }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  int client_port_ = 0;
  pid_t pid_ = -1;
};

std::unique_ptr<EtcdStore> OpenStore(std::vector<std::string> endpoints, std::string prefix) {
  EtcdStore::Options options;
  options.endpoints = std::move(endpoints);
  options.prefix = std::move(prefix);
  options.timeout = absl::Seconds(2);
  auto store = EtcdStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// Waits until etcd answers a read.
void AwaitReady(const EtcdProcess& etcd) {
  auto probe = OpenStore({etcd.url()}, "/probe/");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::Status status;
  while (absl::Now() < deadline) {
    status = probe->Load().status();
    if (status.ok()) return;
    absl::SleepFor(absl::Milliseconds(50));
  }
  FAIL() << "etcd did not start: " << status;
}

// Every test shares one etcd, each under a key prefix of its own.
class EtcdStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    etcd_ = new EtcdProcess("shared");
    AwaitReady(*etcd_);
  }
  static void TearDownTestSuite() { delete etcd_; }

  std::unique_ptr<EtcdStore> Open(std::vector<std::string> endpoints = {}) {
    if (endpoints.empty()) endpoints = {etcd_->url()};
    return OpenStore(
        std::move(endpoints),
        absl::StrCat("/", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/"));
  }

  int client_port() const { return etcd_->client_port(); }

  static EtcdProcess* etcd_;
};

EtcdProcess* EtcdStoreTest::etcd_ = nullptr;

// Validates that an empty etcd loads as an empty store at version 0.
TEST_F(EtcdStoreTest, EmptyEtcdLoadsEmpty) {
  auto store = Open();
  auto state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->version, 0u);
  EXPECT_TRUE(state->upstreams.empty());
}

// Validates that commits, with versions, slots and deletes, are what a new store loads.
TEST_F(EtcdStoreTest, CommitsAreWhatANewStoreLoads) {
  auto store = Open();
  ASSERT_TRUE(store->Load().ok());
  ASSERT_EQ(
      *store->Commit(
          "a", {NormalizedUpstream("X", {"10.0.0.1:80"}), NormalizedUpstream("y", {"10.0.0.2:80"})},
          {}),
      1u);
  ASSERT_EQ(*store->Commit("b", {NormalizedUpstream("z", {"10.0.0.3:80"})}, {}), 2u);
  // Replacing keeps the slot; deleting frees it but it stays counted.
  ASSERT_EQ(*store->Commit("a", {NormalizedUpstream("x", {"10.0.0.9:80"})}, {"y"}), 3u);

  auto loaded = Open()->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->version, 3u);
  EXPECT_EQ(loaded->fleet_versions.at("a"), 3u);
  EXPECT_EQ(loaded->fleet_versions.at("b"), 2u);
  ASSERT_EQ(loaded->upstreams.at("a").size(), 1u);
  EXPECT_EQ(loaded->upstreams.at("a")[0].name(), "x");
  EXPECT_EQ(loaded->upstreams.at("a")[0].servers(0).address(), "10.0.0.9:80");
  EXPECT_EQ(loaded->slots.at("a"), std::vector<uint64_t>{0});
  EXPECT_EQ(loaded->slot_counts.at("a"), 2u);
}

// Validates that a caller's placement decides the slots and the list order.
TEST_F(EtcdStoreTest, PlacementDecidesTheOrder) {
  auto store = Open();
  ASSERT_TRUE(store->Load().ok());
  Placement placement;
  placement.slots = {4, 1};
  placement.slot_count = 5;
  ASSERT_TRUE(store
                  ->Commit("a",
                           {NormalizedUpstream("late", {"10.0.0.1:80"}),
                            NormalizedUpstream("early", {"10.0.0.2:80"})},
                           {}, placement)
                  .ok());
  auto loaded = Open()->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->upstreams.at("a")[0].name(), "early");
  EXPECT_EQ(loaded->slots.at("a"), (std::vector<uint64_t>{1, 4}));
  EXPECT_EQ(loaded->slot_counts.at("a"), 5u);
}

// Validates that of two writers at the same version only one commits; the
// other is ABORTED and stores nothing.
TEST_F(EtcdStoreTest, LostCompareAndSwapStoresNothing) {
  auto first = Open();
  auto second = Open();
  ASSERT_TRUE(first->Load().ok());
  ASSERT_TRUE(second->Load().ok());
  ASSERT_EQ(*first->Commit("a", {NormalizedUpstream("one", {"10.0.0.1:80"})}, {}), 1u);
  auto lost = second->Commit("a", {NormalizedUpstream("two", {"10.0.0.2:80"})}, {});
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(lost.status().message(), HasSubstr("another control plane wrote"));
  auto loaded = Open()->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->version, 1u);
  ASSERT_EQ(loaded->upstreams.at("a").size(), 1u);
  EXPECT_EQ(loaded->upstreams.at("a")[0].name(), "one");
  // After reading the newest state, the loser commits the next version.
  ASSERT_TRUE(second->Load().ok());
  EXPECT_EQ(*second->Commit("a", {NormalizedUpstream("two", {"10.0.0.2:80"})}, {}), 2u);
}

// Validates that a rollout and its stable upstreams round-trip.
TEST_F(EtcdStoreTest, RolloutRoundTrips) {
  auto store = Open();
  ASSERT_TRUE(store->Load().ok());
  StoredRollout rollout;
  rollout.rollout.set_fleet("a");
  rollout.rollout.set_stable_version(7);
  rollout.rollout.add_canary_node_ids("web-1");
  rollout.stable_upstreams.push_back(NormalizedUpstream("x", {"10.0.0.1:80"}));
  ASSERT_TRUE(store->SaveRollout(rollout).ok());
  auto loaded = Open()->Load();
  ASSERT_TRUE(loaded.ok());
  const StoredRollout& back = loaded->rollouts.at("a");
  EXPECT_EQ(back.rollout.stable_version(), 7u);
  EXPECT_EQ(back.rollout.canary_node_ids(0), "web-1");
  ASSERT_EQ(back.stable_upstreams.size(), 1u);
  EXPECT_EQ(back.stable_upstreams[0].name(), "x");
}

// Validates that a dead first endpoint is skipped for a live second one.
TEST_F(EtcdStoreTest, FailsOverToTheNextEndpoint) {
  auto store = Open({absl::StrCat("http://127.0.0.1:", FreePort()),
                     absl::StrCat("http://127.0.0.1:", client_port())});
  ASSERT_TRUE(store->Load().ok());
  EXPECT_TRUE(store->Commit("a", {NormalizedUpstream("x", {"10.0.0.1:80"})}, {}).ok());
}

// Validates that an unreachable etcd is UNAVAILABLE naming etcd, and a bad endpoint
// or TLS setting INVALID_ARGUMENT.
TEST_F(EtcdStoreTest, UnreachableAndMalformedEndpoints) {
  auto store = Open({absl::StrCat("http://127.0.0.1:", FreePort())});
  auto state = store->Load();
  EXPECT_EQ(state.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(state.status().message(), HasSubstr("etcd store: read at 127.0.0.1:"));
  EtcdStore::Options options;
  options.endpoints = {"127.0.0.1"};
  EXPECT_EQ(EtcdStore::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.endpoints = {"https://127.0.0.1:2379", "http://127.0.0.1:2380"};
  EXPECT_THAT(EtcdStore::Open(options).status().message(), HasSubstr("mix http:// and https://"));
  options.endpoints = {"http://127.0.0.1:2379"};
  options.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  EXPECT_THAT(EtcdStore::Open(options).status().message(), HasSubstr("use https://"));
  options.endpoints = {"https://127.0.0.1:2379"};
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(EtcdStore::Open(options).status().message(), HasSubstr("cannot be read"));
}

// Validates that etcd going away makes commits UNAVAILABLE, not lost or wrong.
TEST(EtcdStoreDownTest, CommitWithEtcdDownIsUnavailable) {
  EtcdProcess etcd("down");
  AwaitReady(etcd);
  auto store = OpenStore({etcd.url()}, "/nginx-xds/");
  ASSERT_TRUE(store->Load().ok());
  etcd.Kill();
  auto commit = store->Commit("a", {NormalizedUpstream("x", {"10.0.0.1:80"})}, {});
  EXPECT_EQ(commit.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace nginx_xds
