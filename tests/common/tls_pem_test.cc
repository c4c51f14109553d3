// PEM checks at configuration time (common/tls_pem), on a throw-away PKI
// that tests/certs/make_test_certs.sh makes with openssl.

#include "common/tls_pem.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// The directory of the PKI, made once per test binary.
const std::string& Certs() {
  static const std::string* dir = [] {
    auto* d = new std::string(std::string(getenv("TEST_TMPDIR")) + "/certs");
    const std::string script =
        std::string(getenv("TEST_SRCDIR")) + "/nginx_xds/tests/certs/make_test_certs.sh";
    const std::string command = absl::StrCat("sh ", script, " ", *d);
    EXPECT_EQ(system(command.c_str()), 0) << command;
    return d;
  }();
  return *dir;
}

std::string Read(const std::string& name) {
  std::ifstream in(Certs() + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Validate that a certificate and its own key pass every check.
TEST(TlsPemTest, MatchingCertificateAndKey) {
  const std::string cert = Read("server.crt");
  const std::string key = Read("server.key");
  ASSERT_FALSE(cert.empty());
  EXPECT_TRUE(CheckPemCertificates(cert).ok());
  EXPECT_TRUE(CheckPemPrivateKey(key).ok());
  EXPECT_TRUE(CheckPemKeyMatches(cert, key).ok());
}

// Validate that what is not PEM certificates or a key is INVALID_ARGUMENT,
// and that another certificate's key does not match.
TEST(TlsPemTest, RefusesWrongMaterial) {
  EXPECT_EQ(CheckPemCertificates("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPemCertificates("not pem").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPemCertificates(Read("server.key")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPemPrivateKey(Read("server.crt")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPemKeyMatches(Read("server.crt"), Read("node-1.key")).code(),
            absl::StatusCode::kInvalidArgument);
}

// Validate that ReadSecretFile names the flag and path of a missing or
// empty file.
TEST(TlsPemTest, ReadSecretFileErrors) {
  auto missing = ReadSecretFile("--xds_tls_key", Certs() + "/missing.key");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("--xds_tls_key"), absl::string_view::npos);
  const std::string empty = std::string(getenv("TEST_TMPDIR")) + "/empty.pem";
  std::ofstream(empty).close();
  EXPECT_EQ(ReadSecretFile("--xds_tls_ca", empty).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto read = ReadSecretFile("--xds_tls_cert", Certs() + "/server.crt");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, Read("server.crt"));
}

}  // namespace
}  // namespace nginx_xds
