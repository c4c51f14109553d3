// The dyups POST body against nginx itself: for every body of
// testdata/nginx_upstream_cases.txt, the real `nginx -t` on that upstream
// block and the API's validation (ParseUpstreamBlock + NormalizeUpstream,
// then the agent's FromXds) must agree.

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/address.h"
#include "common/upstream_block.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";
constexpr char kName[] = "parity";

std::string CasesPath() {
  const char* path = std::getenv("CASES");
  return path != nullptr ? path : "tests/controlplane/testdata/nginx_upstream_cases.txt";
}

struct Case {
  int line = 0;
  std::string body;
  std::string differs;  // why nginx-xds refuses what nginx accepts; "" = agree
};

std::vector<Case> ReadCases() {
  std::ifstream in(CasesPath());
  EXPECT_TRUE(in.good()) << CasesPath();
  std::vector<Case> cases;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    Case c;
    c.line = number;
    if (absl::ConsumePrefix(&text, "differs:")) {
      const size_t bar = text.find(" | ");
      EXPECT_NE(bar, absl::string_view::npos) << "line " << number << ": differs: WHY | BODY";
      if (bar == absl::string_view::npos) continue;
      c.differs = std::string(absl::StripAsciiWhitespace(text.substr(0, bar)));
      text = text.substr(bar + 3);
    }
    c.body = std::string(text);
    cases.push_back(std::move(c));
  }
  return cases;
}

// nginx's verdict: "" when `nginx -t` accepts, else its first [emerg]
// message without the "nginx: [emerg] " prefix and the " in FILE:LINE" end.
struct NginxVerdict {
  bool ok = false;
  std::string message;
};

NginxVerdict RunNginx(const Case& c) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/case", c.line);
  mkdir(dir.c_str(), 0755);
  {
    std::ofstream conf(dir + "/nginx.conf");
    conf << "pid " << dir << "/nginx.pid;\nerror_log " << dir << "/error.log;\n"
         << "events {}\nhttp {\n  access_log off;\n"
         << "  client_body_temp_path " << dir << "/cb; proxy_temp_path " << dir << "/px;\n"
         << "  fastcgi_temp_path " << dir << "/fc; uwsgi_temp_path " << dir << "/uw;\n"
         << "  scgi_temp_path " << dir << "/sc;\n"
         << "  upstream " << kName << " {\n"
         << c.body << "\n  }\n"
         << "  server { listen 127.0.0.1:1; location / { proxy_pass http://" << kName
         << "; } }\n}\n";
  }
  const std::string command = absl::StrCat(kNginx, " -t -q -p ", dir, " -c ", dir,
                                           "/nginx.conf -e ", dir, "/error.log 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  NginxVerdict verdict;
  verdict.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    absl::string_view text = line;
    if (!absl::ConsumePrefix(&text, "nginx: [emerg] ")) continue;
    const size_t in_file = text.rfind(absl::StrCat(" in ", dir));
    if (in_file != absl::string_view::npos) text = text.substr(0, in_file);
    verdict.message = std::string(text);
    break;
  }
  if (!verdict.ok && verdict.message.empty()) verdict.message = output;
  return verdict;
}

// The API's verdict: the dyups body parser, the shared rules, and the
// agent's check of what the control plane would send.
absl::Status RunApi(const Case& c) {
  absl::StatusOr<v1::Upstream> upstream = ParseUpstreamBlock(c.body);
  if (!upstream.ok()) return upstream.status();
  upstream->set_name(kName);
  absl::Status status = NormalizeUpstream(&*upstream, ResolveServerAddress);
  if (!status.ok()) return status;
  absl::StatusOr<v1::Upstream> received =
      FromXds(ToCluster(*upstream), ToLoadAssignment(*upstream));
  return received.status();
}

// Validates that the API accepts exactly what nginx accepts and names nginx's reason.
TEST(NginxParityTest, TheApiJudgesEveryUpstreamBodyAsNginxDoes) {
  const std::vector<Case> cases = ReadCases();
  ASSERT_GT(cases.size(), 100u);
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("line ", c.line, ": ", c.body));
    const NginxVerdict nginx = RunNginx(c);
    const absl::Status api = RunApi(c);
    if (!c.differs.empty()) {
      EXPECT_TRUE(nginx.ok) << "marked as differing, but nginx refuses it too: " << nginx.message;
      EXPECT_FALSE(api.ok()) << "marked as differing (" << c.differs << "), but the API accepts it";
      continue;
    }
    if (nginx.ok) {
      EXPECT_TRUE(api.ok()) << "nginx accepts it; the API says: " << api.message();
      continue;
    }
    ASSERT_FALSE(api.ok()) << "nginx refuses it (" << nginx.message << "); the API accepts it";
    EXPECT_EQ(api.code(), absl::StatusCode::kInvalidArgument) << api;
    EXPECT_TRUE(absl::StrContains(api.message(), nginx.message))
        << "nginx: " << nginx.message << "\n  api: " << api.message();
  }
}

}  // namespace
}  // namespace nginx_xds
