// Security of the control plane, over real gRPC and HTTP on loopback: the
// admin APIs' bearer token (gRPC metadata, HTTP header, refusal to listen
// exposed without one) and TLS / mutual TLS between agents (the C ABI the
// nginx module uses) and the ADS server, with node identities from client
// certificates. The certificates are made at run time by
// tests/certs/make_test_certs.sh (openssl).

#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/xds_agent.h"
#include "controlplane/api/admin_auth.h"
#include "controlplane/control_plane.h"
#include "controlplane/xds/xds_tls.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "nginx_xds/v1/management.grpc.pb.h"
#include "tests/controlplane/test_control_plane.h"

namespace nginx_xds {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "s3cr3t-t0ken-0123456789abcdef";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// The test PKI, made once per test binary.
const std::string& Pki() {
  static const std::string* dir = [] {
    auto* d = new std::string(std::string(getenv("TEST_TMPDIR")) + "/pki");
    const std::string script =
        std::string(getenv("TEST_SRCDIR")) + "/nginx_xds/tests/certs/make_test_certs.sh";
    const std::string command = absl::StrCat("sh ", script, " ", *d);
    EXPECT_EQ(system(command.c_str()), 0) << command;
    return d;
  }();
  return *dir;
}

std::string PkiFile(const std::string& name) { return Pki() + "/" + name; }

// ---------------------------------------------------------------------------
// Bearer token: units

// Validate that the token comparison is exact, whatever the lengths.
TEST(AdminAuthTest, ConstantTimeEqualsIsExact) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abcabc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

// Validate that only "Bearer <token>" (scheme in any case) passes.
TEST(AdminAuthTest, ChecksTheAuthorizationHeader) {
  auto auth = AdminAuth::FromToken(kToken);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->Check(absl::StrCat("Bearer ", kToken)).ok());
  EXPECT_TRUE(auth->Check(absl::StrCat("bearer ", kToken)).ok());
  EXPECT_EQ(auth->Check("").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Check(kToken).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Check(absl::StrCat("Basic ", kToken)).code(), absl::StatusCode::kUnauthenticated);
  absl::Status wrong = auth->Check("Bearer s3cr3t-t0ken-0123456789abcdeF");
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(wrong.message()), Not(HasSubstr(kToken)));
  // Without a token everything passes.
  EXPECT_TRUE(AdminAuth().Check("").ok());
}

// Validate that short tokens, tokens with spaces and unreadable token
// files are refused before anything starts.
TEST(AdminAuthTest, RefusesWeakOrUnreadableTokenFiles) {
  EXPECT_EQ(AdminAuth::FromToken("short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdminAuth::FromToken("has a space in the middle!").status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/token";
  WriteFile(path, absl::StrCat("  ", kToken, "\n"));
  auto auth = AdminAuth::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->Check(absl::StrCat("Bearer ", kToken)).ok());
  auto missing = AdminAuth::FromFile(path + ".missing");
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("--admin_token_file"));
  WriteFile(path, "");
  EXPECT_EQ(AdminAuth::FromFile(path).status().code(), absl::StatusCode::kInvalidArgument);
}

// Validate which listen addresses count as loopback and which are exposed.
TEST(AdminAuthTest, KnowsWhichListenAddressesAreLoopback) {
  for (const char* loopback : {"127.0.0.1:18001", "127.1.2.3:0", "[::1]:18001", "localhost:80"}) {
    EXPECT_TRUE(IsLoopbackListen(loopback)) << loopback;
  }
  for (const char* exposed :
       {"0.0.0.0:18001", "[::]:18001", ":18001", "10.0.0.1:18001", "example.com:80"}) {
    EXPECT_FALSE(IsLoopbackListen(exposed)) << exposed;
  }
  auto auth = AdminAuth::FromToken(kToken);
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE(CheckAdminExposure("admin_listen", "0.0.0.0:18001", *auth).ok());
  EXPECT_TRUE(CheckAdminExposure("http_listen", "", AdminAuth()).ok());
  EXPECT_EQ(CheckAdminExposure("admin_listen", "0.0.0.0:18001", AdminAuth()).code(),
            absl::StatusCode::kFailedPrecondition);
}

