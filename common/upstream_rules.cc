#include "common/upstream_rules.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::Method;
using nginx_xds::v1::Server;
using nginx_xds::v1::Upstream;

// nginx's port for `server` lines without one.
constexpr uint16_t kDefaultPort = 80;
constexpr size_t kMaxHashKeyLength = 1024;

absl::Status UpstreamError(const Upstream& upstream, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("upstream \"", upstream.name(), "\": ", what));
}

absl::Status ServerError(absl::string_view address, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("server \"", address, "\": ", what));
}

// ParseServerAddress names the address as `address "..."`; within an upstream
// the same text is a `server "..."`.
absl::Status AsServerError(absl::Status status) {
  absl::string_view message = status.message();
  if (absl::ConsumePrefix(&message, "address ")) {
    return absl::Status(status.code(), absl::StrCat("server ", message));
  }
  return status;
}

absl::Status CheckHashKey(const Upstream& upstream) {
  const std::string& key = upstream.hash_key();
  if (key.empty()) return UpstreamError(upstream, "method hash needs a hash_key");
  if (key.size() > kMaxHashKeyLength) {
    return UpstreamError(upstream,
                         absl::StrCat("hash_key longer than ", kMaxHashKeyLength, " bytes"));
  }
  for (char c : key) {
    if (absl::ascii_iscntrl(c)) {
      return UpstreamError(upstream, absl::StrCat("hash_key \"", key, "\" has control characters"));
    }
  }
  return absl::OkStatus();
}

// The upstream-level fields, which need no defaults filled in.
absl::Status CheckUpstreamFields(const Upstream& upstream) {
  absl::Status status = ValidateName("upstream", upstream.name());
  if (!status.ok()) return status;
  if (!v1::Method_IsValid(upstream.method())) {
    return UpstreamError(upstream, absl::StrCat("unknown method ", upstream.method()));
  }
  if (upstream.method() == v1::HASH) {
    status = CheckHashKey(upstream);
    if (!status.ok()) return status;
  } else if (!upstream.hash_key().empty() || upstream.hash_consistent()) {
    return UpstreamError(upstream,
                         absl::StrCat("hash_key and hash_consistent need method hash, not ",
                                      MethodName(upstream.method())));
  }
  if (!upstream.zone().empty()) {
    status = ValidateName("zone", upstream.zone());
    if (!status.ok()) return UpstreamError(upstream, status.message());
  }
  return absl::OkStatus();
}

// Server settings other than the address; `address` names the server.
absl::Status CheckServerSettings(const Server& server, Method method, absl::string_view address) {
  if (server.has_weight() && server.weight() > kMaxWeight) {
    return ServerError(address,
                       absl::StrCat("weight ", server.weight(), " must be 0-", kMaxWeight));
  }
  // Weight 0 (ngx_dynamic_upstream stores it) takes no requests while a
  // server with a weight is available; hash, ip_hash and random divide by the
  // total weight or give each server weight * 160 points, so there it could
  // crash a worker or silently drop the server.
  if (server.has_weight() && server.weight() == 0 &&
      (method == v1::IP_HASH || method == v1::HASH || method == v1::RANDOM)) {
    return ServerError(address,
                       absl::StrCat("weight 0 is not supported by method ", MethodName(method),
                                    " (only round robin and least_conn)"));
  }
  // Backup servers with hash, ip_hash and random: nginx refuses `backup` on
  // a server listed after such a directive, but takes servers listed before
  // it; the model has no order, so it takes them (nginx-xds renders servers
  // before the method), as nginx.conf can.
  return absl::OkStatus();
}

