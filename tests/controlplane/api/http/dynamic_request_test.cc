// ngx_dynamic_upstream's parameters as the original read them
// (controlplane/api/http/dynamic_request), without HTTP.

#include "controlplane/api/http/dynamic_request.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

QueryParam P(const std::string& name, const std::string& value, bool has_equals = true) {
  return QueryParam{name, value, has_equals};
}

// Validate that names match case-insensitively, numbers and flags are read,
// and a flag's value is ignored but noted.
TEST(ParseDynamicTest, ReadsParametersAndFlags) {
  auto request = ParseDynamic({P("Upstream", "zone"), P("server", "127.0.0.1:80"), P("WEIGHT", "3"),
                               P("fail_timeout", "07"), P("down", "yes")});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->has_zone);
  EXPECT_EQ(request->zone, "zone");
  EXPECT_EQ(request->server, "127.0.0.1:80");
  EXPECT_EQ(request->weight, 3u);
  EXPECT_EQ(request->fail_timeout, 7u);
  EXPECT_TRUE(request->down);
  EXPECT_TRUE(request->Changes());
  EXPECT_THAT(request->ignored, ElementsAre("down=yes (a flag's value)"));
}

// Validate that the first of a repeated name wins, and that unknown names
// and pieces without "=" are ignored and noted, not refused.
TEST(ParseDynamicTest, FirstWinsUnknownIgnored) {
  auto request = ParseDynamic(
      {P("upstream", "a"), P("upstream", "b"), P("foo", "1"), P("verbose", "", false)});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->zone, "a");
  EXPECT_FALSE(request->verbose);
  EXPECT_THAT(request->ignored, ElementsAre("upstream=b (repeated; the first one counts)",
                                            "foo=1 (unknown parameter)", "verbose (no \"=\")"));
}

// Validate the refusals: numbers of decimal digits only and within 32 bits,
// add with remove, up with down.
TEST(ParseDynamicTest, Refusals) {
  for (const char* bad : {"", "-1", "1.5", "0x1", " 1"}) {
    auto request = ParseDynamic({P("weight", bad)});
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(request.status().message(), HasSubstr("takes decimal digits only")) << bad;
  }
  EXPECT_THAT(ParseDynamic({P("max_fails", "4294967296")}).status().message(),
              HasSubstr("is too large"));
  EXPECT_EQ(ParseDynamic({P("max_fails", "4294967295")})->max_fails, 4294967295u);
  EXPECT_THAT(ParseDynamic({P("add", ""), P("remove", "")}).status().message(),
              HasSubstr("add and remove"));
  EXPECT_THAT(ParseDynamic({P("up", ""), P("down", "")}).status().message(),
              HasSubstr("up and down"));
}

// Validate DropUnused: remove takes the server alone; a server without a
// change, and backup without add, change nothing and are noted.
TEST(DropUnusedTest, NotesWhatTheOperationDoesNotUse) {
  auto remove = ParseDynamic({P("remove", ""), P("server", "s"), P("weight", "2")});
  ASSERT_TRUE(remove.ok());
  DropUnused(&*remove);
  EXPECT_THAT(remove->ignored, ElementsAre("weight=2 (not used by remove)"));
  auto list = ParseDynamic({P("server", "s"), P("backup", "")});
  ASSERT_TRUE(list.ok());
  DropUnused(&*list);
  EXPECT_THAT(list->ignored,
              ElementsAre("server=s (no change asked)", "backup= (used by add only)"));
}

}  // namespace
}  // namespace nginx_xds
