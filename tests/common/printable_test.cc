// Printable: how untrusted bytes are quoted in messages and text pages.

#include "common/printable.h"

#include <string>

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validates that printable ASCII passes through unchanged.
TEST(PrintableTest, KeepsPrintableAscii) {
  EXPECT_EQ(Printable("node a-1 rejected: \"x\" ~"), "node a-1 rejected: \"x\" ~");
}

// Validates that control bytes, DEL and bytes above 0x7f become \xNN.
TEST(PrintableTest, EscapesEverythingElse) {
  EXPECT_EQ(Printable(std::string("a\nb\x7f\xff\0", 6)), "a\\x0ab\\x7f\\xff\\x00");
}

}  // namespace
}  // namespace nginx_xds