// Validate that the control plane refuses to expose its admin APIs without a
// token, before it binds anything.
TEST(AdminExposureTest, ExposedWithoutTokenRefusesToStart) {
  {
    ControlPlane::Options options = TestControlPlaneOptions(absl::Seconds(1));
    options.admin_listen = "0.0.0.0:0";
    auto cp = ControlPlane::Start(options);
    ASSERT_FALSE(cp.ok());
    EXPECT_EQ(cp.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(cp.status().message()), HasSubstr("--admin_listen=0.0.0.0:0"));
    EXPECT_THAT(std::string(cp.status().message()), HasSubstr("--admin_token_file"));
  }
  {
    ControlPlane::Options options = TestControlPlaneOptions(absl::Seconds(1));
    options.http_listen = "[::]:0";
    auto cp = ControlPlane::Start(options);
    ASSERT_FALSE(cp.ok());
    EXPECT_THAT(std::string(cp.status().message()), HasSubstr("--http_listen=[::]:0"));
  }
  {
    ControlPlane::Options options = TestControlPlaneOptions(absl::Seconds(1));
    options.admin_token_file = std::string(getenv("TEST_TMPDIR")) + "/no-such-token";
    EXPECT_FALSE(ControlPlane::Start(options).ok());
  }
}

// ---------------------------------------------------------------------------
// Bearer token: the admin servers

class AdminTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ControlPlane::Options options = TestControlPlaneOptions(absl::Seconds(1));
    options.admin_token_file = std::string(getenv("TEST_TMPDIR")) + "/admin-token";
    WriteFile(options.admin_token_file, absl::StrCat(kToken, "\n"));
    auto cp = ControlPlane::Start(options);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", cp_->admin_port()),
                                   grpc::InsecureChannelCredentials());
  }

  grpc::Status List(const std::string& authorization) {
    auto stub = nginx_xds::v1::UpstreamService::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    nginx_xds::v1::ListUpstreamsRequest request;
    nginx_xds::v1::ListUpstreamsResponse response;
    return stub->ListUpstreams(&context, request, &response);
  }

  httplib::Result Http(const std::string& method, const std::string& path,
                       const std::string& authorization, const std::string& body = "") {
    httplib::Client client("127.0.0.1", cp_->http_port());
    client.set_read_timeout(10, 0);
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    if (method == "GET") return client.Get(path, headers);
    return client.Post(path, headers, body, "text/plain");
  }

  std::unique_ptr<ControlPlane> cp_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Validate that a gRPC admin call without the token, or with a wrong one,
// is UNAUTHENTICATED, and with it succeeds.
TEST_F(AdminTokenTest, GrpcCallsNeedTheToken) {
  grpc::Status missing = List("");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.error_message(), HasSubstr("authorization: Bearer"));
  grpc::Status wrong = List("Bearer not-the-token-0123456789");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), HasSubstr("not valid"));
  EXPECT_EQ(List(absl::StrCat("Basic ", kToken)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status right = List(absl::StrCat("Bearer ", kToken));
  EXPECT_TRUE(right.ok()) << right.error_message();
}

// Validate that every method of every service of management.proto is behind
// the token (one missing from admin_grpc.cc answers UNIMPLEMENTED or, if
// registered unwrapped, without asking for the token), and that health
// checks stay open.
TEST_F(AdminTokenTest, EveryAdminMethodIsProtectedAndHealthIsOpen) {
  grpc::GenericStub stub(channel_);
  int methods = 0;
  const google::protobuf::FileDescriptor* file =
      nginx_xds::v1::ListUpstreamsRequest::descriptor()->file();
  ASSERT_NE(file, nullptr);
  for (int s = 0; s < file->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* service = file->service(s);
    const std::string name = service->full_name();
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string path = absl::StrCat("/", name, "/", service->method(i)->name());
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      grpc::Slice empty("", 0);
      grpc::ByteBuffer request(&empty, 1);
      grpc::ByteBuffer response;
      absl::Mutex mu;
      bool done = false;
      grpc::Status status;
      stub.UnaryCall(&context, path, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
        absl::MutexLock lock(&mu);
        status = std::move(s);
        done = true;
      });
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(&done));
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << path << ": " << status.error_message()
          << " (a new admin method must be added to controlplane/admin_grpc.cc)";
      ++methods;
    }
  }
  EXPECT_GE(methods, 9);

  grpc::GenericStub health(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Mutex mu;
  bool done = false;
  grpc::Status status;
  health.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status s) {
                     absl::MutexLock lock(&mu);
                     status = std::move(s);
                     done = true;
                   });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&done));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// Validate that an HTTP admin request without the token, or with a wrong
