#include "common/decimal.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace nginx_xds {

bool IsDecimal(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

std::optional<uint64_t> ParseDecimal(absl::string_view text, uint64_t max) {
  if (!IsDecimal(text)) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    // value * 10 + digit > max, without computing it.
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace nginx_xds
