// The two seed HTTP APIs (ngx_dynamic_upstream's /dynamic and dyups' REST
// API) and /fleet/status, over real HTTP on loopback with cpp-httplib's
// client, against a control plane running in process. The seeds' samples
// are checked byte for byte; every malformed request gets its 4xx, a body
// that says what was wrong, and changes nothing.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/control_plane.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_agent.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;
using nginx_xds::v1::Upstream;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using Headers = std::vector<std::pair<std::string, std::string>>;

// What came back: status, body and headers.
struct Reply {
  int status = 0;
  // The status line without its CRLF (RawRequest only).
  std::string status_line;
  std::string body;
  httplib::Headers headers;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Sends `bytes` as they are (for requests no HTTP client would make) and
// reads the first answer: its headers, then Content-Length bytes of body (to
// the end of the connection without one). The connection is not shut down
// first: a server closing it with unread bytes would reset it.
Reply RawRequest(int port, const std::string& bytes) {
  Reply reply;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval timeout{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ADD_FAILURE() << "cannot connect to port " << port;
    close(fd);
    return reply;
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer before reading it all
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  size_t end_of_headers = std::string::npos;
  std::optional<size_t> length;
  char buffer[4096];
  while (true) {
    if (end_of_headers == std::string::npos) {
      end_of_headers = answer.find("\r\n\r\n");
      if (end_of_headers != std::string::npos) {
        size_t line = answer.find("\r\n") + 2;
        while (line < end_of_headers) {
          const size_t next = answer.find("\r\n", line);
          const std::string header = answer.substr(line, next - line);
          const size_t colon = header.find(':');
          std::string name = header.substr(0, colon);
          std::string value = colon == std::string::npos ? "" : header.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          if (absl::EqualsIgnoreCase(name, "Content-Length")) length = std::stoul(value);
          reply.headers.emplace(name, value);
          line = next + 2;
        }
      }
    }
    if (end_of_headers != std::string::npos && length.has_value() &&
        answer.size() >= end_of_headers + 4 + *length) {
      break;
    }
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  if (answer.size() < 12 || end_of_headers == std::string::npos) {
    ADD_FAILURE() << "no HTTP answer: \"" << answer << "\"";
    return reply;
  }
  reply.status = std::stoi(answer.substr(9, 3));
  reply.status_line = answer.substr(0, answer.find("\r\n"));
  reply.body = answer.substr(end_of_headers + 4, length.value_or(std::string::npos));
  return reply;
}

class HttpGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = TestControlPlaneOptions(absl::Seconds(20));
    Start();
  }

  void Start() {
    auto cp = ControlPlane::Start(options_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    ASSERT_NE(cp_->http_port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", cp_->http_port());
    // Targets are sent exactly as the tests write them (already encoded).
    client_->set_url_encode(false);
    client_->set_read_timeout(60, 0);
  }

  // A restart on the same store.
  void Restart() {
    client_.reset();
    cp_.reset();
    Start();
  }

  Reply Send(const std::string& method, const std::string& target, const std::string& body = "",
             const Headers& headers = {}, const std::string& content_type = "") {
    httplib::Request request;
    request.method = method;
    request.path = target;
    for (const auto& [name, value] : headers) request.headers.emplace(name, value);
    if (!body.empty()) {
      request.body = body;
      request.headers.emplace("Content-Type", content_type.empty()
                                                  ? "application/x-www-form-urlencoded"
                                                  : content_type);
    }
    httplib::Result result = client_->send(request);
    Reply reply;
    if (!result) {
      ADD_FAILURE() << method << " " << target << ": " << httplib::to_string(result.error());
      return reply;
    }
    reply.status = result->status;
    reply.body = result->body;
    reply.headers = result->headers;
    return reply;
  }

  Reply Get(const std::string& target, const Headers& headers = {}) {
    return Send("GET", target, "", headers);
  }

  // curl -d BODY: a POST with a form content type.
  Reply Post(const std::string& target, const std::string& body, const Headers& headers = {}) {
    return Send("POST", target, body, headers);
  }

  Reply Delete(const std::string& target, const Headers& headers = {}) {
    return Send("DELETE", target, "", headers);
  }

  void Put(const std::string& fleet, const Upstream& upstream) {
    auto result = cp_->upstreams()->Put(fleet, upstream);
    ASSERT_TRUE(result.ok()) << result.status();
  }

  // The seed 000 upstream: zone zone_for_backends with 6001-6003.
  void PutSeedBackends() {
    Put("", MakeUpstream("backends", {"127.0.0.1:6001", "127.0.0.1:6002", "127.0.0.1:6003"},
                         "zone_for_backends"));
  }

  // Everything a request could change: every upstream of every fleet in
  // creation order, with every field, and the fleets' versions.
  std::string State() {
    std::string state;
    for (const auto& [fleet, version] : cp_->upstreams()->FleetVersions()) {
      absl::StrAppend(&state, "fleet ", fleet, " @", version, "\n");
      for (const auto& upstream : cp_->upstreams()->ListInCreationOrder(fleet)) {
        absl::StrAppend(&state, upstream.DebugString(), "--\n");
      }
    }
    return state;
  }

  // Waits (bounded) until `count` nodes of `fleet` are connected.
  void AwaitConnected(const std::string& fleet, int count) {
    uint64_t seen = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      int connected = 0;
      const auto status = cp_->registry()->Status(fleet);
      for (const auto& node : status.nodes()) connected += node.connected();
      if (connected == count) return;
      seen = cp_->registry()->WaitForChange(seen, deadline);
    }
    FAIL() << "fleet " << fleet << " never had " << count << " connected nodes";
  }

  ControlPlane::Options options_;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<httplib::Client> client_;
};

// ---------------------------------------------------------------------------
// Seed 000 (ngx_dynamic_upstream), every sample byte for byte. The seed's
// sections are separate examples: update_parameters and down each start
// from the quick-start upstream; up follows down; remove follows add.

constexpr char kZone[] = "/dynamic?upstream=zone_for_backends";

// Validate seed 000's /dynamic list, byte for byte.
TEST_F(HttpGatewayTest, Seed000List) {
  PutSeedBackends();
  Reply reply = Get(kZone);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Header("Content-Type"), "text/plain");
  EXPECT_EQ(reply.body,
            "server 127.0.0.1:6001;\n"
            "server 127.0.0.1:6002;\n"
            "server 127.0.0.1:6003;\n");
}

// Validate seed 000's verbose list, byte for byte.
TEST_F(HttpGatewayTest, Seed000Verbose) {
  PutSeedBackends();
  Reply reply = Get(absl::StrCat(kZone, "&verbose="));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body,
            "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10;\n");
}

// Validate seed 000's parameter update, byte for byte.
TEST_F(HttpGatewayTest, Seed000UpdateParameters) {
  PutSeedBackends();
  Reply reply =
      Get(absl::StrCat(kZone, "&server=127.0.0.1:6003&weight=10&max_fails=5&fail_timeout=5"));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body,
            "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6003 weight=10 max_fails=5 fail_timeout=5;\n");
}

// Validate seed 000's down then up, byte for byte.
TEST_F(HttpGatewayTest, Seed000DownThenUp) {
  PutSeedBackends();
  Reply down = Get(absl::StrCat(kZone, "&server=127.0.0.1:6003&down="));
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.body,
            "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10 down;\n");
  Reply up = Get(absl::StrCat(kZone, "&server=127.0.0.1:6003&up="));
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body,
            "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10;\n"
            "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10;\n");
}