// one, is a 401, and with it succeeds.
TEST_F(AdminTokenTest, HttpRequestsNeedTheToken) {
  auto missing = Http("GET", "/list", "");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_THAT(missing->body, HasSubstr("401 Unauthorized"));
  EXPECT_THAT(missing->body, HasSubstr("Authorization: Bearer <token>"));
  EXPECT_THAT(missing->get_header_value("WWW-Authenticate"), HasSubstr("Bearer"));

  auto wrong = Http("GET", "/list", "Bearer not-the-token-0123456789");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_THAT(wrong->get_header_value("WWW-Authenticate"), HasSubstr("Bearer"));

  // A write without the token changes nothing.
  auto write = Http("POST", "/upstream/backends", "", "server 127.0.0.1:6001;");
  ASSERT_TRUE(write);
  EXPECT_EQ(write->status, 401);
  EXPECT_TRUE(cp_->upstreams()->List("default").empty());

  auto right = Http("GET", "/list", absl::StrCat("Bearer ", kToken));
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status / 100, 2) << right->body;
  auto status = Http("GET", "/fleet/status", absl::StrCat("Bearer ", kToken));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200) << status->body;
}

// Validates that the metrics and the fleet page's data need the token, and
// that the page's own files (which hold no data) do not, with no way from
// /ui/ to another endpoint.
TEST_F(AdminTokenTest, MetricsAndFleetDataNeedTheTokenThePageFilesDoNot) {
  for (const char* path : {"/metrics", "/fleet/writes", "/fleet/status?format=json"}) {
    auto missing = Http("GET", path, "");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 401) << path;
    auto right = Http("GET", path, absl::StrCat("Bearer ", kToken));
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200) << path << ": " << right->body;
  }
  auto metrics = Http("GET", "/metrics", absl::StrCat("Bearer ", kToken));
  EXPECT_THAT(metrics->body, HasSubstr("# TYPE nginx_xds_writes_total counter"));

  auto page = Http("GET", "/ui/", "");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("<script src=\"fleet.js\">"));
  for (const char* file : {"/ui/fleet.js", "/ui/fleet.css"}) {
    auto got = Http("GET", file, "");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200) << file;
  }
  for (const char* sneaky : {"/ui/../metrics", "/ui/%2e%2e/metrics", "/ui/..%2ffleet/status"}) {
    auto got = Http("GET", sneaky, "");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 404) << sneaky;
    EXPECT_THAT(got->body, Not(HasSubstr("nginx_xds_"))) << sneaky;
  }
  auto encoded = Http("GET", "/u%69/", "");
  ASSERT_TRUE(encoded);
  EXPECT_EQ(encoded->status, 401);
}

// ---------------------------------------------------------------------------
// TLS and mutual TLS

// Validate the node identities a client certificate's URI SAN can name.
TEST(NodeIdentityTest, ParsesSpiffeUris) {
  auto node = NodeIdentityFromUri("spiffe://example.org/node/web-1");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->node, "web-1");
  EXPECT_EQ(node->fleet, "");
  auto fleet = NodeIdentityFromUri("spiffe://example.org/nginx-xds/fleet/blue/node/web-2");
  ASSERT_TRUE(fleet);
  EXPECT_EQ(fleet->node, "web-2");
  EXPECT_EQ(fleet->fleet, "blue");
  EXPECT_FALSE(NodeIdentityFromUri("spiffe://example.org/ns/default/sa/nginx"));
  EXPECT_FALSE(NodeIdentityFromUri("https://example.org/node/web-1"));
  EXPECT_FALSE(NodeIdentityFromUri("spiffe://example.org/node/"));
  EXPECT_TRUE(CheckNodeIdentity(*fleet, "web-2", "blue").ok());
  absl::Status other = CheckNodeIdentity(*fleet, "web-3", "blue");
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(other.message()), HasSubstr("\"web-3\""));
  EXPECT_THAT(std::string(other.message()), HasSubstr("\"web-2\""));
  EXPECT_EQ(CheckNodeIdentity(*fleet, "web-2", "default").code(),
            absl::StatusCode::kPermissionDenied);
}

