// The one decimal parser (common/decimal): nginx's ngx_atoi rules.

#include "common/decimal.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validate that digits parse and leading zeros are digits like any other.
TEST(DecimalTest, ParsesDigits) {
  EXPECT_EQ(ParseDecimal("0", 10), 0u);
  EXPECT_EQ(ParseDecimal("007", 10), 7u);
  EXPECT_EQ(ParseDecimal("4294967295", 0xffffffffu), 0xffffffffu);
}

// Validate that anything but ASCII digits is refused, as ngx_atoi refuses it.
TEST(DecimalTest, RefusesWhatIsNotDigits) {
  for (const char* text : {"", "-1", "+1", " 1", "1 ", "0x10", "1.5", "1e3", "\xd9\xa1"}) {
    EXPECT_FALSE(IsDecimal(text)) << text;
    EXPECT_FALSE(ParseDecimal(text, 1000)) << text;
  }
}

// Validate that a value above `max` is refused while IsDecimal still holds,
// so callers can say "too large" rather than "not a number".
TEST(DecimalTest, RefusesAboveMaxWithoutOverflow) {
  EXPECT_EQ(ParseDecimal("10", 10), 10u);
  EXPECT_FALSE(ParseDecimal("11", 10));
  EXPECT_FALSE(ParseDecimal("4294967296", 0xffffffffu));
  const uint64_t int64_max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(ParseDecimal("9223372036854775807", int64_max), int64_max);
  EXPECT_FALSE(ParseDecimal("9223372036854775808", int64_max));
  // Far past uint64_t: no wrap-around to a small value.
  EXPECT_FALSE(ParseDecimal("184467440737095516170", UINT64_MAX));
  EXPECT_EQ(ParseDecimal("18446744073709551615", UINT64_MAX), UINT64_MAX);
  EXPECT_TRUE(IsDecimal("99999999999999999999999"));
}

}  // namespace
}  // namespace nginx_xds
