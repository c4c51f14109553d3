// The dyups POST body: nginx's directive syntax and the upstream directives.

#include "common/upstream_block.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::vector<std::string>> Words(absl::string_view body) {
  auto commands = TokenizeBlock(body);
  EXPECT_TRUE(commands.ok()) << commands.status();
  std::vector<std::vector<std::string>> words;
  if (commands.ok()) {
    for (const auto& command : *commands) words.push_back(command.words);
  }
  return words;
}

std::string TokenizeError(absl::string_view body) {
  auto commands = TokenizeBlock(body);
  EXPECT_FALSE(commands.ok()) << body;
  return std::string(commands.status().message());
}

std::string ParseError(absl::string_view body) {
  auto upstream = ParseUpstreamBlock(body);
  EXPECT_FALSE(upstream.ok()) << body;
  EXPECT_EQ(upstream.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(upstream.status().message());
}

// Validate that a body splits into commands and words as nginx's
// configuration parser splits them.
TEST(TokenizeBlockTest, SplitsDirectivesAsNginxReadsThem) {
  EXPECT_THAT(Words("server 127.0.0.1:8089;server 127.0.0.1:8088;"),
              ElementsAre(ElementsAre("server", "127.0.0.1:8089"),
                          ElementsAre("server", "127.0.0.1:8088")));
  EXPECT_THAT(Words("  server\t10.0.0.1:80\n  weight=2 ;\r\n"),
              ElementsAre(ElementsAre("server", "10.0.0.1:80", "weight=2")));
  EXPECT_THAT(Words(""), ElementsAre());
  EXPECT_THAT(Words("# only a comment\n"), ElementsAre());
}

// Validate that '#' starts a comment to the end of the line, except inside
// a word.
TEST(TokenizeBlockTest, CommentsRunToTheEndOfTheLine) {
  EXPECT_THAT(Words("server a:1; # server b:2;\nleast_conn;"),
              ElementsAre(ElementsAre("server", "a:1"), ElementsAre("least_conn")));
  // '#' inside a word is part of it, as in nginx.
  EXPECT_THAT(Words("hash a#b;"), ElementsAre(ElementsAre("hash", "a#b")));
}

// Validate nginx's quotes and backslash escapes.
TEST(TokenizeBlockTest, QuotesAndEscapes) {
  EXPECT_THAT(Words("hash \"$host $uri\" consistent;"),
              ElementsAre(ElementsAre("hash", "$host $uri", "consistent")));
  EXPECT_THAT(Words("hash '$a;b';"), ElementsAre(ElementsAre("hash", "$a;b")));
  EXPECT_THAT(Words(R"(hash "a\"b\\c";)"), ElementsAre(ElementsAre("hash", "a\"b\\c")));
  EXPECT_THAT(Words(R"(hash a\;b;)"), ElementsAre(ElementsAre("hash", R"(a\;b)")));
  EXPECT_THAT(Words(R"(hash "";)"), ElementsAre(ElementsAre("hash", "")));
}

// Validate that the braces of ${variable} belong to the word.
TEST(TokenizeBlockTest, BracesOfAVariableBelongToTheWord) {
  EXPECT_THAT(Words("hash ${request_uri}x;"), ElementsAre(ElementsAre("hash", "${request_uri}x")));
}

// Validate that a tokenizing error names the command by number and text.
TEST(TokenizeBlockTest, ErrorsNameTheCommand) {
  EXPECT_THAT(TokenizeError("server a:1;\nserver b:2"),
              HasSubstr("command 2 (server b:2): unexpected end of body"));
  EXPECT_THAT(TokenizeError("server a:1;;"), HasSubstr("command 2 (;): unexpected \";\""));
  EXPECT_THAT(TokenizeError("hash \"abc;"), HasSubstr("unterminated quote"));
  EXPECT_THAT(TokenizeError("hash \"a\"b;"), HasSubstr("unexpected \"b\" after a quoted word"));
  EXPECT_THAT(TokenizeError("server a:1 { }"), HasSubstr("an upstream body has no blocks"));
  EXPECT_THAT(TokenizeError("}"), HasSubstr("command 1 (}): unexpected \"}\""));
  EXPECT_THAT(TokenizeError(std::string("server a:1;\0", 12)), HasSubstr("byte 0x00 at offset 11"));
  EXPECT_THAT(TokenizeError("hash \xff;"), HasSubstr("byte 0xff at offset 5"));
}