// Validate that incomplete or bad ADS TLS files are INVALID_ARGUMENT
// naming the file.
TEST(XdsTlsFilesTest, RefusesIncompleteOrBadFiles) {
  XdsTlsFiles files;
  files.cert = PkiFile("server.crt");
  auto half = XdsServerCredentials(files);
  EXPECT_EQ(half.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(half.status().message()), HasSubstr("--xds_tls_key"));
  files.key = PkiFile("node-1.key");
  auto mismatch = XdsServerCredentials(files);
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("does not match"));
  files.key = PkiFile("server.crt");
  auto not_key = XdsServerCredentials(files);
  EXPECT_THAT(std::string(not_key.status().message()), HasSubstr("--xds_tls_key"));
  files.key = PkiFile("server.key");
  files.client_ca = PkiFile("server.key");
  auto not_ca = XdsServerCredentials(files);
  EXPECT_THAT(std::string(not_ca.status().message()), HasSubstr("--xds_tls_client_ca"));
  files.client_ca = PkiFile("ca.crt");
  EXPECT_TRUE(XdsServerCredentials(files).ok());
}

// An agent over the C ABI with TLS files, recording what it applies and logs.
class TlsAgent {
 public:
  struct Files {
    std::string ca, cert, key;
  };

  TlsAgent(const std::string& node, const std::string& fleet, int port, const Files& files) {
    const std::string server = absl::StrCat("127.0.0.1:", port);
    const std::string ca = files.ca.empty() ? "" : ReadFile(PkiFile(files.ca));
    const std::string cert = files.cert.empty() ? "" : ReadFile(PkiFile(files.cert));
    const std::string key = files.key.empty() ? "" : ReadFile(PkiFile(files.key));
    nxa_config_t config = {};
    config.server = server.c_str();
    config.node_id = node.c_str();
    config.fleet = fleet.c_str();
    config.on_snapshot = &TlsAgent::OnSnapshot;
    config.on_log = &TlsAgent::OnLog;
    config.ctx = this;
    config.backoff_initial_ms = 100;
    config.backoff_max_ms = 300;
    config.tls_ca = ca.c_str();
    config.tls_cert = cert.c_str();
    config.tls_key = key.c_str();
    char err[512] = "";
    EXPECT_EQ(nxa_agent_create(&config, &agent_, err, sizeof(err)), NXA_OK) << err;
    if (agent_ != nullptr) {
      EXPECT_EQ(nxa_agent_start(agent_), NXA_OK);
    }
  }

  ~TlsAgent() { nxa_agent_destroy(agent_); }

  // Waits (bounded) for a snapshot holding upstream `name`.
  bool AwaitUpstream(const std::string& name) {
    absl::MutexLock lock(&mu_);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return absl::StrContains(upstreams_, "|" + name + "|");
    };
    return mu_.AwaitWithTimeout(absl::Condition(&has), absl::Seconds(20));
  }

  // Waits (bounded) for a log line containing `text`.
  bool AwaitLog(const std::string& text) {
    absl::MutexLock lock(&mu_);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return absl::StrContains(log_, text); };
    return mu_.AwaitWithTimeout(absl::Condition(&has), absl::Seconds(20));
  }

  bool ever_connected() const { return ever_connected_; }
  void Poll() {
    if (agent_ != nullptr && nxa_agent_connected(agent_)) ever_connected_ = true;
  }

  std::string log() {
    absl::MutexLock lock(&mu_);
    return log_;
  }

 private:
  static void OnSnapshot(void* ctx, nxa_snapshot_t* snapshot) {
    auto* self = static_cast<TlsAgent*>(ctx);
    std::string names = "|";
    for (size_t u = 0; u < nxa_snapshot_upstream_count(snapshot); ++u) {
      nxa_upstream_t upstream;
      nxa_snapshot_upstream(snapshot, u, &upstream);
      absl::StrAppend(&names, upstream.name, "|");
    }
    {
      absl::MutexLock lock(&self->mu_);
      self->upstreams_ = names;
    }
    nxa_snapshot_done(snapshot, NXA_OK, nullptr);
  }

  static void OnLog(void* ctx, int, const char* msg) {
    auto* self = static_cast<TlsAgent*>(ctx);
    absl::MutexLock lock(&self->mu_);
    absl::StrAppend(&self->log_, msg, "\n");
  }

  nxa_agent_t* agent_ = nullptr;
  bool ever_connected_ = false;
  absl::Mutex mu_;
  std::string upstreams_ ABSL_GUARDED_BY(mu_);
  std::string log_ ABSL_GUARDED_BY(mu_);
};

