// Fuzzes server address parsing (common/address): any text either is
// refused with a message or parses to an address whose canonical text
// parses back to the same address.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (uint16_t default_port : {uint16_t{0}, uint16_t{80}}) {
    absl::StatusOr<nginx_xds::ServerAddress> address =
        nginx_xds::ParseServerAddress(text, default_port);
    if (!address.ok()) {
      FUZZ_CHECK(!address.status().message().empty(), "a refusal says why");
      continue;
    }
    const std::string canonical = address->ToString();
    absl::StatusOr<nginx_xds::ServerAddress> again =
        nginx_xds::ParseServerAddress(canonical, default_port);
    FUZZ_CHECK(again.ok(), absl::StrCat("canonical \"", canonical, "\" parses"));
    FUZZ_CHECK(again->ToString() == canonical,
               absl::StrCat("canonical \"", canonical, "\" is a fixed point"));
  }
  return 0;
}