// Validate seed 000's add then remove, byte for byte, and that the change
// is the fleet's stored state.
TEST_F(HttpGatewayTest, Seed000AddThenRemove) {
  PutSeedBackends();
  Reply add = Get("/dynamic?upstream=zone_for_backends&add=&server=127.0.0.1:6004");
  EXPECT_EQ(add.status, 200);
  EXPECT_EQ(add.body,
            "server 127.0.0.1:6001;\n"
            "server 127.0.0.1:6002;\n"
            "server 127.0.0.1:6003;\n"
            "server 127.0.0.1:6004;\n");
  Reply remove = Get("/dynamic?upstream=zone_for_backends&remove=&server=127.0.0.1:6003");
  EXPECT_EQ(remove.status, 200);
  EXPECT_EQ(remove.body,
            "server 127.0.0.1:6001;\n"
            "server 127.0.0.1:6002;\n"
            "server 127.0.0.1:6004;\n");
  // The change is the fleet's state, not one host's memory.
  auto upstream = cp_->upstreams()->Get("", "backends");
  ASSERT_TRUE(upstream.ok());
  ASSERT_EQ(upstream->servers_size(), 3);
  EXPECT_EQ(upstream->servers(2).address(), "127.0.0.1:6004");
}

// ---------------------------------------------------------------------------
// Seed 002 (dyups), the sample session byte for byte, after the sample
// nginx.conf's upstreams host1 and host2 are in place.

// Validate seed 002's dyups transcript (POST, detail, DELETE), byte for byte.
TEST_F(HttpGatewayTest, Seed002Sample) {
  Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
  Put("", MakeUpstream("host2", {"127.0.0.1:8089"}));

  Reply post = Post("/upstream/dyhost", "server 127.0.0.1:8089;server 127.0.0.1:8088;");
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "success");

  Reply detail = Get("/detail");
  EXPECT_EQ(detail.status, 200);
  EXPECT_EQ(detail.Header("Content-Type"), "text/plain");
  EXPECT_EQ(detail.body,
            "host1\n"
            "server 127.0.0.1:8088\n"
            "\n"
            "host2\n"
            "server 127.0.0.1:8089\n"
            "\n"
            "dyhost\n"
            "server 127.0.0.1:8089\n"
            "server 127.0.0.1:8088\n"
            "\n");

  Reply remove = Delete("/upstream/dyhost");
  EXPECT_EQ(remove.status, 200);
  EXPECT_EQ(remove.body, "success");

  detail = Get("/detail");
  EXPECT_EQ(detail.status, 200);
  EXPECT_EQ(detail.body,
            "host1\n"
            "server 127.0.0.1:8088\n"
            "\n"
            "host2\n"
            "server 127.0.0.1:8089\n"
            "\n");
}

// Validate dyups' /list order and /upstream/NAME (case-insensitive), and
// that HEAD is a 405 as in dyups.
TEST_F(HttpGatewayTest, DyupsListAndUpstream) {
  Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
  Put("", MakeUpstream("host2", {"127.0.0.1:8089"}));
  ASSERT_EQ(Post("/upstream/dyhost", "server 127.0.0.1:8089;server 127.0.0.1:8088;").status, 200);
  Reply list = Get("/list");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.body, "host1\nhost2\ndyhost\n");
  Reply one = Get("/upstream/dyhost");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.body, "server 127.0.0.1:8089\nserver 127.0.0.1:8088\n");
  // Names are matched case-insensitively, as nginx does.
  EXPECT_EQ(Get("/upstream/DyHost").body, one.body);
  // dyups answers HEAD (of any path) 405, as every method but GET, POST and DELETE.
  for (const std::string path : {"/upstream/dyhost", "/list", "/detail"}) {
    Reply head = Send("HEAD", path);
    EXPECT_EQ(head.status, 405) << path;
    EXPECT_EQ(head.body, "") << path;
    EXPECT_EQ(head.Header("Allow"), path == "/upstream/dyhost" ? "GET, POST, DELETE" : "GET");
  }
}

// Validate that an empty /list or /detail is a 204 with no body.
TEST_F(HttpGatewayTest, DyupsEmptyListAndDetailAre204) {
  Reply list = Get("/list");
  EXPECT_EQ(list.status, 204);
  EXPECT_EQ(list.body, "");
  Reply detail = Get("/detail");
  EXPECT_EQ(detail.status, 204);
  EXPECT_EQ(detail.body, "");
  // A fleet that has upstreams is not empty for another fleet.
  Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
  EXPECT_EQ(Get("/list", {{"X-Xds-Fleet", "empty"}}).status, 204);
  EXPECT_EQ(Get("/list").status, 200);
}

// POST replaces the whole upstream, keeps the spelling of its name and its
// zone, and moves it to the end of /list as dyups does; everything the body
// says is taken.
TEST_F(HttpGatewayTest, DyupsPostReplacesKeepingZoneAndNameMovingItLast) {
  PutSeedBackends();
  Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
  Reply post = Post("/upstream/BACKENDS",
                    "least_conn;\n"
                    "server 127.0.0.1:7000 weight=3 max_fails=2 fail_timeout=1m max_conns=10;\n"
                    "server 127.0.0.1:7001 backup;\n"
                    "keepalive 16; keepalive_requests 100; keepalive_time 10m; "
                    "keepalive_timeout 30s;");
  ASSERT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(Get("/list").body, "host1\nbackends\n");
  auto upstream = cp_->upstreams()->Get("", "backends");
  ASSERT_TRUE(upstream.ok());
  EXPECT_EQ(upstream->name(), "backends");
  EXPECT_EQ(upstream->zone(), "zone_for_backends");
  EXPECT_EQ(upstream->method(), v1::LEAST_CONN);
  EXPECT_EQ(upstream->keepalive(), 16u);
  EXPECT_EQ(upstream->keepalive_requests(), 100u);
  EXPECT_EQ(upstream->keepalive_time_ms(), 600000u);
  EXPECT_EQ(upstream->keepalive_timeout_ms(), 30000u);
  ASSERT_EQ(upstream->servers_size(), 2);
  EXPECT_EQ(upstream->servers(0).weight(), 3u);
  EXPECT_EQ(upstream->servers(0).max_fails(), 2u);
  EXPECT_EQ(upstream->servers(0).fail_timeout(), 60u);
  EXPECT_EQ(upstream->servers(0).max_conns(), 10u);
  EXPECT_TRUE(upstream->servers(1).backup());
  // The zone still names it for /dynamic, which lists backup servers so.
  EXPECT_EQ(Get(kZone).body, "server 127.0.0.1:7000;\nserver 127.0.0.1:7001 backup;\n");
  EXPECT_EQ(Get(absl::StrCat(kZone, "&verbose=")).body,
            "server 127.0.0.1:7000 weight=3 max_fails=2 fail_timeout=60;\n"
            "server 127.0.0.1:7001 weight=1 max_fails=1 fail_timeout=10 backup;\n");

  // Another POST takes only what its body says: the method goes back to
  // round robin, keepalive to none.
  ASSERT_EQ(
      Post("/upstream/backends", "hash \"$request_uri\" consistent; server 127.0.0.1:7002;").status,
      200);
  upstream = cp_->upstreams()->Get("", "backends");
  ASSERT_TRUE(upstream.ok());
  EXPECT_EQ(upstream->method(), v1::HASH);
  EXPECT_EQ(upstream->hash_key(), "$request_uri");
  EXPECT_TRUE(upstream->hash_consistent());
  EXPECT_EQ(upstream->keepalive(), 0u);
  EXPECT_EQ(upstream->zone(), "zone_for_backends");
}