// Validate time values in seconds as nginx's ngx_parse_time reads them.
TEST(ParseNginxTimeTest, SecondsAsNginxReadsThem) {
  struct Case {
    const char* text;
    uint64_t seconds;
  } cases[] = {{"10", 10},   {"10s", 10},     {"0", 0},       {"1m", 60},      {"1m30s", 90},
               {"2h", 7200}, {"1d1h", 90000}, {"1w", 604800}, {"1M", 2592000}, {"1y", 31536000}};
  for (const auto& c : cases) {
    auto time = ParseNginxTime(c.text, /*in_seconds=*/true);
    ASSERT_TRUE(time.ok()) << c.text << ": " << time.status();
    EXPECT_EQ(*time, c.seconds) << c.text;
  }
}

// Validate time values in milliseconds as nginx's ngx_parse_time reads them.
TEST(ParseNginxTimeTest, MillisecondsAsNginxReadsThem) {
  struct Case {
    const char* text;
    uint64_t ms;
  } cases[] = {{"60", 60000}, {"60s", 60000}, {"500ms", 500}, {"1s500ms", 1500}, {"1h", 3600000}};
  for (const auto& c : cases) {
    auto time = ParseNginxTime(c.text, /*in_seconds=*/false);
    ASSERT_TRUE(time.ok()) << c.text << ": " << time.status();
    EXPECT_EQ(*time, c.ms) << c.text;
  }
}

// Validates nginx's quirks: a trailing bare number is seconds, a unit may
// have no number once another has one, a space ends the units.
TEST(ParseNginxTimeTest, AcceptsWhatNginxAccepts) {
  EXPECT_EQ(*ParseNginxTime("1m30", true), 90u);
  EXPECT_EQ(*ParseNginxTime("10s5", true), 15u);
  EXPECT_EQ(*ParseNginxTime("1hm", true), 3600u);
  EXPECT_EQ(*ParseNginxTime("1m 30", true), 90u);
  EXPECT_EQ(*ParseNginxTime("1m 30s", true), 90u);
  EXPECT_EQ(*ParseNginxTime("10sms", false), 10000u);
  EXPECT_EQ(*ParseNginxTime("00010", true), 10u);
}

// Validate that the time values nginx refuses are refused.
TEST(ParseNginxTimeTest, RejectsWhatNginxRejects) {
  for (const char* text :
       {"", "s", "10x", "1.5s", "-1", "30s1m", "1m1m", "1s 1m", "99999999999999999999", "500ms"}) {
    EXPECT_FALSE(ParseNginxTime(text, /*in_seconds=*/true).ok()) << text;
  }
  for (const char* text : {"1y", "1M", "ms", "1ms1s"}) {
    EXPECT_FALSE(ParseNginxTime(text, /*in_seconds=*/false).ok()) << text;
  }
}

// Validate that every directive and server parameter a block takes is read.
TEST(ParseUpstreamBlockTest, EverythingAnUpstreamBlockTakes) {
  auto upstream = ParseUpstreamBlock(
      "hash $request_uri consistent;\n"
      "server 10.0.0.1:80 weight=5 max_fails=3 fail_timeout=1m max_conns=100;\n"
      "server [::1]:8080 down;\n"
      "server unix:/run/app.sock;\n"
      "keepalive 16; keepalive_requests 500; keepalive_time 1h; keepalive_timeout 30s;\n");
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  EXPECT_EQ(upstream->method(), v1::HASH);
  EXPECT_EQ(upstream->hash_key(), "$request_uri");
  EXPECT_TRUE(upstream->hash_consistent());
  ASSERT_EQ(upstream->servers_size(), 3);
  EXPECT_EQ(upstream->servers(0).address(), "10.0.0.1:80");
  EXPECT_EQ(upstream->servers(0).weight(), 5u);
  EXPECT_EQ(upstream->servers(0).max_fails(), 3u);
  EXPECT_EQ(upstream->servers(0).fail_timeout(), 60u);
  EXPECT_EQ(upstream->servers(0).max_conns(), 100u);
  EXPECT_TRUE(upstream->servers(1).down());
  EXPECT_FALSE(upstream->servers(1).has_weight());
  EXPECT_EQ(upstream->servers(2).address(), "unix:/run/app.sock");
  EXPECT_EQ(upstream->keepalive(), 16u);
  EXPECT_EQ(upstream->keepalive_requests(), 500u);
  EXPECT_EQ(upstream->keepalive_time_ms(), 3600000u);
  EXPECT_EQ(upstream->keepalive_timeout_ms(), 30000u);
}