// Server.host must be a host name; only IP servers can have been resolved.
absl::Status CheckServerHost(const Server& server, const ServerAddress& address) {
  if (server.host().empty()) return absl::OkStatus();
  if (address.kind == ServerAddress::Kind::kUnix) {
    return ServerError(server.address(), "a unix socket has no host");
  }
  absl::StatusOr<ServerAddress> host = ParseServerAddress(server.host(), 1);
  if (!host.ok() || host->kind != ServerAddress::Kind::kHostName || host->host != server.host()) {
    return ServerError(server.address(), absl::StrCat("invalid host \"", server.host(), "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckNormalizedServer(const Server& server, Method method) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress(server.address(), 0);
  if (!address.ok()) return AsServerError(address.status());
  if (address->kind == ServerAddress::Kind::kHostName) {
    return ServerError(server.address(), "host name is not resolved");
  }
  if (address->ToString() != server.address()) {
    return ServerError(server.address(),
                       absl::StrCat("not in canonical form \"", address->ToString(), "\""));
  }
  if (!server.has_weight() || !server.has_max_fails() || !server.has_fail_timeout()) {
    return ServerError(server.address(), "weight, max_fails and fail_timeout must be set");
  }
  absl::Status status = CheckServerSettings(server, method, server.address());
  if (!status.ok()) return status;
  return CheckServerHost(server, *address);
}

void FillUpstreamDefaults(Upstream* upstream) {
  if (!upstream->has_keepalive_requests()) {
    upstream->set_keepalive_requests(kDefaultKeepaliveRequests);
  }
  if (!upstream->has_keepalive_time_ms()) {
    upstream->set_keepalive_time_ms(kDefaultKeepaliveTimeMs);
  }
  if (!upstream->has_keepalive_timeout_ms()) {
    upstream->set_keepalive_timeout_ms(kDefaultKeepaliveTimeoutMs);
  }
}

void FillServerDefaults(Server* server) {
  if (!server->has_weight()) server->set_weight(kDefaultWeight);
  if (!server->has_max_fails()) server->set_max_fails(kDefaultMaxFails);
  if (!server->has_fail_timeout()) {
    server->set_fail_timeout(kDefaultFailTimeoutSeconds);
  }
}

// Host names are asked of `resolve`; every other kind stands for itself.
absl::StatusOr<std::vector<ServerAddress>> ExpandAddress(const Server& server,
                                                         const ServerAddress& address,
                                                         const AddressResolver& resolve) {
  if (address.kind != ServerAddress::Kind::kHostName) {
    return std::vector<ServerAddress>{address};
  }
  absl::StatusOr<std::vector<ServerAddress>> resolved = resolve(address);
  if (!resolved.ok()) {
    // A name that does not exist is the caller's mistake; a failing
    // resolver (UNAVAILABLE) is worth retrying, so keep that code.
    absl::StatusCode code = resolved.status().code() == absl::StatusCode::kNotFound
                                ? absl::StatusCode::kInvalidArgument
                                : resolved.status().code();
    // nginx's own words when the name does not exist.
    absl::string_view what = code == absl::StatusCode::kInvalidArgument
                                 ? "host not found in upstream"
                                 : "cannot resolve upstream server";
    return absl::Status(
        code, absl::StrCat(what, " \"", server.address(), "\": ", resolved.status().message()));
  }
  if (resolved->empty()) {
    return ServerError(server.address(), "host name resolves to no address");
  }
  for (const ServerAddress& entry : *resolved) {
    if (entry.kind != ServerAddress::Kind::kIpv4 && entry.kind != ServerAddress::Kind::kIpv6) {
      return ServerError(server.address(), absl::StrCat("host name resolved to \"",
                                                        entry.ToString(), "\", not an IP address"));
    }
  }
  return resolved;
}

// Appends one normalized server per address `server` stands for.
absl::Status NormalizeServer(const Server& server, Method method, const AddressResolver& resolve,
                             std::vector<Server>* out) {
  absl::StatusOr<ServerAddress> address = ParseServerAddress(server.address(), kDefaultPort);
  if (!address.ok()) return AsServerError(address.status());
  absl::Status status = CheckServerSettings(server, method, server.address());
  if (!status.ok()) return status;
  absl::StatusOr<std::vector<ServerAddress>> expanded = ExpandAddress(server, *address, resolve);
  if (!expanded.ok()) return expanded.status();
  for (const ServerAddress& entry : *expanded) {
    Server normalized = server;
    normalized.set_address(entry.ToString());
    if (address->kind == ServerAddress::Kind::kHostName) {
      normalized.set_host(address->host);
    }
    FillServerDefaults(&normalized);
    out->push_back(std::move(normalized));
  }
  return absl::OkStatus();
}

}  // namespace

std::string MethodName(Method method) {
  if (!v1::Method_IsValid(method)) return "unknown";
  return absl::AsciiStrToLower(v1::Method_Name(method));
}

absl::Status ValidateName(absl::string_view what, absl::string_view name) {
  bool valid = !name.empty() && name.size() <= kMaxNameLength;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') {
      valid = false;
    }
  }
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " name \"", name, "\": must be 1-",
                                                 kMaxNameLength, " characters of [A-Za-z0-9._-]"));
}

