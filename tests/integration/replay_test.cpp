// `usage-ledger replay` against a live system: broker, ledger and project as separate processes
// consume a generated stream (late events, boundary times, UTC offsets, duplicates, conflicts,
// bad lines: tests/tools/gen_events.py). Then:
// - replay into a fresh directory with --verify against the live store: exit 0, and `export
//   counters` of the rebuilt store is byte-identical to the live one for hour, day and month;
// - a second replay of the same ledger gives byte-identical exports again;
// - one cell of the live store damaged through RocksDB: --verify names exactly that cell and
//   exits 1.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "projections/counters/cells.h"
#include "projections/runner/projection_store.h"
#include "tests/support/damaged_cell.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::TempDir;

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::uint64_t total_count(const std::string& exported) {
    std::uint64_t total = 0;
    for (auto at = exported.find("\"count\":"); at != std::string::npos;
         at = exported.find("\"count\":", at + 1)) {
        total += std::stoull(exported.substr(at + 8));
    }
    return total;
}

class ReplayTest : public ::testing::Test {
  protected:
    std::string export_counters(const std::string& data_dir, const std::string& window) {
        return ul::test::run_and_capture(
                   "export-" + window,
                   {UL_BINARY, "export", "counters", "--data-dir", data_dir, "--window", window},
                   dir_.path(), 60s)
            .value_or("export failed");
    }
    // replay --out `out` [--verify live]; its stdout, stderr and exit status.
    struct Run {
        std::optional<int> status;
        std::string out;
        std::string err;
    };
    Run replay(const std::string& out, bool verify) {
        std::vector<std::string> argv = {UL_BINARY, "replay", "--ledger-dir",
                                         data_dir_, "--out",  out};
        if (verify) {
            argv.insert(argv.end(), {"--verify", data_dir_});
        }
        ChildProcess process("replay", argv, dir_.path());
        Run run;
        run.status = process.wait(300s);
        run.out = process.stdout_text();
        run.err = process.stderr_text();
        return run;
    }

    TempDir dir_;
    std::string data_dir_ = (dir_.path() / "data").string();
};