// Validate the method each balancing directive selects, the last one winning.
TEST(ParseUpstreamBlockTest, Methods) {
  for (auto [body, method] : std::vector<std::pair<std::string, v1::Method>>{
           {"server a:1;", v1::ROUND_ROBIN},
           {"ip_hash; server a:1;", v1::IP_HASH},
           {"server a:1; least_conn;", v1::LEAST_CONN},
           {"random; server a:1;", v1::RANDOM},
           {"hash $remote_addr; server a:1;", v1::HASH}}) {
    auto upstream = ParseUpstreamBlock(body);
    ASSERT_TRUE(upstream.ok()) << body << ": " << upstream.status();
    EXPECT_EQ(upstream->method(), method) << body;
  }
  auto backup = ParseUpstreamBlock("server a:1; server b:1 backup;");
  ASSERT_TRUE(backup.ok());
  EXPECT_TRUE(backup->servers(1).backup());
}

// Validates that an empty body or one without servers parses; the rules
// (NormalizeUpstream) then name the upstream: "no servers are inside upstream".
TEST(ParseUpstreamBlockTest, ServersAreCountedByTheRulesNotTheParser) {
  EXPECT_TRUE(ParseUpstreamBlock("").ok());
  EXPECT_TRUE(ParseUpstreamBlock("least_conn;").ok());
  EXPECT_TRUE(ParseUpstreamBlock("server a:1 backup;").ok());
}

// Validates nginx's order: parameters in order, a repeated one wins, the
// last balancing method wins, and keepalive keeps its value.
TEST(ParseUpstreamBlockTest, AcceptsWhatNginxAccepts) {
  auto repeated = ParseUpstreamBlock("server a:1 weight=2 weight=3 down down;");
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  EXPECT_EQ(repeated->servers(0).weight(), 3u);
  EXPECT_TRUE(repeated->servers(0).down());
  auto redefined = ParseUpstreamBlock("hash $uri consistent; least_conn; server a:1;");
  ASSERT_TRUE(redefined.ok()) << redefined.status();
  EXPECT_EQ(redefined->method(), v1::LEAST_CONN);
  EXPECT_EQ(redefined->hash_key(), "");
  EXPECT_FALSE(redefined->hash_consistent());
  auto unix = ParseUpstreamBlock("server UNIX:/run/a.sock;");
  ASSERT_TRUE(unix.ok()) << unix.status();
  EXPECT_EQ(unix->servers(0).address(), "unix:/run/a.sock");
  auto rehash = ParseUpstreamBlock("ip_hash; hash $uri; server a:1;");
  ASSERT_TRUE(rehash.ok()) << rehash.status();
  EXPECT_EQ(rehash->method(), v1::HASH);
  EXPECT_EQ(rehash->hash_key(), "$uri");
}

// Validates that backup is refused only on servers after hash, ip_hash or
// random, with nginx's message, as nginx 1.22.1 does.
TEST(ParseUpstreamBlockTest, BackupDependsOnTheMethodBeforeIt) {
  for (const char* method : {"hash $uri;", "hash $uri consistent;", "ip_hash;", "random;"}) {
    EXPECT_THAT(ParseError(absl::StrCat(method, " server a:1; server b:1 backup;")),
                HasSubstr("balancing method does not support parameter \"backup\""))
        << method;
    auto before = ParseUpstreamBlock(absl::StrCat("server a:1; server b:1 backup; ", method));
    ASSERT_TRUE(before.ok()) << method << ": " << before.status();
    EXPECT_TRUE(before->servers(1).backup());
  }
  EXPECT_TRUE(ParseUpstreamBlock("ip_hash; least_conn; server a:1; server b:1 backup;").ok());
  EXPECT_THAT(ParseError("least_conn; ip_hash; server a:1; server b:1 backup;"),
              HasSubstr("does not support parameter \"backup\""));
}

