// Runs the xds-agent binary against a fake ADS server and checks its output,
// the stable text format scripts grep.

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/agent/fake_ads_server.h"
#include "tests/agent/test_resources.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using testing::ClusterResponse;
using testing::EndpointResponse;
using testing::FakeAdsServer;
using testing::NormalizedUpstreamOnPorts;

// Waits for an answer to `nonce`; false when none comes.
bool AnswerTo(FakeAdsServer& server, const std::string& nonce, bool* nack) {
  for (;;) {
    std::optional<FakeAdsServer::Received> received = server.NextRequest();
    if (!received) return false;
    if (received->request.response_nonce() == nonce) {
      *nack = received->request.has_error_detail();
      return true;
    }
  }
}

// Validate that the CLI agent prints every snapshot it applies.
TEST(XdsAgentMainTest, PrintsEveryAppliedSnapshot) {
  FakeAdsServer server;
  // `timeout` only keeps a broken binary from hanging the test.
  const std::string command =
      absl::StrCat("timeout -s KILL 60 agent/xds-agent --protocol=sotw --server=", server.address(),
                   " --node_id=cli-test --fleet=edge --exit_after_versions=2 --reject_version=2 "
                   "--log_level=0");
  FILE* out = popen(command.c_str(), "r");
  ASSERT_NE(out, nullptr);

  auto api = NormalizedUpstreamOnPorts("api", {7001});
  api.set_zone("");
  api.set_method(nginx_xds::v1::HASH);
  api.set_hash_key("$request_uri");
  api.set_hash_consistent(true);
  auto backends = NormalizedUpstreamOnPorts("backends", {6001, 6002});
  backends.set_keepalive(16);
  backends.mutable_servers(0)->set_down(true);
  backends.mutable_servers(0)->set_max_conns(5);
  backends.mutable_servers(1)->set_backup(true);
  backends.mutable_servers(1)->set_weight(2);

  bool nack = false;
  ASSERT_TRUE(server.NextRequest());
  ASSERT_TRUE(server.NextRequest());
  ASSERT_TRUE(server.Send(ClusterResponse("1", "c1", {backends, api})));
  ASSERT_TRUE(server.Send(EndpointResponse("1", "e1", {backends, api})));
  ASSERT_TRUE(AnswerTo(server, "e1", &nack));
  EXPECT_FALSE(nack);
  // --reject_version=2: NACKed and not printed.
  ASSERT_TRUE(server.Send(ClusterResponse("2", "c2", {api})));
  ASSERT_TRUE(server.Send(EndpointResponse("2", "e2", {api})));
  ASSERT_TRUE(AnswerTo(server, "e2", &nack));
  EXPECT_TRUE(nack);
  ASSERT_TRUE(server.Send(ClusterResponse("3", "c3", {backends})));
  ASSERT_TRUE(server.Send(EndpointResponse("3", "e3", {backends})));

  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), out)) > 0) output.append(buf, n);
  int status = pclose(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(output,
            "version 1 (2 upstreams)\n"
            "upstream api method=hash hash_key=$request_uri consistent zone=- keepalive=0\n"
            "  server 127.0.0.1:7001 weight=1 max_fails=1 fail_timeout=10 max_conns=0\n"
            "upstream backends method=round_robin zone=zone_for_backends keepalive=16\n"
            "  server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10 max_conns=5 down\n"
            "  server 127.0.0.1:6002 weight=2 max_fails=1 fail_timeout=10 max_conns=0 backup\n"
            "\n"
            "version 3 (1 upstreams)\n"
            "upstream backends method=round_robin zone=zone_for_backends keepalive=16\n"
            "  server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10 max_conns=5 down\n"
            "  server 127.0.0.1:6002 weight=2 max_fails=1 fail_timeout=10 max_conns=0 backup\n"
            "\n");
}

