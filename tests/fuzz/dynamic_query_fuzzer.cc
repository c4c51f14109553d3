// Fuzzes the /dynamic query (ngx_dynamic_upstream's API): the strict query
// decoder (api/http/query) and the parameter rules behind it
// (api/http/dynamic_request). A query is refused with a message, or parses
// into a request whose ignored pieces each say why.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controlplane/api/http/dynamic_request.h"
#include "controlplane/api/http/query.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view query(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<nginx_xds::QueryParam>> params = nginx_xds::ParseQuery(query);
  if (!params.ok()) {
    FUZZ_CHECK(!params.status().message().empty(), "a refused query says why");
    return 0;
  }
  for (const nginx_xds::QueryParam& param : *params) {
    FUZZ_CHECK(!param.name.empty(), "every parameter has a name");
  }
  absl::StatusOr<nginx_xds::DynamicRequest> request = nginx_xds::ParseDynamic(*params);
  if (!request.ok()) {
    FUZZ_CHECK(!request.status().message().empty(), "a refused request says why");
    return 0;
  }
  for (const std::string& ignored : request->ignored) {
    FUZZ_CHECK(ignored.find(" (") != std::string::npos,
               absl::StrCat("an ignored piece says why: ", ignored));
  }
  nginx_xds::DropUnused(&*request);
  (void)request->Changes();
  (void)request->Verbose();
  return 0;
}
