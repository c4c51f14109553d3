#ifndef CONTROLPLANE_API_ADMIN_AUTH_H_
#define CONTROLPLANE_API_ADMIN_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// The bearer token of the admin APIs (the gRPC management API and the HTTP
// gateway). Without a token every call is let through: the admin APIs then
// listen on loopback only (see CheckAdminExposure). With one, every call must
// carry `authorization: Bearer <token>`; the comparison takes the same time
// whatever the guess. Immutable after creation, so thread-safe.
class AdminAuth {
 public:
  // No token: Check() lets everything through.
  AdminAuth() = default;

  // Reads the token from `path` (its first line; surrounding white space
  // dropped). INVALID_ARGUMENT for an empty or too short token (under 16
  // characters) or one with characters an HTTP header cannot carry;
  // NOT_FOUND / PERMISSION_DENIED when the file cannot be read.
  static absl::StatusOr<AdminAuth> FromFile(const std::string& path);

  // For tests.
  static absl::StatusOr<AdminAuth> FromToken(absl::string_view token);

  bool enabled() const { return !token_.empty(); }

  // Checks the value of an Authorization header (empty: none was sent).
  // UNAUTHENTICATED, naming what is wrong but never the token, when a token
  // is configured and `authorization` is not "Bearer <it>".
  absl::Status Check(absl::string_view authorization) const;

  // Check() on a gRPC call's `authorization` metadata, as a gRPC status.
  grpc::Status CheckGrpc(const grpc::ServerContext& context) const;

 private:
  explicit AdminAuth(std::string token) : token_(std::move(token)) {}

  std::string token_;
};

// Whether `a` equals `b`, in a time that depends only on the length of `b`
// (the secret).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Whether a "host:port" listen address reaches only this machine: an IPv4
// address in 127.0.0.0/8, [::1], or "localhost". Wildcards ("0.0.0.0", "[::]",
// ":port") and every other address are exposed.
bool IsLoopbackListen(absl::string_view listen);

// FAILED_PRECONDITION, naming the flag and address, when `listen` (the value
// of `flag`) is exposed and `auth` holds no token. An empty `listen` (the
// server is off) is fine.
absl::Status CheckAdminExposure(absl::string_view flag, absl::string_view listen,
                                const AdminAuth& auth);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_ADMIN_AUTH_H_