// A deleted upstream frees its slot, which the next new upstream takes
// (dyups lists a re-created host1 first again).
TEST_F(HttpGatewayTest, DyupsDeleteIsCaseInsensitiveAndFreesTheSlot) {
  Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
  Put("", MakeUpstream("host2", {"127.0.0.1:8089"}));
  EXPECT_EQ(Delete("/upstream/HOST1").status, 200);
  EXPECT_EQ(Get("/list").body, "host2\n");
  EXPECT_EQ(Post("/upstream/host1", "server 127.0.0.1:8088;").status, 200);
  EXPECT_EQ(Get("/list").body, "host1\nhost2\n");
}

// dyups answers a POST without a body 204, whatever the path, and stores
// nothing.
TEST_F(HttpGatewayTest, DyupsPostWithoutABodyIs204AndStoresNothing) {
  Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
  const std::string before = State();
  for (const std::string path : {"/upstream/newone", "/upstream/host1", "/list", "/detail"}) {
    Reply post = Send("POST", path);
    EXPECT_EQ(post.status, 204) << path;
    EXPECT_EQ(post.body, "") << path;
    EXPECT_EQ(post.Header("Content-Length"), "") << path;
    EXPECT_EQ(State(), before) << path;
  }
  EXPECT_EQ(Get("/upstream/newone").status, 404);
}

// Validate that every write answer carries X-Xds-Version and the fleet's
// acked and connected node counts.
TEST_F(HttpGatewayTest, WritesCarryTheirVersionAndFleetCounts) {
  Reply post = Post("/upstream/dyhost", "server 127.0.0.1:8089;");
  ASSERT_EQ(post.status, 200);
  EXPECT_EQ(post.Header("X-Xds-Version"),
            std::to_string(cp_->upstreams()->FleetVersion("default")));
  EXPECT_EQ(post.Header("X-Xds-Acked-Nodes"), "0");
  EXPECT_EQ(post.Header("X-Xds-Connected-Nodes"), "0");
  Reply add = Get("/dynamic?upstream=z&add=&server=127.0.0.1:1");
  EXPECT_EQ(add.status, 404);
  EXPECT_EQ(add.Header("X-Xds-Version"), "");
  PutSeedBackends();
  add = Get(absl::StrCat(kZone, "&add=&server=127.0.0.1:6004"));
  ASSERT_EQ(add.status, 200);
  EXPECT_EQ(add.Header("X-Xds-Version"), std::to_string(cp_->upstreams()->FleetVersion("")));
}

// Validate that /dynamic's add takes weight, max_fails, backup and down.
TEST_F(HttpGatewayTest, DynamicAddTakesParametersBackupAndDown) {
  PutSeedBackends();
  // Parameters make the answer verbose; so does down.
  Reply add = Get(absl::StrCat(kZone, "&add=&server=127.0.0.1:6004&weight=4&max_fails=0"));
  EXPECT_EQ(add.status, 200);
  EXPECT_THAT(add.body, HasSubstr("server 127.0.0.1:6004 weight=4 max_fails=0 fail_timeout=10;\n"));
  add = Get(absl::StrCat(kZone, "&add=&backup=&server=127.0.0.1:6005"));
  EXPECT_EQ(add.status, 200);
  EXPECT_THAT(add.body, HasSubstr("server 127.0.0.1:6004;\nserver 127.0.0.1:6005 backup;\n"));
  add = Get(absl::StrCat(kZone, "&add=&down=&server=127.0.0.1:6006"));
  EXPECT_EQ(add.status, 200);
  EXPECT_THAT(add.body,
              HasSubstr("server 127.0.0.1:6006 weight=1 max_fails=1 fail_timeout=10 down;\n"));
  // Percent-encoding is read as a client means it.
  Reply remove = Get(absl::StrCat(kZone, "&remove=&server=127.0.0.1%3A6006"));
  EXPECT_EQ(remove.status, 200);
  EXPECT_THAT(remove.body, Not(HasSubstr("6006")));
  // backup= is accepted with up/down/parameters and changes nothing more.
  Reply down = Get(absl::StrCat(kZone, "&backup=&down=&server=127.0.0.1:6005"));
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.Header("X-Xds-Ignored"), "backup= (used by add only)");
  EXPECT_THAT(
      down.body,
      HasSubstr("server 127.0.0.1:6005 weight=1 max_fails=1 fail_timeout=10 backup down;\n"));
}

// HEAD answers as the original did, before it read the query: 200,
// text/plain, no Content-Length, and never applies a change.
TEST_F(HttpGatewayTest, DynamicHeadChangesNothing) {
  PutSeedBackends();
  const std::string before = State();
  for (const std::string query :
       {"", "&add=&server=127.0.0.1:6009", "&remove=&server=127.0.0.1:6001",
        "&server=127.0.0.1:6001&weight=7",
        "&server=127.0.0.1:6001&down=", "&weight=x&server=127.0.0.1:6001"}) {
    Reply head = RawRequest(cp_->http_port(), absl::StrCat("HEAD ", kZone, query,
                                                           " HTTP/1.1\r\nHost: x\r\n"
                                                           "Connection: close\r\n\r\n"));
    EXPECT_EQ(head.status, 200) << query;
    EXPECT_EQ(head.body, "") << query;
    EXPECT_EQ(head.Header("Content-Type"), "text/plain") << query;
    EXPECT_EQ(head.headers.count("Content-Length"), 0u) << query;
    EXPECT_EQ(State(), before) << query;
  }
  EXPECT_EQ(Send("HEAD", "/dynamic?upstream=nope").status, 200);
}

// What ngx_dynamic_upstream (7220bd4) ignored is ignored, and named in
// X-Xds-Ignored: unknown parameters, a flag's value, a repeated parameter
// (the first counts, as nginx's $arg_ does), a parameter without '=', what
// the operation does not use; names are matched case-insensitively.
TEST_F(HttpGatewayTest, DynamicIgnoresWhatTheOriginalIgnored) {
  PutSeedBackends();
  const std::string plain =
      "server 127.0.0.1:6001;\nserver 127.0.0.1:6002;\nserver 127.0.0.1:6003;\n";
  struct Case {
    std::string query;
    std::string body;     // the answer's body
    std::string ignored;  // X-Xds-Ignored
  };
  const std::vector<Case> cases = {
      {"&foo=1", plain, "foo=1 (unknown parameter)"},
      {"&max_conns=5&server=127.0.0.1:6003", plain,
       "max_conns=5 (unknown parameter), server=127.0.0.1:6003 (no change asked)"},
      {"&verbose", plain, "verbose (no \"=\")"},
      {"&backup=", plain, "backup= (used by add only)"},
      {"&upstream=other", plain, "upstream=other (repeated; the first one counts)"},
      {"&server=127.0.0.1:6003&verbose=",
       "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10;\n",
       "server=127.0.0.1:6003 (no change asked)"},
      {"&server=127.0.0.1:6003&down=1",
       "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10 down;\n",
       "down=1 (a flag's value)"},
      {"&server=127.0.0.1:6003&up=true&verbose=0",
       "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6002 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10;\n",
       "up=true (a flag's value), verbose=0 (a flag's value)"},
      {"&SERVER=127.0.0.1:6002&Weight=2&weight=3",
       "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6002 weight=2 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10;\n",
       "weight=3 (repeated; the first one counts)"},
      // remove takes the server alone; its parameters still make the list verbose.
      {"&remove=&server=127.0.0.1:6002&weight=5&down=",
       "server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10;\n"
       "server 127.0.0.1:6003 weight=1 max_fails=1 fail_timeout=10;\n",
       "weight=5 (not used by remove), down= (not used by remove)"},
  };
  for (const Case& c : cases) {
    Reply reply = Get(absl::StrCat(kZone, c.query));
    EXPECT_EQ(reply.status, 200) << c.query << ": " << reply.body;
    EXPECT_EQ(reply.body, c.body) << c.query;
    EXPECT_EQ(reply.Header("X-Xds-Ignored"), c.ignored) << c.query;
  }
  // The zone's parameter itself is matched case-insensitively too.
  Reply upper = Get("/dynamic?UPSTREAM=zone_for_backends");
  EXPECT_EQ(upper.status, 200);
  EXPECT_EQ(upper.Header("X-Xds-Ignored"), "");
}