absl::StatusOr<std::string> ResolveFleet(absl::string_view fleet) {
  std::string name = FleetOrDefault(fleet);
  absl::Status valid = ValidateName("fleet", name);
  if (!valid.ok()) return valid;
  return name;
}

std::string UpstreamKey(absl::string_view name) { return absl::AsciiStrToLower(name); }

absl::Status NormalizeUpstream(Upstream* upstream, const AddressResolver& resolve) {
  absl::Status status = CheckUpstreamFields(*upstream);
  if (!status.ok()) return status;
  if (upstream->servers_size() > static_cast<int>(kMaxServersPerUpstream)) {
    return UpstreamError(*upstream, absl::StrCat("more than ", kMaxServersPerUpstream, " servers"));
  }
  std::vector<Server> servers;
  for (const Server& server : upstream->servers()) {
    status = NormalizeServer(server, upstream->method(), resolve, &servers);
    if (!status.ok()) return status;
  }
  Upstream normalized = *upstream;
  FillUpstreamDefaults(&normalized);
  normalized.clear_servers();
  for (Server& server : servers) *normalized.add_servers() = std::move(server);
  status = ValidateNormalizedUpstream(normalized);
  if (!status.ok()) return status;
  *upstream = std::move(normalized);
  return absl::OkStatus();
}

absl::Status ValidateNormalizedUpstream(const Upstream& upstream) {
  absl::Status status = CheckUpstreamFields(upstream);
  if (!status.ok()) return status;
  if (!upstream.has_keepalive_requests() || !upstream.has_keepalive_time_ms() ||
      !upstream.has_keepalive_timeout_ms()) {
    return UpstreamError(upstream,
                         "keepalive_requests, keepalive_time_ms and "
                         "keepalive_timeout_ms must be set");
  }
  // nginx's ngx_http_upstream_init_round_robin: backups alone are no servers.
  const bool has_primary = std::any_of(upstream.servers().begin(), upstream.servers().end(),
                                       [](const Server& server) { return !server.backup(); });
  if (upstream.servers().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no servers are inside upstream \"", upstream.name(), "\""));
  }
  if (!has_primary) {
    return absl::InvalidArgumentError(absl::StrCat("no servers in upstream \"", upstream.name(),
                                                   "\" (every server is a backup)"));
  }
  if (upstream.servers_size() > static_cast<int>(kMaxServersPerUpstream)) {
    return UpstreamError(upstream, absl::StrCat("more than ", kMaxServersPerUpstream, " servers"));
  }
  std::set<absl::string_view> seen;
  for (const Server& server : upstream.servers()) {
    status = CheckNormalizedServer(server, upstream.method());
    if (!status.ok()) return status;
    if (!seen.insert(server.address()).second) {
      return ServerError(server.address(), "duplicate address");
    }
  }
  return absl::OkStatus();
}

}  // namespace nginx_xds