// Validate --reject_upstreams rejects that upstream alone: the rest is
// applied and printed, and the NACK names it.
TEST(XdsAgentMainTest, RejectsSingleUpstreamsAndAppliesTheRest) {
  FakeAdsServer server;
  const std::string command =
      absl::StrCat("timeout -s KILL 60 agent/xds-agent --protocol=sotw --server=", server.address(),
                   " --node_id=cli-test --exit_after_versions=2 --reject_upstreams=bad "
                   "--log_level=0");
  FILE* out = popen(command.c_str(), "r");
  ASSERT_NE(out, nullptr);
  ASSERT_TRUE(server.NextRequest());
  ASSERT_TRUE(server.NextRequest());
  const auto ups = {NormalizedUpstreamOnPorts("api", {7001}),
                    NormalizedUpstreamOnPorts("bad", {7002})};
  ASSERT_TRUE(server.Send(ClusterResponse("1", "c1", ups)));
  ASSERT_TRUE(server.Send(EndpointResponse("1", "e1", ups)));
  std::optional<FakeAdsServer::Received> received;
  do {
    received = server.NextRequest();
    ASSERT_TRUE(received) << "no answer to e1";
  } while (received->request.response_nonce() != "e1");
  EXPECT_EQ(received->request.error_detail().message(),
            "upstream \"bad\": rejected by --reject_upstreams");
  // SotW to the letter: a server change sends the changed assignment alone.
  ASSERT_TRUE(server.Send(EndpointResponse("2", "e2", {NormalizedUpstreamOnPorts("api", {7003})})));

  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), out)) > 0) output.append(buf, n);
  int status = pclose(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(output,
            "version 1 (1 upstreams)\n"
            "upstream api method=round_robin zone=zone_for_api keepalive=0\n"
            "  server 127.0.0.1:7001 weight=1 max_fails=1 fail_timeout=10 max_conns=0\n"
            "\n"
            "version 2 (1 upstreams)\n"
            "upstream api method=round_robin zone=zone_for_api keepalive=0\n"
            "  server 127.0.0.1:7003 weight=1 max_fails=1 fail_timeout=10 max_conns=0\n"
            "\n");
}

// Validate --deltas prints each version after the first as a change: the
// upserted upstreams and a `removed NAME` line per removed one.
TEST(XdsAgentMainTest, DeltasPrintTheChangeOnly) {
  FakeAdsServer server;
  const std::string command =
      absl::StrCat("timeout -s KILL 60 agent/xds-agent --protocol=sotw --server=", server.address(),
                   " --node_id=cli-test --exit_after_versions=3 --deltas --log_level=0");
  FILE* out = popen(command.c_str(), "r");
  ASSERT_NE(out, nullptr);
  ASSERT_TRUE(server.NextRequest());
  ASSERT_TRUE(server.NextRequest());
  const auto first = {NormalizedUpstreamOnPorts("api", {7001}),
                      NormalizedUpstreamOnPorts("old", {7002})};
  ASSERT_TRUE(server.Send(ClusterResponse("1", "c1", first)));
  ASSERT_TRUE(server.Send(EndpointResponse("1", "e1", first)));
  bool nack = false;
  ASSERT_TRUE(AnswerTo(server, "e1", &nack));
  // SotW: the Cluster list without "old" goes first and applies alone (a
  // snapshot at its version), then the changed assignment.
  const auto next = {NormalizedUpstreamOnPorts("api", {7003})};
  ASSERT_TRUE(server.Send(ClusterResponse("2", "c2", next)));
  ASSERT_TRUE(server.Send(EndpointResponse("2", "e2", next)));

  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), out)) > 0) output.append(buf, n);
  int status = pclose(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(output,
            "version 1 (2 upstreams)\n"
            "upstream api method=round_robin zone=zone_for_api keepalive=0\n"
            "  server 127.0.0.1:7001 weight=1 max_fails=1 fail_timeout=10 max_conns=0\n"
            "upstream old method=round_robin zone=zone_for_old keepalive=0\n"
            "  server 127.0.0.1:7002 weight=1 max_fails=1 fail_timeout=10 max_conns=0\n"
            "\n"
            "version 2 (0 upstreams) delta\n"
            "removed old\n"
            "\n"
            "version 2 (1 upstreams) delta\n"
            "upstream api method=round_robin zone=zone_for_api keepalive=0\n"
            "  server 127.0.0.1:7003 weight=1 max_fails=1 fail_timeout=10 max_conns=0\n"
            "\n");
}

