#include "controlplane/api/admin_auth.h"

#include <arpa/inet.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/tls_pem.h"

namespace nginx_xds {

namespace {

constexpr size_t kMinTokenLength = 16;
constexpr absl::string_view kBearer = "Bearer ";

// Splits "host:port" or "[v6]:port" and returns the host without brackets.
absl::string_view ListenHost(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  absl::string_view host = colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

absl::StatusOr<AdminAuth> AdminAuth::FromFile(const std::string& path) {
  auto content = ReadSecretFile("--admin_token_file", path);
  if (!content.ok()) return content.status();
  absl::string_view token = *content;
  token = token.substr(0, token.find('\n'));
  auto auth = FromToken(token);
  if (!auth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin_token_file \"", path, "\": ", auth.status().message()));
  }
  return auth;
}

absl::StatusOr<AdminAuth> AdminAuth::FromToken(absl::string_view token) {
  token = absl::StripAsciiWhitespace(token);
  if (token.size() < kMinTokenLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("the token must be at least ", kMinTokenLength,
                     " characters long (e.g. `openssl rand -hex 32`), it has ", token.size()));
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "the token may only hold printable ASCII characters without spaces");
    }
  }
  return AdminAuth(std::string(token));
}

absl::Status AdminAuth::Check(absl::string_view authorization) const {
  if (!enabled()) return absl::OkStatus();
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "this API needs a bearer token: send "
        "\"Authorization: Bearer <token>\"");
  }
  // The scheme is case-insensitive (RFC 9110 11.1).
  if (authorization.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
    return absl::UnauthenticatedError("the Authorization header is not \"Bearer <token>\"");
  }
  absl::string_view given = absl::StripAsciiWhitespace(authorization.substr(kBearer.size()));
  if (!ConstantTimeEquals(given, token_)) {
    return absl::UnauthenticatedError("the bearer token is not valid");
  }
  return absl::OkStatus();
}

grpc::Status AdminAuth::CheckGrpc(const grpc::ServerContext& context) const {
  if (!enabled()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  absl::string_view value;
  if (it != metadata.end()) value = absl::string_view(it->second.data(), it->second.size());
  absl::Status status = Check(value);
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      it == metadata.end() ? "this API needs a bearer token: send metadata "
                                             "\"authorization: Bearer <token>\""
                                           : std::string(status.message()));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Walks all of `b` whatever `a` holds; indexes `a` modulo its size so no
  // branch depends on the bytes compared.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t a_size = a.empty() ? 1 : a.size();
  for (size_t i = 0; i < b.size(); ++i) {
    const unsigned char x = a.empty() ? 0 : static_cast<unsigned char>(a[i % a_size]);
    diff = diff | static_cast<unsigned char>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

bool IsLoopbackListen(absl::string_view listen) {
  const std::string host(ListenHost(listen));
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

absl::Status CheckAdminExposure(absl::string_view flag, absl::string_view listen,
                                const AdminAuth& auth) {
  if (listen.empty() || auth.enabled() || IsLoopbackListen(listen)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("--", flag, "=", listen,
                   " exposes the admin API beyond this machine: give "
                   "--admin_token_file=PATH (a file "
                   "holding the bearer token every admin call must send) or "
                   "listen on 127.0.0.1"));
}

}  // namespace nginx_xds
