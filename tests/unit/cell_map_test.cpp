// CellMap (the projection's in-memory deltas) against std::map as the reference: merges,
// growth, key order, clear and reuse, overflow.
#include "projections/counters/cell_map.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>
#include <string>

#include "projections/counters/cell_deltas.h"

namespace ul {
namespace {

Cell unit(std::int64_t micros, std::int64_t time_us) {
    return cell_of(Decimal::from_micros(micros), time_us);
}

TEST(CellMap, MergesEqualKeysAndKeepsDistinctOnesApart) {
    CellMap map;
    bool inserted = false;
    ASSERT_TRUE(map.add("a", unit(5, 100), &inserted));
    EXPECT_TRUE(inserted);
    ASSERT_TRUE(map.add("a", unit(7, 50), &inserted));
    EXPECT_FALSE(inserted);
    ASSERT_TRUE(map.add(std::string("a\0b", 3), unit(1, 1)));
    ASSERT_EQ(map.size(), 2U);
    const Cell* a = map.find("a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->sum.micros(), 12);
    EXPECT_EQ(a->count, 2U);
    EXPECT_EQ(a->max.micros(), 7);
    EXPECT_EQ(a->first_us, 50);
    EXPECT_EQ(a->last_us, 100);
    EXPECT_EQ(map.find(std::string("a\0b", 3))->count, 1U);
    EXPECT_EQ(map.find("b"), nullptr);
    EXPECT_EQ(map.find(std::string("a\0", 2)), nullptr);
}

TEST(CellMap, EqualsAReferenceMapThroughGrowthAndReuse) {
    const auto seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 random(seed);
    CellMap map;
    for (int round = 0; round < 3; ++round) {
        std::map<std::string, Cell> reference;
        for (int index = 0; index < 200'000; ++index) {
            // Keys of many lengths and shared prefixes, some hit often, most rarely.
            const std::uint64_t id = random() % (index % 3 == 0 ? 50 : 100'000);
            std::string key = "tenant-" + std::to_string(id % 977) + std::string(1, '\0') +
                              std::to_string(id) + std::string(id % 7, 'x');
            const Cell cell = unit(static_cast<std::int64_t>(random() % 1'000'000),
                                   static_cast<std::int64_t>(random() % 1'000'000));
            ASSERT_TRUE(map.add(key, cell));
            auto [slot, fresh] = reference.try_emplace(key, cell);
            if (!fresh) {
                ASSERT_TRUE(merge_cell(slot->second, cell));
            }
        }
        ASSERT_EQ(map.size(), reference.size());
        const auto sorted = map.sorted();
        ASSERT_EQ(sorted.size(), reference.size());
        auto expected = reference.begin();
        for (const auto& [key, cell] : sorted) {
            ASSERT_EQ(key, expected->first);
            ASSERT_EQ(*cell, expected->second);
            ASSERT_EQ(map.find(key), cell);
            ++expected;
        }
        std::size_t visited = 0;
        map.for_each([&](std::string_view key, const Cell& cell) {
            ++visited;
            EXPECT_EQ(cell, reference.at(std::string(key)));
        });
        EXPECT_EQ(visited, reference.size());
        map.clear();
        EXPECT_TRUE(map.empty());
        EXPECT_EQ(map.key_bytes(), 0U);
        EXPECT_EQ(map.find(reference.begin()->first), nullptr);
    }
}

TEST(CellMap, AMovedFromMapIsEmptyAndUsable) {
    CellMap from;
    ASSERT_TRUE(from.add("a", unit(1, 1)));
    CellMap to(std::move(from));
    EXPECT_EQ(to.find("a")->count, 1U);
    EXPECT_TRUE(from.empty());  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_EQ(from.find("a"), nullptr);
    ASSERT_TRUE(from.add("b", unit(2, 2)));
    EXPECT_EQ(from.find("b")->count, 1U);
    CellMap other;
    other = std::move(to);
    EXPECT_EQ(other.find("a")->count, 1U);
    EXPECT_EQ(to.sorted().size(), 0U);  // NOLINT(bugprone-use-after-move)
    to.clear();                         // NOLINT(bugprone-use-after-move)
}

TEST(CellMap, AnOverflowingMergeFailsAndLeavesTheCellUnchanged) {
    CellMap map;
    Cell huge = unit(1, 10);
    huge.count = std::numeric_limits<std::uint64_t>::max();
    ASSERT_TRUE(map.add("k", huge));
    EXPECT_FALSE(map.add("k", unit(1, 20)));
    EXPECT_EQ(*map.find("k"), huge);
}

TEST(CellDeltas, AnEventTouchesItsHourDayAndMonthCellsAndItsTenantsMeters) {
    CellDeltas deltas;
    UsageEvent event;
    event.tenant_id = "acme";
    event.meter = "tokens";
    event.quantity = Decimal::from_micros(1'500'000'000);
    event.timestamp_us = 1'764'000'000'000'000;  // 2025-11-24T16:00:00Z
    const BillingCalendar utc{};
    ASSERT_TRUE(deltas.add_event(event, utc, {}));
    ASSERT_TRUE(deltas.add_event(event, utc, {}));
    event.meter = "api_calls";
    ASSERT_TRUE(deltas.add_event(event, utc, {}));
    EXPECT_EQ(deltas.counters().size(), 6U);
    EXPECT_TRUE(deltas.breakdowns().empty());
    std::string month;
    append_counter_key(CounterKey{"acme", "tokens", WindowKind::month,
                                  period_of(WindowKind::month, utc, event.timestamp_us).start_us},
                       month);
    ASSERT_NE(deltas.counters().find(month), nullptr);
    EXPECT_EQ(deltas.counters().find(month)->count, 2U);
    EXPECT_EQ(deltas.meters().at("acme"), (std::set<std::string>{"api_calls", "tokens"}));
    deltas.clear();
    EXPECT_TRUE(deltas.empty());
    EXPECT_TRUE(deltas.meters().empty());
}

}  // namespace
}  // namespace ul
