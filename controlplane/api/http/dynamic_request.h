#ifndef CONTROLPLANE_API_HTTP_DYNAMIC_REQUEST_H_
#define CONTROLPLANE_API_HTTP_DYNAMIC_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "controlplane/api/http/query.h"

namespace nginx_xds {

// The parsed parameters of a /dynamic request.
struct DynamicRequest {
  bool has_zone = false;
  std::string zone;
  bool has_server = false;
  std::string server;
  std::optional<uint32_t> weight;
  std::optional<uint32_t> max_fails;
  std::optional<uint32_t> fail_timeout;
  bool verbose = false;
  bool add = false;
  bool remove = false;
  bool backup = false;
  bool up = false;
  bool down = false;
  // What the request said that changes nothing, for X-Xds-Ignored: each
  // piece as given and why ("foo=1 (unknown parameter)").
  std::vector<std::string> ignored;

  bool HasParameters() const {
    return weight.has_value() || max_fails.has_value() || fail_timeout.has_value();
  }
  bool Changes() const { return add || remove || up || down || HasParameters(); }
  // The original printed the verbose list after `verbose` and after any
  // parameter or up/down it was given, whatever the operation.
  bool Verbose() const { return verbose || HasParameters() || up || down; }

  void Ignore(const std::string& name, const std::string& value, absl::string_view why) {
    ignored.push_back(absl::StrCat(name, "=", value, " (", why, ")"));
  }
};

// Reads the parameters as ngx_dynamic_upstream (7220bd4) read them, through
// nginx's $arg_NAME: a parameter counts only as NAME=VALUE, its name is
// matched case-insensitively, the first one of a name wins, a flag is set
// whatever its value, and anything else is ignored (and noted). Refused, as
// the original refused them: a parameter that is not an integer, add with
// remove, up with down.
absl::StatusOr<DynamicRequest> ParseDynamic(const std::vector<QueryParam>& params);

// Drops, and notes, what the operation the request makes does not use, as
// the original did: remove takes the server alone; server and backup alone
// change nothing (the list is answered); backup is used by add only.
void DropUnused(DynamicRequest* request);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_DYNAMIC_REQUEST_H_
