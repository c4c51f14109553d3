// The injected log handler (controlplane/log).

#include "controlplane/log/log.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validate that Log hands level and message to the handler, unchanged.
TEST(LogTest, ReachesTheHandler) {
  std::vector<std::pair<LogLevel, std::string>> lines;
  LogHandler handler = [&](LogLevel level, const std::string& message) {
    lines.emplace_back(level, message);
  };
  Log(handler, LogLevel::kWarning, "fleet \"web\": something");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, LogLevel::kWarning);
  EXPECT_EQ(lines[0].second, "fleet \"web\": something");
}

// Validate that without a handler a line goes nowhere (and does not crash).
TEST(LogTest, NoHandlerIsSilent) { Log(LogHandler(), LogLevel::kError, "dropped"); }

}  // namespace
}  // namespace nginx_xds