// Validate that bad TLS flags stop the CLI before it connects, naming the
// flag and the file.
TEST(XdsAgentMainTest, RefusesUnreadableOrBadTlsFiles) {
  const std::string dir = getenv("TEST_TMPDIR");
  const std::string not_pem = dir + "/not.pem";
  FILE* f = fopen(not_pem.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("not a certificate\n", f);
  fclose(f);
  struct Case {
    std::string flags, error;
  } cases[] = {
      {"--tls_ca=" + dir + "/missing.pem", "--tls_ca \"" + dir + "/missing.pem\": cannot read"},
      {"--tls_ca=" + not_pem, "tls_ca: no PEM certificate"},
  };
  for (const Case& c : cases) {
    const std::string command = absl::StrCat(
        "timeout -s KILL 60 agent/xds-agent --protocol=sotw --server=127.0.0.1:1 --node_id=n ", c.flags, " 2>&1");
    FILE* out = popen(command.c_str(), "r");
    ASSERT_NE(out, nullptr);
    std::string output;
    char buffer[512];
    while (fgets(buffer, sizeof(buffer), out) != nullptr) output += buffer;
    const int status = pclose(out);
    EXPECT_EQ(WEXITSTATUS(status), 2) << output;
    EXPECT_NE(output.find(c.error), std::string::npos) << output;
  }
}

// Validate --server takes a list of replicas: one that refuses connections
// is passed over for the next.
TEST(XdsAgentMainTest, ServerListFailsOverToTheNext) {
  FakeAdsServer server;
  // Port 1 of loopback: nothing listens there, connections are refused.
  const std::string command = absl::StrCat(
      "timeout -s KILL 60 agent/xds-agent --protocol=sotw --server=127.0.0.1:1,", server.address(),
      " --node_id=cli-test --exit_after_versions=1 --log_level=0");
  FILE* out = popen(command.c_str(), "r");
  ASSERT_NE(out, nullptr);
  ASSERT_TRUE(server.NextRequest());
  ASSERT_TRUE(server.NextRequest());
  const auto ups = {NormalizedUpstreamOnPorts("api", {7001})};
  ASSERT_TRUE(server.Send(ClusterResponse("1", "c1", ups)));
  ASSERT_TRUE(server.Send(EndpointResponse("1", "e1", ups)));
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), out)) > 0) output.append(buf, n);
  int status = pclose(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(output,
            "version 1 (1 upstreams)\n"
            "upstream api method=round_robin zone=zone_for_api keepalive=0\n"
            "  server 127.0.0.1:7001 weight=1 max_fails=1 fail_timeout=10 max_conns=0\n"
            "\n");
}

// Validate an unknown --protocol and an empty entry of --server are refused
// with a clear message and exit status 2, before anything starts.
TEST(XdsAgentMainTest, BadProtocolOrServerListIsRefused) {
  FILE* out = popen("agent/xds-agent --protocol=rest --node_id=n 2>&1", "r");
  ASSERT_NE(out, nullptr);
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), out)) > 0) output.append(buf, n);
  int status = pclose(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << "status " << status;
  EXPECT_NE(output.find("--protocol must be delta or sotw"), std::string::npos) << output;

  out = popen("agent/xds-agent --server=127.0.0.1:1,,127.0.0.1:2 --node_id=n 2>&1", "r");
  ASSERT_NE(out, nullptr);
  output.clear();
  while ((n = fread(buf, 1, sizeof(buf), out)) > 0) output.append(buf, n);
  status = pclose(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << "status " << status;
  EXPECT_NE(output.find("empty entry"), std::string::npos) << output;
}

}  // namespace
}  // namespace nginx_xds