class XdsTlsTest : public ::testing::Test {
 protected:
  void StartControlPlane(bool mutual) {
    ControlPlane::Options options = TestControlPlaneOptions(absl::Seconds(1));
    options.xds_tls.cert = PkiFile("server.crt");
    options.xds_tls.key = PkiFile("server.key");
    if (mutual) options.xds_tls.client_ca = PkiFile("ca.crt");
    auto cp = ControlPlane::Start(options);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    for (const char* fleet : {"default", "blue"}) {
      nginx_xds::v1::Upstream upstream;
      upstream.set_name("backends");
      upstream.add_servers()->set_address("127.0.0.1:6001");
      ASSERT_TRUE(cp_->upstreams()->Put(fleet, upstream).ok());
    }
  }

  // Whether `node` ever connected, per the fleet status.
  bool Known(const std::string& node) {
    const nginx_xds::v1::FleetStatus status = cp_->registry()->Status("");
    for (const auto& known : status.nodes()) {
      if (known.id() == node) return true;
    }
    return false;
  }

  // Polls `agents` for `duration`: none may get a stream.
  void ExpectNeverConnected(const std::vector<TlsAgent*>& agents, absl::Duration duration) {
    const absl::Time deadline = absl::Now() + duration;
    while (absl::Now() < deadline) {
      for (TlsAgent* agent : agents) agent->Poll();
      absl::SleepFor(absl::Milliseconds(20));
    }
    for (TlsAgent* agent : agents) {
      EXPECT_FALSE(agent->ever_connected()) << agent->log();
    }
  }

  std::unique_ptr<ControlPlane> cp_;
};

// Validate that an agent over TLS receives snapshots.
TEST_F(XdsTlsTest, TlsAgentReceivesSnapshots) {
  StartControlPlane(/*mutual=*/false);
  TlsAgent agent("node-1", "default", cp_->xds_port(), {"ca.crt", "", ""});
  EXPECT_TRUE(agent.AwaitUpstream("backends")) << agent.log();
}

// Validate that an agent refuses a control plane whose certificate its CA
// did not sign, and that a plaintext agent cannot talk to a TLS server.
TEST_F(XdsTlsTest, AgentRejectsServerFromAnotherCa) {
  StartControlPlane(/*mutual=*/false);
  TlsAgent wrong_ca("node-1", "default", cp_->xds_port(), {"other-ca.crt", "", ""});
  TlsAgent plaintext("node-2", "default", cp_->xds_port(), {"", "", ""});
  ExpectNeverConnected({&wrong_ca, &plaintext}, absl::Seconds(2));
  EXPECT_FALSE(Known("node-1"));
  EXPECT_FALSE(Known("node-2"));
}

// Validate that over mutual TLS nodes whose certificates name them (URI
// SAN, with or without a fleet, or CN) are served.
TEST_F(XdsTlsTest, MutualTlsAcceptsNodesTheirCertificatesName) {
  StartControlPlane(/*mutual=*/true);
  TlsAgent uri("node-1", "default", cp_->xds_port(), {"ca.crt", "node-1.crt", "node-1.key"});
  TlsAgent fleet("node-2", "blue", cp_->xds_port(),
                 {"ca.crt", "blue-node-2.crt", "blue-node-2.key"});
  TlsAgent cn("node-3", "default", cp_->xds_port(), {"ca.crt", "cn-node-3.crt", "cn-node-3.key"});
  EXPECT_TRUE(uri.AwaitUpstream("backends")) << uri.log();
  EXPECT_TRUE(fleet.AwaitUpstream("backends")) << fleet.log();
  EXPECT_TRUE(cn.AwaitUpstream("backends")) << cn.log();
  EXPECT_TRUE(Known("node-1"));
  EXPECT_TRUE(Known("node-2"));
  EXPECT_TRUE(Known("node-3"));
}

