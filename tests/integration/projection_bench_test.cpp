// The projection bench runs end to end on a small input: it applies every entry, writes by the
// consumer's flush rule, and coalesces — entries reported as they happen share cells, late ones
// hardly do. Nothing here is timed: the rates are only checked to be positive.
#include <gtest/gtest.h>

#include "projections/counters/projection_bench.h"

namespace ul {
namespace {

ProjectionBenchFigures run(std::uint32_t late_percent) {
    ProjectionBenchOptions options;
    options.entries = 20'000;
    options.batch = 1'000;
    options.tenants = 50;
    options.partitions = 4;
    options.late_percent = late_percent;
    options.flush.max_cells = 1'500;
    options.flush.interval = std::chrono::minutes(1);
    options.seed = 5;
    auto figures = run_projection_bench(options);
    EXPECT_TRUE(figures) << (figures ? "" : figures.error());
    return figures ? *figures : ProjectionBenchFigures{};
}

TEST(ProjectionBench, WritesByTheFlushRuleAndMergesCellsOfEventsReportedAsTheyHappen) {
    const auto current = run(0);
    EXPECT_EQ(current.entries, 20'000U);
    EXPECT_GT(current.average_entry_bytes, 150U);
    EXPECT_GT(current.entries_per_second, 0.0);
    EXPECT_GT(current.raw_writes_per_second, 0.0);
    // 50 tenants × 4 meters in the last minute: at most ~3 cells of each pair per write (the
    // minute may straddle an hour), plus breakdowns; the writes follow max_cells.
    EXPECT_GE(current.writes, 1U);
    EXPECT_LT(current.cells_written, 20'000U / 4);
    const auto late = run(100);
    EXPECT_GT(late.writes, current.writes);
    EXPECT_GT(late.cells_written, 10 * current.cells_written);
    EXPECT_NE(projection_bench_json(late).find("\"late_percent\":100"), std::string::npos);
}

}  // namespace
}  // namespace ul
