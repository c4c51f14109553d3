#include "common/address.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Not;

// Validate that an IPv4 address with a port parses as IPv4.
TEST(ParseServerAddressTest, ParsesIpv4WithPort) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("10.0.0.1:8080", 0);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->kind, ServerAddress::Kind::kIpv4);
  EXPECT_EQ(address->host, "10.0.0.1");
  EXPECT_EQ(address->port, 8080);
  EXPECT_EQ(address->ToString(), "10.0.0.1:8080");
}

// Validate that an address without a port takes the default one.
TEST(ParseServerAddressTest, MissingPortBecomesDefaultPort) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("10.0.0.1", 80);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->ToString(), "10.0.0.1:80");
}

// Validate that with no default port (0) a port is required.
TEST(ParseServerAddressTest, ZeroDefaultPortRequiresAPort) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("10.0.0.1", 0);
  ASSERT_FALSE(address.ok());
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(address.status().message(), "address \"10.0.0.1\": missing port");
}

// Validate that an IPv6 literal is written in canonical form.
TEST(ParseServerAddressTest, CanonicalizesIpv6Literal) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("[0:0:0:0:0:0:0:1]:8080", 0);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->kind, ServerAddress::Kind::kIpv6);
  EXPECT_EQ(address->host, "::1");
  EXPECT_EQ(address->port, 8080);
  EXPECT_EQ(address->ToString(), "[::1]:8080");
}

// Validate that a bracketed IPv6 address without a port takes the default
// port and is lower-cased.
TEST(ParseServerAddressTest, Ipv6WithoutPortTakesDefaultPort) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("[2001:DB8::1]", 80);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->ToString(), "[2001:db8::1]:80");
}

// Validate that a unix: socket parses and takes no port.
TEST(ParseServerAddressTest, ParsesUnixSocketWithoutPort) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("unix:/run/app.sock", 80);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->kind, ServerAddress::Kind::kUnix);
  EXPECT_EQ(address->host, "/run/app.sock");
  EXPECT_EQ(address->port, 0);
  EXPECT_EQ(address->ToString(), "unix:/run/app.sock");
}

// Validates that the unix: prefix is taken in any case, as nginx does, and
// written in lower case.
TEST(ParseServerAddressTest, ParsesUnixPrefixInAnyCase) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("UNIX:/run/app.sock", 80);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->kind, ServerAddress::Kind::kUnix);
  EXPECT_EQ(address->ToString(), "unix:/run/app.sock");
}

// Validate that a host name with a port parses as a host name.
TEST(ParseServerAddressTest, ParsesHostNameWithPort) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress("backend-1.example.com:8080", 0);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->kind, ServerAddress::Kind::kHostName);
  EXPECT_EQ(address->host, "backend-1.example.com");
  EXPECT_EQ(address->ToString(), "backend-1.example.com:8080");
}

// Validate that ports 1 and 65535 are accepted.
TEST(ParseServerAddressTest, AcceptsPortBounds) {
  EXPECT_TRUE(ParseServerAddress("10.0.0.1:1", 0).ok());
  EXPECT_TRUE(ParseServerAddress("10.0.0.1:65535", 0).ok());
}

struct Rejection {
  std::string text;
  std::string reason;
};

class ParseServerAddressRejectionTest : public ::testing::TestWithParam<Rejection> {};

// Validate that each malformed address is INVALID_ARGUMENT naming it.
TEST_P(ParseServerAddressRejectionTest, RejectsWithInvalidArgumentNamingIt) {
  const Rejection& rejection = GetParam();
  absl::StatusOr<ServerAddress> address = ParseServerAddress(rejection.text, 80);
  ASSERT_FALSE(address.ok()) << address->ToString();
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(address.status().message(),
            absl::StrCat("address \"", rejection.text, "\": ", rejection.reason));
}