// One address rule for add, remove and update: a server without a port is
// port 80, as nginx reads `server 127.0.0.1;`.
TEST_F(HttpGatewayTest, DynamicServerWithoutAPortIsPort80Everywhere) {
  PutSeedBackends();
  Reply add = Get(absl::StrCat(kZone, "&add=&server=127.0.0.1"));
  ASSERT_EQ(add.status, 200) << add.body;
  EXPECT_THAT(add.body, HasSubstr("server 127.0.0.1:80;\n"));
  Reply update = Get(absl::StrCat(kZone, "&server=127.0.0.1&weight=4"));
  ASSERT_EQ(update.status, 200) << update.body;
  EXPECT_THAT(update.body, HasSubstr("server 127.0.0.1:80 weight=4 "));
  Reply remove = Get(absl::StrCat(kZone, "&remove=&server=127.0.0.1"));
  ASSERT_EQ(remove.status, 200) << remove.body;
  EXPECT_THAT(remove.body, Not(HasSubstr(":80;")));
  // Adding it again, and removing it by its full address.
  ASSERT_EQ(Get(absl::StrCat(kZone, "&add=&server=127.0.0.1")).status, 200);
  EXPECT_EQ(Get(absl::StrCat(kZone, "&remove=&server=127.0.0.1:80")).status, 200);
}

// weight=0 is passed on and stored, as the original stored it. Needs the
// upstream model to allow weight 0 (another branch of issue 9): skipped
// while the model still refuses it.
TEST_F(HttpGatewayTest, DynamicWeightZeroIsStored) {
  PutSeedBackends();
  Reply update = Get(absl::StrCat(kZone, "&server=127.0.0.1:6003&weight=0"));
  if (update.status == 400 && absl::StrContains(update.body, "weight 0 must be")) {
    GTEST_SKIP() << "the upstream model refuses weight 0 still: " << update.body;
  }
  ASSERT_EQ(update.status, 200) << update.body;
  EXPECT_THAT(update.body, HasSubstr("server 127.0.0.1:6003 weight=0 max_fails=1"));
  Reply add = Get(absl::StrCat(kZone, "&add=&server=127.0.0.1:6004&weight=0"));
  ASSERT_EQ(add.status, 200) << add.body;
  EXPECT_THAT(add.body, HasSubstr("server 127.0.0.1:6004 weight=0 max_fails=1"));
}

