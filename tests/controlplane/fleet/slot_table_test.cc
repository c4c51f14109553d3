#include "controlplane/fleet/slot_table.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// dyups' rule written out on a plain vector, as the write path had it: the
// oracle the O(log n) table must agree with.
uint64_t ReferenceTake(std::vector<std::string>* slots, const std::string& key, bool moves) {
  const auto own = std::find(slots->begin(), slots->end(), key);
  const size_t own_slot = static_cast<size_t>(own - slots->begin());
  if (own != slots->end() && !moves) return own_slot;
  if (std::find(slots->begin(), slots->end(), "") == slots->end()) slots->emplace_back();
  if (own_slot < slots->size()) (*slots)[own_slot].clear();
  size_t slot = slots->size() - 1;
  while (!(*slots)[slot].empty()) --slot;
  (*slots)[slot] = key;
  return slot;
}

TEST(SlotTableTest, NewUpstreamsTakeTheLastFreeSlotAsDyupsDoes) {
  SlotTable table;
  EXPECT_EQ(table.Take("a", false), 0u);
  EXPECT_EQ(table.Take("b", false), 1u);
  EXPECT_EQ(table.Take("c", false), 2u);
  table.Free("a");
  table.Free("b");
  // find_upstream keeps the last free slot it passed: 1, not 0
  EXPECT_EQ(table.Take("d", false), 1u);
  EXPECT_EQ(table.Take("d", false), 1u) << "an existing upstream keeps its slot";
  // a POST moves it: its sandbox took slot 0 and freed it, then the last free one
  EXPECT_EQ(table.Take("c", true), 2u);
  EXPECT_EQ(table.keys(), (std::vector<std::string>{"", "d", "c"}));
}

TEST(SlotTableTest, AgreesWithDyupsRuleOverRandomWrites) {
  std::mt19937 random(7);
  SlotTable table;
  std::vector<std::string> reference;
  for (int i = 0; i < 20000; ++i) {
    const std::string key = absl::StrCat("u", random() % 50);
    switch (random() % 3) {
      case 0:
        table.Free(key);
        std::replace(reference.begin(), reference.end(), key, std::string());
        break;
      default: {
        const bool moves = random() % 2 == 0;
        ASSERT_EQ(table.Take(key, moves), ReferenceTake(&reference, key, moves)) << "write " << i;
      }
    }
    ASSERT_EQ(table.keys(), reference) << "write " << i;
  }
}

TEST(SlotTableTest, RollbackUndoesEverySinceBegin) {
  std::mt19937 random(11);
  SlotTable table;
  for (int i = 0; i < 30; ++i) table.Take(absl::StrCat("u", i), false);
  table.Free("u3");
  table.Free("u17");
  for (int round = 0; round < 200; ++round) {
    const std::vector<std::string> before = table.keys();
    table.Begin();
    for (int i = 0; i < 8; ++i) {
      const std::string key = absl::StrCat("u", random() % 40);
      if (random() % 3 == 0) {
        table.Free(key);
      } else {
        table.Take(key, random() % 2 == 0);
      }
    }
    if (random() % 2 == 0) {
      table.Rollback();
      ASSERT_EQ(table.keys(), before) << "round " << round;
      // and it still behaves as a table with those keys
      std::vector<std::string> reference = before;
      ASSERT_EQ(table.Take("u5", true), ReferenceTake(&reference, "u5", true));
      ASSERT_EQ(table.keys(), reference);
    } else {
      table.Commit();
    }
  }
}

TEST(SlotTableTest, SetLoadsAStoresSlots) {
  SlotTable table;
  table.Reserve(4);
  table.Set(2, "b");
  table.Set(0, "a");
  EXPECT_EQ(table.keys(), (std::vector<std::string>{"a", "", "b", ""}));
  EXPECT_EQ(table.Take("c", false), 3u);
  EXPECT_EQ(table.Take("d", false), 1u);
  EXPECT_EQ(table.Take("e", false), 4u);
}

}  // namespace
}  // namespace nginx_xds
