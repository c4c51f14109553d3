#include "common/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace nginx_xds {
namespace {

constexpr absl::string_view kUnixPrefix = "unix:";
constexpr size_t kMaxHostNameLength = 253;
constexpr size_t kMaxLabelLength = 63;
// sun_path holds the path and its terminating NUL.
constexpr size_t kMaxUnixPathLength = sizeof(sockaddr_un::sun_path) - 1;

absl::Status AddressError(absl::string_view text, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("address \"", text, "\": ", what));
}

// Parses the text after "host:" (or "]:"); nginx accepts only decimal ports.
absl::StatusOr<uint16_t> ParsePort(absl::string_view text, absl::string_view port) {
  if (port.empty()) return AddressError(text, "missing port after ':'");
  if (!std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) {
    return AddressError(text, absl::StrCat("port \"", port, "\" is not a number"));
  }
  uint32_t value = 0;
  // Five digits at most so that SimpleAtoi cannot overflow.
  if (port.size() > 5 || !absl::SimpleAtoi(port, &value) || value < 1 || value > 65535) {
    return AddressError(text, "port must be 1-65535");
  }
  return static_cast<uint16_t>(value);
}

// Sets `canonical` to inet_ntop's form of the IP literal `host`; false if
// `host` is no literal of `family`.
bool CanonicalIp(int family, absl::string_view host, std::string* canonical) {
  unsigned char binary[sizeof(in6_addr)];
  char buffer[INET6_ADDRSTRLEN];
  std::string terminated(host);
  if (inet_pton(family, terminated.c_str(), binary) != 1) return false;
  if (inet_ntop(family, binary, buffer, sizeof(buffer)) == nullptr) {
    return false;
  }
  *canonical = buffer;
  return true;
}

// RFC 1123: dot-separated labels of letters, digits and inner hyphens.
bool IsHostName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxHostNameLength) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > kMaxLabelLength) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
  }
  return true;
}

bool LooksNumeric(absl::string_view host) {
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
}

absl::StatusOr<ServerAddress> ParseUnix(absl::string_view text) {
  absl::string_view path = text.substr(kUnixPrefix.size());
  if (path.empty()) return AddressError(text, "empty unix socket path");
  if (path.front() != '/') {
    return AddressError(text, "unix socket path must be absolute");
  }
  if (path.size() > kMaxUnixPathLength) {
    return AddressError(
        text, absl::StrCat("unix socket path longer than ", kMaxUnixPathLength, " bytes"));
  }
  ServerAddress address;
  address.kind = ServerAddress::Kind::kUnix;
  address.host = std::string(path);
  return address;
}

absl::StatusOr<ServerAddress> ParseBracketed(absl::string_view text, uint16_t default_port) {
  size_t close = text.find(']');
  if (close == absl::string_view::npos) {
    return AddressError(text, "missing ']' after IPv6 address");
  }
  absl::string_view literal = text.substr(1, close - 1);
  absl::string_view rest = text.substr(close + 1);
  ServerAddress address;
  address.kind = ServerAddress::Kind::kIpv6;
  if (!CanonicalIp(AF_INET6, literal, &address.host)) {
    return AddressError(text, absl::StrCat("invalid IPv6 address \"", literal, "\""));
  }
  if (rest.empty()) {
    if (default_port == 0) return AddressError(text, "missing port");
    address.port = default_port;
    return address;
  }
  if (rest.front() != ':') {
    return AddressError(text, "expected ':' and a port after ']'");
  }
  absl::StatusOr<uint16_t> port = ParsePort(text, rest.substr(1));
  if (!port.ok()) return port.status();
  address.port = *port;
  return address;
}

