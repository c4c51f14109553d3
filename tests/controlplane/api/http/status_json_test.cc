// The HTTP gateway's JSON bodies (api/http/status_json): one escaper, and the
// documented shape of the fleet status and rollouts.

#include "controlplane/api/http/status_json.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using ::testing::HasSubstr;

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Validate that quotes, backslashes, control bytes and DEL are escaped and
// that UTF-8 passes through unchanged.
TEST(JsonStringTest, EscapesWhatJsonForbidsAndDel) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString(std::string("\x00\n\x1f\x7f", 4)), "\"\\u0000\\u000a\\u001f\\u007f\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

// Validate that a rollout renders with numbers as numbers, the short state
// name, null for no halt, and names escaped through JsonString.
TEST(RolloutJsonTest, ShapeOfAnOpenRollout) {
  const auto rollout = Parse<nginx_xds::v1::Rollout>(R"pb(
    fleet: "web\x7f"
    state: ROLLOUT_STATE_CANARY
    stable_version: 3
    canary_version: 4
    canary_node_ids: "n1"
    canary_labels { key: "zone" value: "a" }
    auto_promote: true
    canary_acked: 1
    canary_connected: 1
    canary_nodes { id: "n1" connected: true acked_version: 4 }
    started { seconds: 0 }
    updated { seconds: 60 }
  )pb");
  EXPECT_EQ(RolloutJson(rollout),
            "{\"fleet\":\"web\\u007f\",\"state\":\"CANARY\",\"stable_version\":3,"
            "\"canary_version\":4,\"canary_node_ids\":[\"n1\"],\"canary_labels\":{\"zone\":\"a\"},"
            "\"auto_promote\":true,\"canary_acked\":1,\"canary_connected\":1,"
            "\"canary_nodes\":[{\"id\":\"n1\",\"connected\":true,\"acked_version\":4,"
            "\"last_nack\":null}],\"halt\":null,\"started\":\"1970-01-01T00:00:00Z\","
            "\"updated\":\"1970-01-01T00:01:00Z\"}");
}

// Validate that a halted rollout names the rejecting node and its message.
TEST(RolloutJsonTest, HaltNamesTheNack) {
  const auto rollout = Parse<nginx_xds::v1::Rollout>(R"pb(
    fleet: "web"
    state: ROLLOUT_STATE_HALTED
    halt { node: "n1" version: 5 message: "bad \"server\"" }
  )pb");
  EXPECT_THAT(RolloutJson(rollout), HasSubstr("\"halt\":{\"node\":\"n1\",\"version\":5,"
                                              "\"message\":\"bad \\\"server\\\"\",\"time\":"));
}

// Validate the fleet status shape: fleets as a list ordered by name with
// numeric versions, nodes with last_nack null or an object, and rollouts.
TEST(FleetStatusJsonTest, FleetsByNameNodesAndRollouts) {
  const auto status = Parse<nginx_xds::v1::FleetStatus>(R"pb(
    fleet_versions { key: "web" value: 7 }
    fleet_versions { key: "api" value: 0 }
    nodes { id: "n1" fleet: "web" connected: true acked_version: 7 user_agent: "nginx" }
    nodes {
      id: "n2"
      fleet: "web"
      acked_version: 6
      last_nack { version: 7 message: "no" }
      rejected_upstreams { name: "u" message: "bad" version: 7 since_version: 7 }
    }
    rollouts { fleet: "web" state: ROLLOUT_STATE_PROMOTED }
  )pb");
  const std::string json = FleetStatusJson(status);
  EXPECT_THAT(
      json, ::testing::StartsWith("{\"fleets\":[{\"name\":\"api\",\"version\":0},"
                                  "{\"name\":\"web\",\"version\":7}],\"nodes\":[{\"id\":\"n1\","));
  EXPECT_THAT(json, HasSubstr("\"acked_version\":7,\"lagging_at_version\":0,\"streams\":0,"
                              "\"user_agent\":\"nginx\""));
  EXPECT_THAT(json, HasSubstr("\"last_nack\":null,\"rejected_upstreams\":[]}"));
  EXPECT_THAT(json, HasSubstr("\"last_nack\":{\"version\":7,\"message\":\"no\""));
  EXPECT_THAT(json, HasSubstr("\"rejected_upstreams\":[{\"name\":\"u\",\"message\":\"bad\","
                              "\"version\":7,\"since_version\":7,"));
  EXPECT_THAT(json, HasSubstr("\"rollouts\":[{\"fleet\":\"web\",\"state\":\"PROMOTED\""));
  EXPECT_THAT(json, ::testing::EndsWith("}]}"));
}

}  // namespace
}  // namespace nginx_xds
