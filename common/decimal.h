#ifndef COMMON_DECIMAL_H_
#define COMMON_DECIMAL_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace nginx_xds {

// The one decimal parser of the seed APIs and nginx's directives, which take
// numbers as nginx's ngx_atoi does: ASCII digits only (no sign, no spaces,
// no "0x"), at least one. Thread-compatible (stateless functions).

// Whether `text` is one or more ASCII digits.
bool IsDecimal(absl::string_view text);

// The value of `text` when it is decimal (IsDecimal) and no larger than
// `max`; nullopt otherwise (callers tell "not a number" from "too large"
// with IsDecimal). Never overflows, whatever the length of `text`.
std::optional<uint64_t> ParseDecimal(absl::string_view text, uint64_t max);

}  // namespace nginx_xds

#endif  // COMMON_DECIMAL_H_
