#ifndef COMMON_UPSTREAM_RULES_H_
#define COMMON_UPSTREAM_RULES_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/address.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// nginx's defaults for unset server and upstream settings.
inline constexpr uint32_t kDefaultWeight = 1;
inline constexpr uint32_t kDefaultMaxFails = 1;
inline constexpr uint32_t kDefaultFailTimeoutSeconds = 10;
inline constexpr uint32_t kDefaultKeepaliveRequests = 1000;
inline constexpr uint32_t kDefaultKeepaliveTimeMs = 3600 * 1000;
inline constexpr uint32_t kDefaultKeepaliveTimeoutMs = 60 * 1000;
inline constexpr uint32_t kMaxWeight = 1000000;
inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxServersPerUpstream = 4096;

// The fleet used when a request names none.
inline constexpr char kDefaultFleet[] = "default";

// The fleet a request names: `fleet`, or kDefaultFleet when it names none.
// The one place an empty fleet becomes "default" (calls that list every
// fleet take "" to mean all of them and do not call this).
inline std::string FleetOrDefault(absl::string_view fleet) {
  return fleet.empty() ? std::string(kDefaultFleet) : std::string(fleet);
}

// FleetOrDefault, checked with ValidateName: INVALID_ARGUMENT naming the
// fleet when it is not a valid name.
absl::StatusOr<std::string> ResolveFleet(absl::string_view fleet);

// Resolves a host name address into addresses; a seam so tests need no DNS.
using AddressResolver =
    std::function<absl::StatusOr<std::vector<ServerAddress>>(const ServerAddress&)>;

// Checks an upstream, fleet or node name: 1-255 characters of
// [A-Za-z0-9._-]. `what` ("upstream", "fleet") starts the error message.
absl::Status ValidateName(absl::string_view what, absl::string_view name);

// The key an upstream name is compared by (nginx compares upstream names
// case-insensitively): the name in lower case.
std::string UpstreamKey(absl::string_view name);

// nginx's word for `method` ("round_robin", "least_conn", ...): the
// generated enum name in lower case; "unknown" for a value the enum lacks.
std::string MethodName(nginx_xds::v1::Method method);

// Checks every field of `upstream`, fills unset ones with nginx's defaults,
// puts addresses in canonical form, resolves host names with `resolve` into
// one server per address (keeping the name in Server.host), and rejects
// duplicate addresses. On error returns INVALID_ARGUMENT whose message names
// the field and the value (e.g. `server "10.0.0.1:0": port must be 1-65535`)
// and leaves `upstream` unchanged.
absl::Status NormalizeUpstream(nginx_xds::v1::Upstream* upstream, const AddressResolver& resolve);

// Checks an upstream that should already be normalized (as the agent
// receives them): every field in range, addresses canonical IP or unix
// addresses, no duplicates, at least one server. INVALID_ARGUMENT otherwise.
absl::Status ValidateNormalizedUpstream(const nginx_xds::v1::Upstream& upstream);

}  // namespace nginx_xds

#endif  // COMMON_UPSTREAM_RULES_H_
