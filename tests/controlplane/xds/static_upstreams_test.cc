// A node's nginx.conf upstreams as its agent sends them in Node.metadata
// (controlplane/xds/static_upstreams).

#include "controlplane/xds/static_upstreams.h"

#include "common/xds_mapping.h"
#include "envoy/config/core/v3/base.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

envoy::config::core::v3::Node NodeWithMetadata(const std::string& json) {
  envoy::config::core::v3::Node node;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, node.mutable_metadata()).ok())
      << json;
  return node;
}

// Validate that a node without the metadata has no static upstreams.
TEST(StaticUpstreamsTest, NoneWithoutMetadata) {
  auto none = StaticUpstreams(envoy::config::core::v3::Node());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto other = StaticUpstreams(NodeWithMetadata(R"({"other": {"x": 1}})"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

// Validate that each list entry becomes an Upstream, as written.
TEST(StaticUpstreamsTest, ReadsEachUpstream) {
  auto upstreams = StaticUpstreams(NodeWithMetadata(std::string(R"({")") + kNginxMetadataKey +
                                                    R"(": {"static_upstreams": [
      {"name": "app", "zone": "z", "servers": [{"address": "127.0.0.1:80"}]},
      {"name": "api", "servers": [{"address": "10.0.0.1:8080", "weight": 2}]}]}})"));
  ASSERT_TRUE(upstreams.ok()) << upstreams.status();
  ASSERT_EQ(upstreams->size(), 2u);
  EXPECT_EQ((*upstreams)[0].zone(), "z");
  EXPECT_EQ((*upstreams)[1].servers(0).weight(), 2u);
}

// Validate that an entry that is not an upstream is INVALID_ARGUMENT quoting it.
TEST(StaticUpstreamsTest, RefusesWhatIsNotAnUpstream) {
  auto bad = StaticUpstreams(NodeWithMetadata(std::string(R"({")") + kNginxMetadataKey +
                                              R"(": {"static_upstreams": [{"nom": "x"}]}})"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("nom"), absl::string_view::npos);
}

}  // namespace
}  // namespace nginx_xds