INSTANTIATE_TEST_SUITE_P(
    EveryMalformedForm, ParseServerAddressRejectionTest,
    ::testing::Values(
        Rejection{"", "empty address"}, Rejection{"1.2.3:80", "invalid IPv4 address \"1.2.3\""},
        Rejection{"256.0.0.1:80", "invalid IPv4 address \"256.0.0.1\""},
        Rejection{"010.0.0.1:80", "invalid IPv4 address \"010.0.0.1\""},
        Rejection{"[::1", "missing ']' after IPv6 address"},
        Rejection{"[::1]80", "expected ':' and a port after ']'"},
        Rejection{"[::g]:80", "invalid IPv6 address \"::g\""},
        Rejection{"[10.0.0.1]:80", "invalid IPv6 address \"10.0.0.1\""},
        Rejection{"::1:80", "an IPv6 address must be in brackets"},
        Rejection{"host:", "missing port after ':'"},
        Rejection{"host:99999", "port must be 1-65535"},
        Rejection{"host:0", "port must be 1-65535"},
        Rejection{"host:-1", "port \"-1\" is not a number"},
        Rejection{"host:8o", "port \"8o\" is not a number"}, Rejection{":80", "missing host"},
        Rejection{"host :80", "contains whitespace or control characters"},
        Rejection{" 10.0.0.1:80", "contains whitespace or control characters"},
        Rejection{"unix:", "empty unix socket path"},
        Rejection{"unix:run/app.sock", "unix socket path must be absolute"},
        Rejection{"unix:/" + std::string(107, 'a'), "unix socket path longer than 107 bytes"},
        // Found by tests/fuzz:address_fuzzer: "unix:80" would read back as a socket.
        Rejection{"unix", "host name \"unix\" reads as a unix socket; write unix:/PATH"},
        Rejection{"UNIX", "host name \"UNIX\" reads as a unix socket; write unix:/PATH"},
        Rejection{"Unix:8080", "unix socket path must be absolute"},
        Rejection{"-backend:80", "invalid host name \"-backend\""},
        Rejection{"backend-:80", "invalid host name \"backend-\""},
        Rejection{"a..b:80", "invalid host name \"a..b\""},
        Rejection{"under_score:80", "invalid host name \"under_score\""},
        Rejection{std::string(64, 'a') + ".com:80",
                  "invalid host name \"" + std::string(64, 'a') + ".com\""}));

// Validate that resolving an IP address returns it unchanged.
TEST(ResolveServerAddressTest, ReturnsIpAddressesUnchanged) {
  ServerAddress address = *ParseServerAddress("[::1]:8080", 0);
  absl::StatusOr<std::vector<ServerAddress>> resolved = ResolveServerAddress(address);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_EQ(resolved->size(), 1u);
  EXPECT_EQ((*resolved)[0].ToString(), "[::1]:8080");
}

// Validate that resolving a unix socket returns it unchanged.
TEST(ResolveServerAddressTest, ReturnsUnixSocketUnchanged) {
  ServerAddress address = *ParseServerAddress("unix:/run/app.sock", 0);
  absl::StatusOr<std::vector<ServerAddress>> resolved = ResolveServerAddress(address);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_EQ(resolved->size(), 1u);
  EXPECT_EQ((*resolved)[0].ToString(), "unix:/run/app.sock");
}

// Validate that localhost resolves to loopback addresses, keeping the port.
TEST(ResolveServerAddressTest, ResolvesLocalhostToLoopbackKeepingThePort) {
  ServerAddress address = *ParseServerAddress("localhost:8080", 0);
  absl::StatusOr<std::vector<ServerAddress>> resolved = ResolveServerAddress(address);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_THAT(*resolved, Contains(Field(&ServerAddress::host, AnyOf("127.0.0.1", "::1"))));
  EXPECT_THAT(*resolved, Each(Field(&ServerAddress::port, 8080)));
  EXPECT_THAT(*resolved, Each(Field(&ServerAddress::kind, Not(ServerAddress::Kind::kHostName))));
}

}  // namespace
}  // namespace nginx_xds