absl::StatusOr<ServerAddress> ParseHostAndPort(absl::string_view text, uint16_t default_port) {
  size_t colon = text.find(':');
  if (colon != absl::string_view::npos && text.find(':', colon + 1) != absl::string_view::npos) {
    return AddressError(text, "an IPv6 address must be in brackets");
  }
  absl::string_view host = text.substr(0, colon);
  ServerAddress address;
  if (host.empty()) return AddressError(text, "missing host");
  if (LooksNumeric(host)) {
    address.kind = ServerAddress::Kind::kIpv4;
    if (!CanonicalIp(AF_INET, host, &address.host)) {
      return AddressError(text, absl::StrCat("invalid IPv4 address \"", host, "\""));
    }
  } else if (absl::EqualsIgnoreCase(host, "unix")) {
    // Its canonical text "unix:PORT" would read back as a unix socket path
    // (nginx tells them apart by that prefix alone).
    return AddressError(
        text, absl::StrCat("host name \"", host, "\" reads as a unix socket; write unix:/PATH"));
  } else if (IsHostName(host)) {
    address.kind = ServerAddress::Kind::kHostName;
    address.host = std::string(host);
  } else {
    return AddressError(text, absl::StrCat("invalid host name \"", host, "\""));
  }
  if (colon == absl::string_view::npos) {
    if (default_port == 0) return AddressError(text, "missing port");
    address.port = default_port;
    return address;
  }
  absl::StatusOr<uint16_t> port = ParsePort(text, text.substr(colon + 1));
  if (!port.ok()) return port.status();
  address.port = *port;
  return address;
}

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

absl::Status ResolveError(const ServerAddress& address, int error) {
  std::string message = absl::StrCat("host \"", address.host, "\": ", gai_strerror(error));
  if (error == EAI_NONAME || error == EAI_NODATA || error == EAI_FAIL) {
    return absl::NotFoundError(message);
  }
  return absl::UnavailableError(message);
}

}  // namespace

std::string ServerAddress::ToString() const {
  switch (kind) {
    case Kind::kUnix:
      return absl::StrCat(kUnixPrefix, host);
    case Kind::kIpv6:
      return absl::StrCat("[", host, "]:", port);
    case Kind::kIpv4:
    case Kind::kHostName:
      break;
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<ServerAddress> ParseServerAddress(absl::string_view text, uint16_t default_port) {
  if (text.empty()) return AddressError(text, "empty address");
  for (char c : text) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) {
      return AddressError(text, "contains whitespace or control characters");
    }
  }
  // nginx takes the prefix in any case (ngx_parse_url).
  if (absl::StartsWithIgnoreCase(text, kUnixPrefix)) return ParseUnix(text);
  if (text.front() == '[') return ParseBracketed(text, default_port);
  return ParseHostAndPort(text, default_port);
}

absl::StatusOr<std::vector<ServerAddress>> ResolveServerAddress(const ServerAddress& address) {
  if (address.kind != ServerAddress::Kind::kHostName) {
    return std::vector<ServerAddress>{address};
  }
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  // One entry per address instead of one per socket type.
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  int error = getaddrinfo(address.host.c_str(), nullptr, &hints, &raw);
  if (error != 0) return ResolveError(address, error);
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(raw);

  std::vector<ServerAddress> resolved;
  for (const addrinfo* info = list.get(); info != nullptr; info = info->ai_next) {
    char buffer[INET6_ADDRSTRLEN];
    ServerAddress entry;
    entry.port = address.port;
    if (info->ai_family == AF_INET) {
      entry.kind = ServerAddress::Kind::kIpv4;
      const auto* in = reinterpret_cast<const sockaddr_in*>(info->ai_addr);
      if (!inet_ntop(AF_INET, &in->sin_addr, buffer, sizeof(buffer))) continue;
    } else if (info->ai_family == AF_INET6) {
      entry.kind = ServerAddress::Kind::kIpv6;
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(info->ai_addr);
      if (!inet_ntop(AF_INET6, &in6->sin6_addr, buffer, sizeof(buffer))) {
        continue;
      }
    } else {
      continue;
    }
    entry.host = buffer;
    // /etc/hosts may list an address twice: keep one server per address.
    bool seen = std::any_of(resolved.begin(), resolved.end(), [&entry](const ServerAddress& other) {
      return other.host == entry.host;
    });
    if (!seen) resolved.push_back(std::move(entry));
  }
  if (resolved.empty()) {
    return absl::NotFoundError(
        absl::StrCat("host \"", address.host, "\": no IPv4 or IPv6 address"));
  }
  return resolved;
}

}  // namespace nginx_xds
