#include "controlplane/api/http/dynamic_request.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "common/decimal.h"

namespace nginx_xds {
namespace {

// A plain integer parameter (seconds for fail_timeout), as the original
// module took them: decimal digits only.
absl::StatusOr<uint32_t> ParseDynamicInteger(const QueryParam& param) {
  const std::string& value = param.value;
  if (!IsDecimal(value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter ", param.name, "=\"", value, "\" is not an integer (", param.name,
        " takes decimal digits only", param.name == "fail_timeout" ? ", in seconds" : "", ")"));
  }
  std::optional<uint64_t> number = ParseDecimal(value, 0xffffffffu);
  if (!number) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter ", param.name, "=\"", value, "\" is too large"));
  }
  return static_cast<uint32_t>(*number);
}

}  // namespace

absl::StatusOr<DynamicRequest> ParseDynamic(const std::vector<QueryParam>& params) {
  DynamicRequest request;
  std::set<std::string> seen;
  for (const QueryParam& given : params) {
    QueryParam param{absl::AsciiStrToLower(given.name), given.value};
    if (!given.has_equals) {
      request.ignored.push_back(absl::StrCat(given.name, " (no \"=\")"));
      continue;
    }
    bool* flag = nullptr;
    std::optional<uint32_t>* number = nullptr;
    std::string* text = nullptr;
    bool* has_text = nullptr;
    if (param.name == "upstream") {
      text = &request.zone;
      has_text = &request.has_zone;
    } else if (param.name == "server") {
      text = &request.server;
      has_text = &request.has_server;
    } else if (param.name == "weight") {
      number = &request.weight;
    } else if (param.name == "max_fails") {
      number = &request.max_fails;
    } else if (param.name == "fail_timeout") {
      number = &request.fail_timeout;
    } else if (param.name == "verbose") {
      flag = &request.verbose;
    } else if (param.name == "add") {
      flag = &request.add;
    } else if (param.name == "remove") {
      flag = &request.remove;
    } else if (param.name == "backup") {
      flag = &request.backup;
    } else if (param.name == "up") {
      flag = &request.up;
    } else if (param.name == "down") {
      flag = &request.down;
    } else {
      request.Ignore(given.name, given.value, "unknown parameter");
      continue;
    }
    if (!seen.insert(param.name).second) {
      request.Ignore(given.name, given.value, "repeated; the first one counts");
      continue;
    }
    if (text != nullptr) {
      *text = param.value;
      *has_text = true;
    }
    if (number != nullptr) {
      absl::StatusOr<uint32_t> value = ParseDynamicInteger(param);
      if (!value.ok()) return value.status();
      *number = *value;
    }
    if (flag != nullptr) {
      if (!param.value.empty()) request.Ignore(given.name, given.value, "a flag's value");
      *flag = true;
    }
  }
  if (request.add && request.remove) {
    return absl::InvalidArgumentError("add and remove cannot be given together");
  }
  if (request.up && request.down) {
    return absl::InvalidArgumentError("up and down cannot be given together");
  }
  return request;
}

void DropUnused(DynamicRequest* request) {
  const bool listing = !request->Changes();
  if (request->remove) {
    if (request->weight)
      request->Ignore("weight", absl::StrCat(*request->weight), "not used by remove");
    if (request->max_fails) {
      request->Ignore("max_fails", absl::StrCat(*request->max_fails), "not used by remove");
    }
    if (request->fail_timeout) {
      request->Ignore("fail_timeout", absl::StrCat(*request->fail_timeout), "not used by remove");
    }
    if (request->up) request->Ignore("up", "", "not used by remove");
    if (request->down) request->Ignore("down", "", "not used by remove");
  }
  if (listing && request->has_server) request->Ignore("server", request->server, "no change asked");
  if (request->backup && !request->add) request->Ignore("backup", "", "used by add only");
}

}  // namespace nginx_xds
