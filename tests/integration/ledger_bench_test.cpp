// The ledger bench runs end to end on a small input and reports consistent figures. Nothing
// here is timed: the rates are only checked to be positive.
#include <gtest/gtest.h>

#include <filesystem>

#include "ledger/ledger_bench.h"
#include "ledger/ledger_store.h"
#include "tests/support/process.h"

namespace ul {
namespace {

TEST(LedgerBench, AppliesEveryEventAndReportsBothRates) {
    test::TempDir dir;
    LedgerBenchOptions options;
    options.events = 3000;
    options.batch = 400;
    options.partitions = 4;
    options.tenants = 20;
    options.seed = 11;
    options.sync = false;
    options.directory = dir.path().string();
    options.keep_store = true;
    auto figures = run_ledger_bench(options);
    ASSERT_TRUE(figures) << figures.error();
    EXPECT_EQ(figures->events, 3000U);
    EXPECT_EQ(figures->accepted + figures->duplicate, 3000U);
    EXPECT_GT(figures->duplicate, 0U);
    EXPECT_GT(figures->average_event_bytes, 150U);
    EXPECT_GT(figures->ledger_events_per_second, 0.0);
    EXPECT_GT(figures->raw_writes_per_second, 0.0);
    EXPECT_GT(figures->raw_reads_per_second, 0.0);
    EXPECT_NE(ledger_bench_json(*figures).find("\"seed\":11"), std::string::npos);

    // The store it leaves behind is a valid ledger.
    LedgerStoreOptions store_options;
    store_options.path = figures->ledger_path;
    auto store = LedgerStore::open(store_options, OpenMode::secondary);
    ASSERT_TRUE(store) << store.error();
    const auto report = (*store)->verify();
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.entries, figures->accepted);
}

}  // namespace
}  // namespace ul