// Validate that a handshake without a valid client certificate fails: none,
// one from another CA, an expired one.
TEST_F(XdsTlsTest, MutualTlsRejectsMissingForeignAndExpiredClientCertificates) {
  StartControlPlane(/*mutual=*/true);
  TlsAgent none("node-1", "default", cp_->xds_port(), {"ca.crt", "", ""});
  TlsAgent foreign("node-1", "default", cp_->xds_port(),
                   {"ca.crt", "other-node-1.crt", "other-node-1.key"});
  TlsAgent expired("node-1", "default", cp_->xds_port(),
                   {"ca.crt", "expired-node-1.crt", "expired-node-1.key"});
  ExpectNeverConnected({&none, &foreign, &expired}, absl::Seconds(2));
  EXPECT_FALSE(Known("node-1"));
}

// Validate that a node cannot speak for another: its Node.id (and fleet,
// when the certificate names one) must be the certificate's.
TEST_F(XdsTlsTest, MutualTlsRejectsANodeIdOtherThanTheCertificates) {
  StartControlPlane(/*mutual=*/true);
  TlsAgent impostor("node-9", "default", cp_->xds_port(), {"ca.crt", "node-1.crt", "node-1.key"});
  TlsAgent wrong_fleet("node-2", "default", cp_->xds_port(),
                       {"ca.crt", "blue-node-2.crt", "blue-node-2.key"});
  TlsAgent nameless("node-4", "default", cp_->xds_port(),
                    {"ca.crt", "nameless.crt", "nameless.key"});
  EXPECT_TRUE(impostor.AwaitLog(
      "7 node.id \"node-9\" does not match the client certificate's node \"node-1\" "
      "(spiffe://nginx-xds.test/node/node-1)"))
      << impostor.log();
  EXPECT_TRUE(wrong_fleet.AwaitLog(
      "7 node \"node-2\" declares fleet (node.cluster) \"default\" but its client certificate "
      "binds it to fleet \"blue\""))
      << wrong_fleet.log();
  EXPECT_TRUE(nameless.AwaitLog("7 the client certificate names no node")) << nameless.log();
  EXPECT_FALSE(Known("node-9"));
  EXPECT_FALSE(Known("node-2"));
  EXPECT_FALSE(Known("node-4"));
}

// Validate that the agent refuses bad TLS settings (a key that does not
// match, a missing half) with a clear error.
TEST(AgentTlsConfigTest, RefusesBadTlsSettings) {
  const std::string ca = ReadFile(PkiFile("ca.crt"));
  const std::string cert = ReadFile(PkiFile("node-1.crt"));
  const std::string key = ReadFile(PkiFile("node-1.key"));
  const std::string other_key = ReadFile(PkiFile("cn-node-3.key"));
  struct Case {
    const char *ca, *cert, *key, *error;
  } cases[] = {
      {"", cert.c_str(), key.c_str(), "needs the TLS CA"},
      {ca.c_str(), cert.c_str(), "", "both tls_cert and tls_key"},
      {"not pem", "", "", "tls_ca: no PEM certificate"},
      {ca.c_str(), key.c_str(), key.c_str(), "tls_cert: no PEM certificate"},
      {ca.c_str(), cert.c_str(), cert.c_str(), "tls_key: no unencrypted PEM private key"},
      {ca.c_str(), cert.c_str(), other_key.c_str(), "does not match"},
  };
  for (const Case& c : cases) {
    nxa_config_t config = {};
    config.server = "127.0.0.1:1";
    config.node_id = "node-1";
    config.on_snapshot = [](void*, nxa_snapshot_t* s) { nxa_snapshot_done(s, NXA_OK, nullptr); };
    config.tls_ca = c.ca;
    config.tls_cert = c.cert;
    config.tls_key = c.key;
    nxa_agent_t* agent = nullptr;
    char err[512] = "";
    EXPECT_EQ(nxa_agent_create(&config, &agent, err, sizeof(err)), NXA_ERROR) << c.error;
    EXPECT_THAT(err, HasSubstr(c.error));
    nxa_agent_destroy(agent);
  }
}

}  // namespace
}  // namespace nginx_xds
