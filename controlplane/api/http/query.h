#ifndef CONTROLPLANE_API_HTTP_QUERY_H_
#define CONTROLPLANE_API_HTTP_QUERY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nginx_xds {

// Percent-decoding and query strings as the HTTP APIs read them (Boost
// 1.74 has no URL library). Strict: a '%' must be followed by two hex
// digits, as the seeds' answers require. Pure functions; thread-safe.

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as in a
// query); INVALID_ARGUMENT naming `what` ("the path", "the query") for a
// '%' without two hex digits after it.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space,
                                          absl::string_view what);

// One parameter of a query string, decoded.
struct QueryParam {
  std::string name;
  std::string value;
  // Whether the piece had an '=' ("a=" does, "a" does not).
  bool has_equals = true;
};

// The parameters of `query` (after '?') in order, decoded; empty pieces
// ("a&&b") are skipped; INVALID_ARGUMENT for a malformed escape or a piece
// without a name ("=5").
absl::StatusOr<std::vector<QueryParam>> ParseQuery(absl::string_view query);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_QUERY_H_