// Validate that every error names the command and gives nginx's own reason.
TEST(ParseUpstreamBlockTest, EveryErrorNamesTheCommandAndNginxsReason) {
  EXPECT_THAT(ParseError("server;"),
              HasSubstr("command 1 (server): invalid number of arguments in \"server\" directive"));
  EXPECT_THAT(ParseError("server a:1;\nserver 127.0.0.1:0;"),
              HasSubstr("command 2 (server 127.0.0.1:0): invalid port in upstream "
                        "\"127.0.0.1:0\": address \"127.0.0.1:0\": port must be"));
  EXPECT_THAT(ParseError("server 127.0.0.1:0 weight=x;"),
              HasSubstr("invalid parameter \"weight=x\""));
  EXPECT_THAT(ParseError("server a:1 weight=abc;"),
              HasSubstr("command 1 (server a:1 weight=abc): invalid parameter \"weight=abc\": "
                        "weight \"abc\" is not a non-negative"));
  EXPECT_THAT(ParseError("server a:1 weight=0;"),
              HasSubstr("invalid parameter \"weight=0\": weight must be at least 1"));
  EXPECT_THAT(ParseError("server a:1 weight=;"), HasSubstr("invalid parameter \"weight=\""));
  EXPECT_THAT(ParseError("server a:1 weight=99999999999999999999;"), HasSubstr("is too large"));
  EXPECT_THAT(ParseError("server a:1 weight=1000001;"),
              HasSubstr("weight \"1000001\" is too large for nginx-xds (at most 1000000)"));
  EXPECT_THAT(ParseError("server a:1 fail_timeout=10x;"),
              HasSubstr("invalid parameter \"fail_timeout=10x\": fail_timeout \"10x\" is not a "
                        "time: unknown unit \"x\""));
  EXPECT_THAT(ParseError("server a:1 fail_timeout=500ms;"),
              HasSubstr("milliseconds are not allowed"));
  EXPECT_THAT(ParseError("server a:1 slow_start=10s;"),
              HasSubstr("invalid parameter \"slow_start=10s\""));
  EXPECT_THAT(ParseError("server a:1 resolve;"), HasSubstr("invalid parameter \"resolve\""));
  EXPECT_THAT(ParseError("server a:1 service=http;"),
              HasSubstr("invalid parameter \"service=http\""));
  EXPECT_THAT(ParseError("server a:1; server a:1;"),
              HasSubstr("command 2 (server a:1): server \"a:1\" is listed twice"));
  EXPECT_THAT(ParseError("server a:1; foo bar;"),
              HasSubstr("command 2 (foo bar): unknown directive \"foo\""));
  EXPECT_THAT(ParseError("zone z 1m; server a:1;"), HasSubstr("\"zone\" cannot be set here"));
  EXPECT_THAT(ParseError("ip_hash x; server a:1;"),
              HasSubstr("invalid number of arguments in \"ip_hash\" directive"));
  EXPECT_THAT(ParseError("random two; server a:1;"),
              HasSubstr("\"random two\" is not supported by nginx-xds"));
  EXPECT_THAT(ParseError("random foo; server a:1;"), HasSubstr("invalid parameter \"foo\""));
  EXPECT_THAT(ParseError("hash; server a:1;"),
              HasSubstr("invalid number of arguments in \"hash\" directive"));
  EXPECT_THAT(ParseError("hash $a b; server a:1;"), HasSubstr("invalid parameter \"b\""));
  EXPECT_THAT(ParseError("keepalive 0; server a:1;"),
              HasSubstr("invalid value \"0\" in \"keepalive\" directive"));
  EXPECT_THAT(ParseError("keepalive; server a:1;"),
              HasSubstr("invalid number of arguments in \"keepalive\" directive"));
  EXPECT_THAT(ParseError("keepalive 2; keepalive 3; server a:1;"),
              HasSubstr("command 2 (keepalive 3): \"keepalive\" directive is duplicate"));
  EXPECT_THAT(ParseError("keepalive_requests x; server a:1;"),
              HasSubstr("\"keepalive_requests\" directive invalid number"));
  EXPECT_THAT(ParseError("keepalive_time 1y; server a:1;"),
              HasSubstr("\"keepalive_time\" directive invalid value: keepalive_time \"1y\" is "
                        "not a time: y and M are not allowed"));
  EXPECT_THAT(ParseError("keepalive_time 100d; server a:1;"), HasSubstr("is too long"));
}

// Validate that a long command is cut short in messages.
TEST(ParseUpstreamBlockTest, LongCommandsAreCutInMessages) {
  std::string body = "server a:1 " + std::string(200, 'x') + ";";
  std::string message = ParseError(body);
  EXPECT_THAT(message, HasSubstr("..."));
  EXPECT_LT(message.size(), 400u);
}

}  // namespace
}  // namespace nginx_xds
