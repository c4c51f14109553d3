#include "cli/render.h"

#include "gtest/gtest.h"

namespace nginx_xds::cli {
namespace {

// Validates that columns are aligned to the widest cell, two spaces apart.
TEST(TableTest, AlignsColumnsToTheWidestCell) {
  Table table({"NAME", "N"});
  table.Add({"a", "100"});
  table.Add({"longer", "2"});
  EXPECT_EQ(table.Render(), "NAME    N\na       100\nlonger  2\n");
}

// Validates that a write's rejections are listed, one line per node.
TEST(WriteTextTest, ListsEveryRejection) {
  nginx_xds::v1::WriteResponse write;
  write.set_version(7);
  write.set_acked_nodes(1);
  write.set_connected_nodes(2);
  auto* rejection = write.add_rejections();
  rejection->set_node("web-2");
  rejection->set_version(7);
  rejection->set_message("zone full");
  EXPECT_EQ(WriteText(write),
            "version 7: acked by 1 of 2 connected nodes\n"
            "node web-2 rejected version 7: zone full\n");
}

// Validates that fleet status counts connected nodes at the fleet's version
// and marks the ones behind.
TEST(FleetStatusTextTest, CountsAckedNodesAndMarksTheOnesBehind) {
  nginx_xds::v1::FleetStatus status;
  (*status.mutable_fleet_versions())["edge"] = 5;
  auto* current = status.add_nodes();
  current->set_id("a");
  current->set_fleet("edge");
  current->set_connected(true);
  current->set_acked_version(5);
  auto* behind = status.add_nodes();
  behind->set_id("b");
  behind->set_fleet("edge");
  behind->set_connected(true);
  behind->set_acked_version(4);
  behind->mutable_last_nack()->set_version(5);
  behind->mutable_last_nack()->set_message("bad");
  const std::string text = FleetStatusText(status);
  EXPECT_NE(text.find("edge   5        2      2          1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("b     edge   yes        4      yes     -        v5: bad\n"),
            std::string::npos)
      << text;
}

// Validates that a halted rollout says which node halted it and why.
TEST(RolloutTextTest, NamesTheHalt) {
  nginx_xds::v1::Rollout rollout;
  rollout.set_fleet("edge");
  rollout.set_state(nginx_xds::v1::ROLLOUT_STATE_HALTED);
  rollout.mutable_halt()->set_node("web-1");
  rollout.mutable_halt()->set_version(9);
  rollout.mutable_halt()->set_message("no servers");
  const std::string text = RolloutText(rollout);
  EXPECT_NE(text.find("rollout of fleet edge: HALTED"), std::string::npos) << text;
  EXPECT_NE(text.find("halted: node web-1 rejected v9: no servers"), std::string::npos) << text;
}

// Validates JSON in protobuf's mapping, one line, defaults included.
TEST(JsonTest, UsesProtoFieldNamesOnOneLine) {
  nginx_xds::v1::WriteResponse write;
  write.set_version(3);
  EXPECT_EQ(Json(write),
            "{\"version\":\"3\",\"acked_nodes\":0,\"connected_nodes\":0,\"rejections\":[],"
            "\"canary\":false}\n");
}

}  // namespace
}  // namespace nginx_xds::cli