// A 405 reads as nginx's does, in its status line and its body's first line.
TEST_F(HttpGatewayTest, NotAllowedReadsAsNginxWrites) {
  for (const std::string method : {"POST", "PUT", "DELETE"}) {
    Reply reply = RawRequest(cp_->http_port(), absl::StrCat(method, " ", kZone,
                                                            " HTTP/1.1\r\nHost: x\r\n"
                                                            "Content-Length: 0\r\n\r\n"));
    EXPECT_EQ(reply.status_line, "HTTP/1.1 405 Not Allowed") << method;
    EXPECT_THAT(reply.body, StartsWith("405 Not Allowed\n")) << method;
    EXPECT_EQ(reply.Header("Allow"), "GET, HEAD") << method;
  }
  // Other statuses keep their words in both places.
  Reply missing = RawRequest(cp_->http_port(), "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(missing.status_line, "HTTP/1.1 404 Not Found");
  EXPECT_THAT(missing.body, StartsWith("404 Not Found\n"));
}

// X-Xds-Fleet names the fleet; each fleet has its own upstreams and zones.
TEST_F(HttpGatewayTest, FleetHeaderSelectsTheFleet) {
  PutSeedBackends();
  Put("edge", MakeUpstream("edgeup", {"10.0.0.1:80"}, "zone_for_backends"));
  const Headers edge = {{"X-Xds-Fleet", "edge"}};
  EXPECT_EQ(Get("/list", edge).body, "edgeup\n");
  EXPECT_EQ(Get(kZone, edge).body, "server 10.0.0.1:80;\n");
  EXPECT_EQ(Get(kZone).body,
            "server 127.0.0.1:6001;\nserver 127.0.0.1:6002;\nserver 127.0.0.1:6003;\n");
  Reply post = Post("/upstream/dyhost", "server 10.0.0.2:80;", edge);
  ASSERT_EQ(post.status, 200);
  EXPECT_EQ(post.Header("X-Xds-Version"), std::to_string(cp_->upstreams()->FleetVersion("edge")));
  EXPECT_EQ(Get("/list", edge).body, "edgeup\ndyhost\n");
  EXPECT_EQ(Get("/list").body, "backends\n");
  EXPECT_EQ(Get("/upstream/dyhost").status, 404);
  EXPECT_EQ(Delete("/upstream/dyhost", edge).status, 200);
}

// Validate that what the HTTP APIs wrote is there after a restart, slots
// (dyups' order) included.
TEST_F(HttpGatewayTest, StateSurvivesARestart) {
  Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
  ASSERT_EQ(Post("/upstream/dyhost", "server 127.0.0.1:8089;server 127.0.0.1:8088;").status, 200);
  ASSERT_EQ(Post("/upstream/host1", "server 127.0.0.1:8090;").status, 200);
  const std::string detail = Get("/detail").body;
  // The replaced host1 moved last, as in dyups.
  EXPECT_EQ(detail,
            "dyhost\nserver 127.0.0.1:8089\nserver 127.0.0.1:8088\n\n"
            "host1\nserver 127.0.0.1:8090\n\n");
  Restart();
  EXPECT_EQ(Get("/detail").body, detail);
}

// Requests served at once by the gateway's threads all land.
TEST_F(HttpGatewayTest, ConcurrentWritesAllLand) {
  constexpr int kClients = 12;
  std::vector<std::thread> threads;
  std::vector<int> statuses(kClients);
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([this, i, &statuses] {
      httplib::Client client("127.0.0.1", cp_->http_port());
      client.set_read_timeout(60, 0);
      auto result = client.Post(absl::StrCat("/upstream/up", i),
                                absl::StrCat("server 127.0.0.1:", 7000 + i, ";"), "text/plain");
      statuses[i] = result ? result->status : -1;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(statuses[i], 200) << i;
  EXPECT_EQ(cp_->upstreams()->List("").size(), static_cast<size_t>(kClients));
}

// ---------------------------------------------------------------------------
// The fleet: ACKs in the headers, a rejection is a 500 naming the node and
// its reason, the fleet status shows both.

// Validate that an HTTP write waits for the fleet's ACKs and counts them.
TEST_F(HttpGatewayTest, WriteWaitsForTheFleetAndCountsItsAcks) {
  TestAgent agent("web-1", "default", cp_->xds_port());
  AwaitConnected("default", 1);
  Reply post = Post("/upstream/dyhost", "server 127.0.0.1:8089;");
  ASSERT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(post.Header("X-Xds-Acked-Nodes"), "1");
  EXPECT_EQ(post.Header("X-Xds-Connected-Nodes"), "1");
  const std::string version = post.Header("X-Xds-Version");
  EXPECT_EQ(agent.AwaitVersion(std::stoull(version), "dyhost"),
            std::vector<std::string>{"127.0.0.1:8089"});

  Reply text = Get("/fleet/status");
  EXPECT_EQ(text.status, 200);
  EXPECT_THAT(text.body, HasSubstr(absl::StrCat("fleet default: version ", version,
                                                ", 1 node, 1 connected\n")));
  EXPECT_THAT(text.body,
              HasSubstr(absl::StrCat("  node web-1: connected, acked version ", version, "\n")));
  Reply json = Get("/fleet/status?format=json");
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.Header("Content-Type"), "application/json");
  EXPECT_THAT(json.body,
              HasSubstr(absl::StrCat("{\"name\":\"default\",\"version\":", version, "}")));
  EXPECT_THAT(json.body, HasSubstr(absl::StrCat("{\"id\":\"web-1\",\"fleet\":\"default\","
                                                "\"connected\":true,\"acked_version\":",
                                                version, ",")));
  EXPECT_THAT(json.body, HasSubstr("\"last_nack\":null,\"rejected_upstreams\":[]}"));
  // Another fleet asked for by name has no nodes.
  EXPECT_EQ(Get("/fleet/status", {{"X-Xds-Fleet", "edge"}}).body,
            "fleet edge: version 0, 0 nodes, 0 connected\n");
}

// Validate that a node's rejection makes the write a 500 naming the node
// and its reason.
TEST_F(HttpGatewayTest, RejectionIsA500NamingTheNodeAndItsReason) {
  TestAgent good("good", "default", cp_->xds_port());
  TestAgent picky("picky", "default", cp_->xds_port(), /*reject_upstream=*/"dyhost");
  AwaitConnected("default", 2);
  Reply post = Post("/upstream/dyhost", "server 127.0.0.1:8089;");
  EXPECT_EQ(post.status, 500);
  const std::string version = post.Header("X-Xds-Version");
  EXPECT_EQ(post.body, absl::StrCat("500 Internal Server Error\n"
                                    "version ",
                                    version,
                                    " is stored, but 1 of 2 connected nodes rejected it:\n"
                                    "node \"picky\" rejected version ",
                                    version, ": upstream \"dyhost\": cannot apply upstream\n"));
  EXPECT_EQ(post.Header("X-Xds-Acked-Nodes"), "1");
  EXPECT_EQ(post.Header("X-Xds-Connected-Nodes"), "2");
  // Stored all the same: nothing is reported done that is not durable, and
  // nothing durable is hidden.
  EXPECT_EQ(Get("/list").body, "dyhost\n");

  Reply text = Get("/fleet/status");
  // Over Delta the refusal is the upstream's alone: the node took the rest of
  // the version, and runs without "dyhost".
  EXPECT_THAT(text.body,
              HasSubstr(absl::StrCat("  node picky: connected, acked version ", version,
                                     ", last NACK of version ", version,
                                     ": cannot apply upstream\n"
                                     "    rejects upstream \"dyhost\" since version ",
                                     version, " (still in version ", version,
                                     "): cannot apply upstream\n")));
  Reply json = Get("/fleet/status?format=json");
  EXPECT_THAT(json.body, HasSubstr(absl::StrCat("\"last_nack\":{\"version\":", version,
                                                ",\"message\":\"cannot apply upstream\"")));

  // /dynamic's writes are answered the same way.
  Put("", MakeUpstream("dyhost", {"127.0.0.1:8089"}, "zone_dy"));
  Reply add = Get("/dynamic?upstream=zone_dy&add=&server=127.0.0.1:8090");
  EXPECT_EQ(add.status, 500);
  EXPECT_THAT(add.body, StartsWith("500 Internal Server Error\n"));
  EXPECT_THAT(add.body, HasSubstr("node \"picky\" rejected version"));
}

// ---------------------------------------------------------------------------
// The corpus of malformed requests: each gets its 4xx, a body that starts
// with the status line's words and says what was wrong, and changes
// nothing (the state before equals the state after, per case).

struct BadRequest {
  std::string method;
  std::string target;
  int status;
  std::string message;  // must appear in the body
  std::string body = "";
  Headers headers = {};
  std::string content_type = "";
};

// Raw requests: sent byte for byte, for what no HTTP client would send.
struct BadRawRequest {
  std::string bytes;
  int status;
  std::string message;
};

const std::string kZ = kZone;
const std::string kS = kZone + std::string("&server=127.0.0.1:6003");
const std::string kOk = "server 127.0.0.1:8080;";

std::vector<BadRequest> BadRequests() {
  std::vector<BadRequest> cases = {
      // /dynamic: the zone.
      {"GET", "/dynamic", 404, "upstream is missing: give upstream=ZONE"},
      {"GET", "/dynamic?upstream=", 404, "upstream is empty"},
      {"GET", "/dynamic?upstream=nope", 404, "no upstream has zone \"nope\" in fleet \"default\""},
      {"GET", "/dynamic?upstream=ZONE_FOR_BACKENDS", 404,
       "no upstream has zone \"ZONE_FOR_BACKENDS\""},
      {"GET", "/dynamic?upstream=backends", 404, "no upstream has zone \"backends\""},
      {"GET", "/dynamic?upstream=zone_edge", 404, "no upstream has zone \"zone_edge\""},
      {"GET", "/dynamic?upstream=nope&add=&server=127.0.0.1:6009", 404, "no upstream has zone"},
      {"GET", "/dynamic?upstream=zone%00", 404, "no upstream has zone \"zone\\x00\""},
      {"GET", "/dynamic?upstream=%FF%FE", 404, "no upstream has zone \"\\xff\\xfe\""},
      {"GET", "/dynamic?upstream=zone_edge", 404, "in fleet \"default\""},
      {"GET",
       kZ,
       404,
       "no upstream has zone \"zone_for_backends\" in fleet \"edge\"",
       "",
       {{"X-Xds-Fleet", "edge"}}},
      // /dynamic: numbers.
      {"GET", kS + "&weight=abc", 400, "parameter weight=\"abc\" is not an integer"},
      {"GET", kS + "&weight=-1", 400, "parameter weight=\"-1\" is not an integer"},
      {"GET", kS + "&weight=1.5", 400, "weight=\"1.5\" is not an integer"},
      {"GET", kS + "&weight=", 400, "weight=\"\" is not an integer"},
      {"GET", kS + "&weight=%2B5", 400, "weight=\"+5\" is not an integer"},
      {"GET", kS + "&weight=0x10", 400, "weight=\"0x10\" is not an integer"},
      {"GET", kS + "&weight=1%00", 400, "weight=\"1\\x00\" is not an integer"},
      {"GET", kS + "&weight=%EF%BC%91", 400, "weight=\"\\xef\\xbc\\x91\" is not an integer"},
      {"GET", kS + "&weight=99999999999", 400, "weight=\"99999999999\" is too large"},
      {"GET", kS + "&max_fails=x", 400, "parameter max_fails=\"x\" is not an integer"},
      {"GET", kS + "&max_fails=-1", 400, "parameter max_fails=\"-1\" is not an integer"},
      {"GET", kS + "&fail_timeout=10s", 400,
       "fail_timeout=\"10s\" is not an integer (fail_timeout takes decimal digits only, in "
       "seconds)"},
      {"GET", kS + "&fail_timeout=1e3", 400, "fail_timeout=\"1e3\" is not an integer"},
      {"GET", kS + "&weight=1000001", 400, "weight 1000001 must be 0-1000000"},
      {"GET", "/dynamic?upstream=zone_single&server=127.0.0.1:7001&weight=0", 400,
       "server \"127.0.0.1:7001\": weight 0 is not supported by method hash"},
      // /dynamic: contradictions and what is missing.
      {"GET", kS + "&add=&remove=", 400, "add and remove cannot be given together"},
      {"GET", kS + "&up=&down=", 400, "up and down cannot be given together"},
      {"GET", kZ + "&add=", 400, "server is missing"},
      {"GET", kZ + "&remove=", 400, "server is missing"},
      {"GET", kZ + "&weight=2", 400, "server is missing"},
      {"GET", kZ + "&up=", 400, "server is missing"},
      {"GET", kZ + "&down=", 400, "server is missing"},
      {"GET", kZ + "&add=&server=", 400, "server is empty"},
      // /dynamic: servers that are there or not.
      {"GET", kZ + "&add=&server=127.0.0.1:6001", 400,
       "server \"127.0.0.1:6001\" already exists in upstream \"backends\""},
      {"GET", kZ + "&add=&server=127.0.0.1:6001&weight=5", 400, "already exists"},
      {"GET", kZ + "&remove=&server=127.0.0.1:6009", 400,
       "server \"127.0.0.1:6009\" not found in upstream \"backends\""},
      {"GET", kZ + "&server=127.0.0.1:6009&weight=2", 400, "server \"127.0.0.1:6009\" not found"},
      {"GET", kZ + "&server=127.0.0.1:6009&down=", 400, "not found in upstream"},
      {"GET", kZ + "&server=127.0.0.1:6009&up=", 400, "not found in upstream"},
      {"GET", "/dynamic?upstream=zone_single&remove=&server=127.0.0.1:7001", 400,
       "server \"127.0.0.1:7001\" is the last server of upstream \"single\""},
      // /dynamic: addresses.
      {"GET", kZ + "&add=&server=127.0.0.1:0", 400, "port must be 1-65535"},
      {"GET", kZ + "&add=&server=127.0.0.1:99999", 400, "port must be 1-65535"},
      {"GET", kZ + "&add=&server=300.1.1.1:80", 400, "invalid IPv4 address \"300.1.1.1\""},
      {"GET", kZ + "&add=&server=%5B::1:80", 400, "missing ']' after IPv6 address"},
      {"GET", kZ + "&add=&server=::1:80", 400, "an IPv6 address must be in brackets"},
      {"GET", kZ + "&add=&server=%5B::g%5D:80", 400, "invalid IPv6 address \"::g\""},
      {"GET", kZ + "&add=&server=unix:relative", 400, "unix socket path must be absolute"},
      {"GET", kZ + "&add=&server=bad_host!:80", 400, "invalid host name \"bad_host!\""},
      {"GET", kZ + "&remove=&server=127.0.0.1", 400,
       "server \"127.0.0.1:80\" not found in upstream \"backends\""},
      {"GET", kZ + "&remove=&server=127.0.0.1:abc", 400, "port \"abc\" is not a number"},
      {"GET", kZ + "&add=&server=127.0.0.1:80%00", 400,
       "contains whitespace or control characters"},
      {"GET", kZ + "&add=&server=127.0.0.1+:80", 400, "contains whitespace or control characters"},
      {"GET", kZ + "&add=&server=%C3%A9:80", 400, "invalid host name \"\\xc3\\xa9\""},
      // /dynamic: encodings.
      {"GET", kZ + "&=5", 400, "query parameter \"=5\" has no name"},
      {"GET", "/dynamic?upstream=%zz", 400, "malformed percent-encoding \"%zz\" in the query"},
      {"GET", "/dynamic?upstream=abc%2", 400, "malformed percent-encoding \"%2\" in the query"},
      {"GET", "/dynamic?upstream=abc%", 400, "malformed percent-encoding \"%\" in the query"},
      {"GET", "/dynamic%zz?upstream=x", 400, "malformed percent-encoding \"%zz\" in the path"},
      // /dynamic: the fleet header.
      {"GET",
       kZ,
       400,
       "header X-Xds-Fleet: fleet name \"bad fleet\": must be 1-255 characters",
       "",
       {{"X-Xds-Fleet", "bad fleet"}}},
      {"GET",
       kZ,
       400,
       "header X-Xds-Fleet is given 2 times",
       "",
       {{"X-Xds-Fleet", "default"}, {"X-Xds-Fleet", "edge"}}},
      {"GET", kZ, 400, "fleet name \"aaaa", "", {{"X-Xds-Fleet", std::string(256, 'a')}}},
      {"GET",
       kZ,
       400,
       "fleet name \"fl\\xffeet\"",
       "",
       {{"X-Xds-Fleet",
         "fl\xff"
         "eet"}}},
      {"GET", kZ, 400, "fleet name \"a/b\"", "", {{"X-Xds-Fleet", "a/b"}}},
      // /dynamic: methods and bodies.
      {"POST", kZ, 405, "method POST is not allowed on /dynamic; use GET, HEAD"},
      {"POST", kZ + "&add=&server=127.0.0.1:6009", 405, "method POST is not allowed", "x=1"},
      {"PUT", kZ + "&add=&server=127.0.0.1:6009", 405, "method PUT is not allowed on /dynamic"},
      {"DELETE", kZ + "&remove=&server=127.0.0.1:6001", 405, "method DELETE is not allowed"},
      {"PATCH", kS + "&weight=3", 405, "method PATCH is not allowed"},
      {"OPTIONS", kZ, 405, "method OPTIONS is not allowed"},

      // dyups: names.
      {"GET", "/upstream/nope", 404, "upstream \"nope\" not found in fleet \"default\""},
      {"DELETE", "/upstream/nope", 404, "upstream \"nope\" not found in fleet \"default\""},
      {"DELETE",
       "/upstream/host1",
       404,
       "upstream \"host1\" not found in fleet \"edge\"",
       "",
       {{"X-Xds-Fleet", "edge"}}},
      {"GET", "/upstream/", 400, "upstream name \"\": must be 1-255 characters of [A-Za-z0-9._-]"},
      {"GET", "/upstream/bad%20name", 400, "upstream name \"bad name\""},
      {"GET", "/upstream/a%00b", 400, "upstream name \"a\\x00b\""},
      {"GET", "/upstream/%FF", 400, "upstream name \"\\xff\""},
      {"GET", "/upstream/a/b", 400, "upstream name \"a/b\""},
      {"GET", "/upstream/a%2Fb", 400, "upstream name \"a/b\""},
      {"GET", "/upstream/" + std::string(256, 'a'), 400, "must be 1-255 characters"},
      {"DELETE", "/upstream/bad!", 400, "upstream name \"bad!\""},
      {"GET", "/upstream/%zz", 400, "malformed percent-encoding \"%zz\" in the path"},
      {"POST", "/upstream/bad!name", 400, "upstream name \"bad!name\"", kOk},
      {"POST", "/upstream/a%00b", 400, "upstream name \"a\\x00b\"", kOk},
      {"POST",
       "/upstream/newone",
       400,
       "header X-Xds-Fleet: fleet name \"bad fleet\"",
       kOk,
       {{"X-Xds-Fleet", "bad fleet"}}},
      // dyups: broken POST bodies.
      {"POST", "/upstream/newone", 400, "no servers are inside upstream \"newone\"", "# nothing\n"},
      {"POST", "/upstream/newone", 400, "no servers are inside upstream \"newone\"", "least_conn;"},
      {"POST", "/upstream/onlybackup", 400, "no servers in upstream \"onlybackup\"",
       "server 127.0.0.1:22088 backup;"},
      {"POST", "/upstream/newone", 400,
       "command 1 (server 127.0.0.1:8080): unexpected end of body: the command has no \";\"",
       "server 127.0.0.1:8080"},
      {"POST", "/upstream/newone", 400, "command 1 (;): unexpected \";\"", ";"},
      {"POST", "/upstream/newone", 400, "command 2 (;): unexpected \";\"", kOk + ";"},
      {"POST", "/upstream/newone", 400,
       "command 1 (server): invalid number of arguments in \"server\" directive", "server;"},
      {"POST", "/upstream/newone", 400,
       "invalid port in upstream \"127.0.0.1:0\": address \"127.0.0.1:0\": port must be 1-65535",
       "server 127.0.0.1:0;"},
      {"POST", "/upstream/newone", 400, "weight \"abc\" is not a non-negative integer",
       "server 127.0.0.1:8080 weight=abc;"},
      {"POST", "/upstream/newone", 400, "invalid parameter \"weight=0\"",
       "server 127.0.0.1:8080 weight=0;"},
      {"POST", "/upstream/newone", 400, "weight \"99999999999\" is too large",
       "server 127.0.0.1:8080 weight=99999999999;"},
      {"POST", "/upstream/newone", 400, "max_fails \"-1\" is not a non-negative integer",
       "server 127.0.0.1:8080 max_fails=-1;"},
      {"POST", "/upstream/newone", 400, "fail_timeout \"10x\" is not a time: unknown unit \"x\"",
       "server 127.0.0.1:8080 fail_timeout=10x;"},
      {"POST", "/upstream/newone", 400, "milliseconds are not allowed here",
       "server 127.0.0.1:8080 fail_timeout=500ms;"},
      {"POST", "/upstream/newone", 400, "expected a number",
       "server 127.0.0.1:8080 fail_timeout=s;"},
      {"POST", "/upstream/newone", 400, "max_conns \"abc\" is not a non-negative integer",
       "server 127.0.0.1:8080 max_conns=abc;"},
      {"POST", "/upstream/newone", 400, "invalid parameter \"slow_start=10s\"",
       "server 127.0.0.1:8080 slow_start=10s;"},
      {"POST", "/upstream/newone", 400,
       "command 2 (server 127.0.0.1:8080): server \"127.0.0.1:8080\" is listed twice",
       "server 127.0.0.1:8080; server 127.0.0.1:8080;"},
      {"POST", "/upstream/newone", 400, "server \"127.0.0.1:80\": duplicate address",
       "server 127.0.0.1:80; server 127.0.0.1;"},
      {"POST", "/upstream/newone", 400, "command 2 (foo bar): unknown directive \"foo\"",
       kOk + " foo bar;"},
      {"POST", "/upstream/newone", 400, "\"zone\" cannot be set here", "zone z 1m; " + kOk},
      {"POST", "/upstream/newone", 400, "invalid number of arguments in \"ip_hash\" directive",
       "ip_hash x; " + kOk},
      {"POST", "/upstream/newone", 400, "invalid number of arguments in \"hash\" directive",
       "hash; " + kOk},
      {"POST", "/upstream/newone", 400, "invalid parameter \"b\"", "hash $a b; " + kOk},
      {"POST", "/upstream/newone", 400, "method hash needs a hash_key", "hash \"\"; " + kOk},
      {"POST", "/upstream/newone", 400, "\"random two\" is not supported", "random two; " + kOk},
      {"POST", "/upstream/newone", 400, "invalid value \"0\" in \"keepalive\" directive",
       "keepalive 0; " + kOk},
      {"POST", "/upstream/newone", 400, "invalid number of arguments in \"keepalive\" directive",
       "keepalive; " + kOk},
      {"POST", "/upstream/newone", 400,
       "command 2 (keepalive 3): \"keepalive\" directive is duplicate",
       "keepalive 2; keepalive 3; " + kOk},
      {"POST", "/upstream/newone", 400, "keepalive_timeout \"10x\" is not a time",
       "keepalive_timeout 10x; " + kOk},
      {"POST", "/upstream/newone", 400, "y and M are not allowed", "keepalive_time 1y; " + kOk},
      {"POST", "/upstream/newone", 400, "keepalive_time \"100d\" is too long",
       "keepalive_time 100d; " + kOk},
      {"POST", "/upstream/newone", 400, "unterminated quote: no closing \"", "hash \"abc; " + kOk},
      {"POST", "/upstream/newone", 400, "unexpected \"b\" after a quoted word",
       "hash \"a\"b; " + kOk},
      {"POST", "/upstream/newone", 400, "an upstream body has no blocks",
       "server 127.0.0.1:8080 { }"},
      {"POST", "/upstream/newone", 400, "unexpected \"}\"", "}"},
      {"POST", "/upstream/newone", 400, "byte 0x00 at offset 22", kOk + std::string(1, '\0')},
      {"POST", "/upstream/newone", 400, "byte 0xff at offset 22", kOk + "\xff"},
      {"POST", "/upstream/newone", 400, "byte 0x01 at offset 0", "\x01" + kOk},
      {"POST", "/upstream/newone", 400, "byte 0xc3 at offset 13", "hash $request\xc3\xa9; " + kOk},
      {"POST", "/upstream/newone", 400, "balancing method does not support parameter \"backup\"",
       "ip_hash; server 127.0.0.1:8080 backup;"},
      {"POST", "/upstream/newone", 400, "missing ']' after IPv6 address", "server [::1:80;"},
      {"POST", "/upstream/newone", 400, "unix socket path must be absolute", "server unix:rel;"},
      {"POST", "/upstream/newone", 400,
       "host not found in upstream \"bad_host!:80\": address \"bad_host!:80\": invalid host name "
       "\"bad_host!\"",
       "server bad_host!:80;"},
      // A bad body for an upstream that exists leaves it as it was.
      {"POST", "/upstream/host1", 400, "weight \"x\" is not a non-negative integer",
       "server 127.0.0.1:8088 weight=x;"},
      {"POST", "/upstream/HOST1", 400, "unknown directive \"sever\"", "sever 127.0.0.1:8088;"},
      // dyups: other mistakes.
      {"POST", "/upstream/newone?foo=1", 400,
       "/upstream/NAME takes no query parameters, got \"foo=1\"", kOk},
      {"GET", "/list?x=1", 400, "/list takes no query parameters, got \"x=1\""},
      {"GET", "/detail?verbose", 400, "/detail takes no query parameters"},
      {"DELETE", "/upstream/host1", 400, "DELETE /upstream/NAME takes no body", "x"},
      {"POST",
       "/upstream/newone",
       415,
       "multipart/form-data is not accepted",
       "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nserver "
       "127.0.0.1:8080;\r\n--b--\r\n",
       {},
       "multipart/form-data; boundary=b"},
      {"POST", "/upstream/newone", 413, "the request body is larger than 65536 bytes",
       std::string(65537, ' ') + kOk},
      {"POST", "/list", 404, "not support this interface: POST /list; POST takes /upstream/NAME",
       kOk},
      {"POST", "/detail", 404, "not support this interface: POST /detail", kOk},
      {"DELETE", "/detail", 405,
       "not support this interface: DELETE /detail; DELETE takes /upstream/NAME"},
      {"DELETE", "/list", 405, "not support this interface: DELETE /list"},
      {"PUT", "/list", 405, "method PUT is not allowed on /list; use GET"},
      {"PUT", "/upstream/host1", 405,
       "method PUT is not allowed on /upstream/host1; use GET, POST, DELETE", kOk},
      {"PATCH", "/upstream/host1", 405, "use GET, POST, DELETE", kOk},
      {"OPTIONS", "/upstream/host1", 405, "method OPTIONS is not allowed"},
      // Paths.
      {"GET", "/nope", 404,
       "no endpoint \"/nope\"; the endpoints are /dynamic, /list, /detail, "
       "/upstream/NAME, /fleet/status, /rollouts, /metrics, /ui/ and /xds/bootstrap"},
      {"GET", "/", 404, "no endpoint \"/\""},
      {"GET", "/list/", 404, "no endpoint \"/list/\""},
      {"GET", "/dynamic/", 404, "no endpoint \"/dynamic/\""},
      {"GET", "/LIST", 404, "no endpoint \"/LIST\""},
      {"DELETE", "/upstreams/host1", 404, "no endpoint \"/upstreams/host1\""},
      {"GET", "/%00", 404, "no endpoint \"/\\x00\""},
      // /fleet/status.
      {"GET", "/fleet/status?format=xml", 400, "format \"xml\" is not json or text"},
      {"GET", "/fleet/status?foo=1", 400,
       "unknown parameter \"foo\"; /fleet/status takes format=json"},
      {"GET", "/fleet/status?format=json&format=json", 400,
       "parameter \"format\" is given more than once"},
      {"GET",
       "/fleet/status",
       400,
       "header X-Xds-Fleet: fleet name \"-?\"",
       "",
       {{"X-Xds-Fleet", "-?"}}},
      {"POST", "/fleet/status", 405, "method POST is not allowed on /fleet/status", "x"},
  };
  // An oversized body of valid commands is refused whole.
  std::string many;
  for (int i = 0; many.size() <= 64 * 1024; ++i) {
    absl::StrAppend(&many, "server 10.1.", i / 250, ".", i % 250 + 1, ":80;\n");
  }
  cases.push_back({"POST", "/upstream/newone", 413, "larger than 65536 bytes", many});
  return cases;
}

std::vector<BadRawRequest> BadRawRequests() {
  const std::string end = "Host: x\r\n\r\n";
  std::string chunked_body;
  for (int i = 0; i < 80; ++i) chunked_body += "400\r\n" + std::string(1024, ' ') + "\r\n";
  chunked_body += "0\r\n\r\n";
  return {
      {"TRACE " + kZ + " HTTP/1.1\r\n" + end, 405, "method TRACE is not allowed on /dynamic"},
      {"FOO /dynamic HTTP/1.1\r\n" + end, 400, "malformed HTTP request"},
      {"GET " + kZ + " HTTP/1.1\r\nContent-Length: 5\r\n" + end + "hello", 400,
       "GET takes no body"},
      {"GET /list HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" + end + "5\r\nhello\r\n0\r\n\r\n",
       400, "GET takes no body"},
      {"GET /dynamic?upstream=a b HTTP/1.1\r\n" + end, 400, "malformed HTTP request"},
      {"GET /list HTTP/2.0\r\n" + end, 400, "malformed HTTP request"},
      {"GET /list\r\n" + end, 400, "malformed HTTP request"},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + end, 414,
       "the request line is too long"},
      {"CONNECT 127.0.0.1:80 HTTP/1.1\r\n" + end, 404, "no endpoint \"127.0.0.1:80\""},
      {"POST /upstream/newone HTTP/1.1\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n" + end,
       413, "the request body is larger than 65536 bytes"},
      {"POST /upstream/newone HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" + end + chunked_body, 413,
       "the request body is larger than 65536 bytes"},
      {"POST /upstream/newone HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" + end + "zz\r\nab\r\n",
       400, "the request body could not be read"},
      {"POST /upstream/newone HTTP/1.1\r\nContent-Length: 5\r\nContent-Encoding: zstd\r\n" + end +
           "hello",
       415, "Content-Encoding \"zstd\" is not supported: send the body as it is"},
      {"POST /upstream/" + std::string(600, 'a') +
           " HTTP/1.1\r\nContent-Length: " + std::to_string(kOk.size()) + "\r\n" + end + kOk,
       400, "must be 1-255 characters"},
  };
}

class HttpGatewayCorpusTest : public HttpGatewayTest {
 protected:
  void SetUp() override {
    HttpGatewayTest::SetUp();
    PutSeedBackends();
    Put("", MakeUpstream("host1", {"127.0.0.1:8088"}));
    Put("", MakeUpstream("host2", {"127.0.0.1:8089"}));
    Upstream single = MakeUpstream("single", {"127.0.0.1:7001"}, "zone_single");
    single.set_method(v1::HASH);
    single.set_hash_key("$request_uri");
    Put("", single);
    Put("edge", MakeUpstream("edgeup", {"10.0.0.1:80"}, "zone_edge"));
  }

  // The body of an error: the status line's words, then what was wrong.
  static void ExpectErrorBody(const Reply& reply, int status, const std::string& message) {
    EXPECT_EQ(reply.status, status);
    EXPECT_THAT(reply.body, StartsWith(absl::StrCat(status, " ", HttpReason(status), "\n")));
    EXPECT_THAT(reply.body, HasSubstr(message));
    EXPECT_EQ(reply.body.back(), '\n');
    EXPECT_THAT(reply.Header("Content-Type"), StartsWith("text/plain"));
  }
};

// Validate that every malformed request of the corpus gets its status and
// message and changes nothing.
TEST_F(HttpGatewayCorpusTest, EveryMalformedRequestGetsItsErrorAndChangesNothing) {
  const std::vector<BadRequest> cases = BadRequests();
  const std::string before = State();
  for (const BadRequest& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.method, " ", c.target.substr(0, 200), " body \"",
                              c.body.substr(0, 100), "\""));
    Reply reply = Send(c.method, c.target, c.body, c.headers, c.content_type);
    ExpectErrorBody(reply, c.status, c.message);
    ASSERT_EQ(State(), before);
  }
  const std::vector<BadRawRequest> raw = BadRawRequests();
  for (const BadRawRequest& c : raw) {
    SCOPED_TRACE(c.bytes.substr(0, 120));
    Reply reply = RawRequest(cp_->http_port(), c.bytes);
    ExpectErrorBody(reply, c.status, c.message);
    ASSERT_EQ(State(), before);
  }
  // The corpus is as large as the issue asks.
  EXPECT_GE(cases.size() + raw.size(), 100u);
  // And the gateway still serves.
  EXPECT_EQ(Get("/list").body, "backends\nhost1\nhost2\nsingle\n");
}

}  // namespace
}  // namespace nginx_xds
