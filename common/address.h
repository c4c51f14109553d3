#ifndef COMMON_ADDRESS_H_
#define COMMON_ADDRESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nginx_xds {

// A server address as nginx's `server` directive takes it. Plain value type.
struct ServerAddress {
  enum class Kind { kIpv4, kIpv6, kUnix, kHostName };

  Kind kind = Kind::kIpv4;
  // The IP literal without brackets, the host name, or the socket path.
  std::string host;
  // 1-65535; 0 for kUnix.
  uint16_t port = 0;

  // The form nginx lists peers in: "1.2.3.4:80", "[::1]:80", "unix:/path",
  // "name:80".
  std::string ToString() const;
};

// Parses "a.b.c.d[:port]", "[v6][:port]", "unix:/path" or "name[:port]".
// A missing port becomes `default_port`; pass 0 to require one. Returns
// INVALID_ARGUMENT naming the address and what is wrong with it.
absl::StatusOr<ServerAddress> ParseServerAddress(absl::string_view text, uint16_t default_port);

// Resolves a kHostName address to every IPv4/IPv6 address of the name, in
// the resolver's order, as nginx does for `server name:port`. Other kinds are
// returned as they are. Returns NOT_FOUND / UNAVAILABLE when the name does not
// resolve. Blocking; thread-safe.
absl::StatusOr<std::vector<ServerAddress>> ResolveServerAddress(const ServerAddress& address);

}  // namespace nginx_xds

#endif  // COMMON_ADDRESS_H_
