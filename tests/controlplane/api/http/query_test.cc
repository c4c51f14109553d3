#include "controlplane/api/http/query.h"

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validates %XX decoding and '+' as a space only where asked.
TEST(PercentDecodeTest, DecodesEscapesAndPlusWhereAsked) {
  EXPECT_EQ(*PercentDecode("a%2Fb+c", false, "the path"), "a/b+c");
  EXPECT_EQ(*PercentDecode("a%2fb+c", true, "the query"), "a/b c");
  EXPECT_EQ(*PercentDecode("%00%FF", false, "the path"), std::string("\0\xff", 2));
}

// Validates that a '%' without two hex digits is refused, naming it and where.
TEST(PercentDecodeTest, RefusesMalformedEscapesNamingThem) {
  for (const char* bad : {"%zz", "abc%2", "abc%", "%g0"}) {
    auto decoded = PercentDecode(bad, true, "the query");
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(decoded.status().message().find("malformed percent-encoding"), std::string::npos);
    EXPECT_NE(decoded.status().message().find("in the query"), std::string::npos);
  }
}

// Validates parameters in order, decoded, with has_equals, empty pieces skipped.
TEST(ParseQueryTest, ReturnsParametersInOrder) {
  auto params = ParseQuery("upstream=z&&add=&verbose&server=127.0.0.1%3A80");
  ASSERT_TRUE(params.ok()) << params.status();
  ASSERT_EQ(params->size(), 4u);
  EXPECT_EQ((*params)[0].name, "upstream");
  EXPECT_EQ((*params)[0].value, "z");
  EXPECT_TRUE((*params)[1].has_equals);
  EXPECT_EQ((*params)[2].name, "verbose");
  EXPECT_FALSE((*params)[2].has_equals);
  EXPECT_EQ((*params)[3].value, "127.0.0.1:80");
}

// Validates that a piece without a name is refused.
TEST(ParseQueryTest, RefusesAPieceWithoutAName) {
  auto params = ParseQuery("a=1&=5");
  ASSERT_FALSE(params.ok());
  EXPECT_EQ(params.status().message(), "query parameter \"=5\" has no name");
}

}  // namespace
}  // namespace nginx_xds