TEST_F(ReplayTest, RebuildsByteIdenticalCountersAndNamesADamagedCell) {
    const std::string bootstrap_file = (dir_.path() / "bootstrap").string();
    ChildProcess broker("broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap_file},
                        dir_.path());
    ASSERT_TRUE(ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file); }, 30s));
    ChildProcess ledger("ledger",
                        {UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file, "--data-dir",
                         data_dir_, "--assign-all"},
                        dir_.path());
    auto project = std::make_unique<ChildProcess>(
        "project",
        std::vector<std::string>{UL_BINARY, "project", "--bootstrap-file", bootstrap_file,
                                 "--data-dir", data_dir_, "--assign-all", "--listen",
                                 "127.0.0.1:0"},
        dir_.path());
    const std::string events = (dir_.path() / "events.jsonl").string();
    const std::string generate =
        "python3 " UL_SOURCE_DIR
        "/tests/tools/gen_events.py --lines 4000 --invalid-percent 3 "
        "--duplicate-percent 5 --conflict-percent 2 --projection-mix --seed 11 --out " +
        events + " --expect " + events + ".expect --counters " + events + ".counters";
    ASSERT_EQ(std::system(generate.c_str()), 0);
    std::uint64_t expected = 0;
    {
        const std::string counters = ul::test::read_file(events + ".counters");
        for (auto at = counters.find("{\"window\":\"hour\""); at != std::string::npos;
             at = counters.find("{\"window\":\"hour\"", at + 1)) {
            const auto count = counters.find("\"count\":", at);
            expected += std::stoull(counters.substr(count + 8));
        }
    }
    ASSERT_GT(expected, 3000U);
    ChildProcess emit("emit",
                      {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file, "--file", events,
                       "--allow-invalid"},
                      dir_.path());
    ASSERT_EQ(emit.wait(120s), std::optional<int>(0)) << emit.stderr_text();
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return total_count(export_counters(data_dir_, "hour")) == expected; }, 180s))
        << total_count(export_counters(data_dir_, "hour")) << " of " << expected;

    // Beside the running processes: rebuilt and compared up to the live watermarks.
    const std::string first = (dir_.path() / "rebuilt-1").string();
    auto verified = replay(first, true);
    ASSERT_EQ(verified.status, std::optional<int>(0)) << verified.err;
    EXPECT_TRUE(has(verified.out, "\"differences\":0,")) << verified.out;
    EXPECT_TRUE(has(verified.out, "\"entries\":" + std::to_string(expected) + ",")) << verified.out;
    for (const std::string window : {"hour", "day", "month"}) {
        const std::string live = export_counters(data_dir_, window);
        EXPECT_GT(live.size(), 100U);
        EXPECT_EQ(export_counters(first, window), live) << window;
    }
    // The same ledger replayed again: the same bytes.
    const std::string second = (dir_.path() / "rebuilt-2").string();
    auto again = replay(second, false);
    ASSERT_EQ(again.status, std::optional<int>(0)) << again.err;
    for (const std::string window : {"hour", "day", "month"}) {
        EXPECT_EQ(export_counters(second, window), export_counters(first, window)) << window;
    }
    // A replay never writes into a store that has content.
    EXPECT_EQ(replay(first, false).status, std::optional<int>(1));

    // Damage one day cell of the live store (project stopped), through RocksDB.
    project->signal(SIGTERM);
    ASSERT_EQ(project->wait(60s), std::optional<int>(0)) << project->stderr_text();
    project.reset();
    auto key = ul::test::damage_day_cell(data_dir_ + "/projections");
    ASSERT_TRUE(key) << key.error();
    const auto decoded = ul::decode_counter_key(*key);
    ASSERT_TRUE(decoded);
    const std::string tenant(decoded->tenant_id);
    const std::string damaged =
        "tenant " + tenant + ", meter " + std::string(decoded->meter) + ", window day";
    auto caught = replay((dir_.path() / "rebuilt-3").string(), true);
    EXPECT_EQ(caught.status, std::optional<int>(1)) << caught.err;
    EXPECT_TRUE(has(caught.out, "\"differences\":1,")) << caught.out;
    EXPECT_TRUE(has(caught.out, damaged)) << caught.out << " should name " << damaged;
    EXPECT_TRUE(has(caught.err, "differs: " + damaged)) << caught.err;

    // reconcile names the same cell and, with --fix, repairs it in one write: verify agrees.
    auto reconcile = [&](bool fix) {
        std::vector<std::string> argv = {UL_BINARY, "reconcile", "--data-dir",
                                         data_dir_, "--tenant",  tenant};
        if (fix) {
            argv.emplace_back("--fix");
        }
        ChildProcess process("reconcile", argv, dir_.path());
        Run run;
        run.status = process.wait(300s);
        run.out = process.stdout_text();
        run.err = process.stderr_text();
        return run;
    };
    auto drift = reconcile(false);
    EXPECT_EQ(drift.status, std::optional<int>(1)) << drift.err;
    EXPECT_TRUE(has(drift.out, "\"differences\":1,")) << drift.out;
    EXPECT_TRUE(has(drift.out, damaged)) << drift.out;
    EXPECT_TRUE(has(drift.out, "\"repaired\":false")) << drift.out;
    auto fixed = reconcile(true);
    EXPECT_EQ(fixed.status, std::optional<int>(0)) << fixed.err;
    EXPECT_TRUE(has(fixed.out, "\"differences\":1,")) << fixed.out;
    EXPECT_TRUE(has(fixed.out, "\"repaired\":true")) << fixed.out;
    auto clean = reconcile(false);
    EXPECT_EQ(clean.status, std::optional<int>(0)) << clean.err;
    EXPECT_TRUE(has(clean.out, "\"differences\":0,")) << clean.out;
    auto after = replay((dir_.path() / "rebuilt-4").string(), true);
    EXPECT_EQ(after.status, std::optional<int>(0)) << after.err;
    EXPECT_TRUE(has(after.out, "\"differences\":0,")) << after.out;
}

}  // namespace
