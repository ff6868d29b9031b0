// The counters projection against an independent reference: broker, ledger and projection run as
// separate processes; a generated stream (late events, boundary timestamps, UTC offsets, more
// than six fraction digits, non-canonical decimals, duplicates, conflicts, bad lines) is emitted;
// `export counters` for every window must equal, line for line, the cells computed by
// tests/tools/gen_events.py with Python's datetime and decimal. A second test kills the
// projection with SIGKILL at random moments (10 times) while it consumes and checks the same.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/kafka.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end - start));
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return lines;
}

// The expected lines of one window, in export form (the generator's lines minus "window").
std::vector<std::string> expected_cells(const std::string& counters_file,
                                        const std::string& window) {
    std::vector<std::string> out;
    const std::string prefix = "{\"window\":\"" + window + "\",";
    for (const auto& line : lines_of(ul::test::read_file(counters_file))) {
        if (line.rfind(prefix, 0) == 0) {
            out.push_back("{" + line.substr(prefix.size()));
        }
    }
    return out;
}

std::uint64_t total_count(const std::vector<std::string>& lines) {
    std::uint64_t total = 0;
    for (const auto& line : lines) {
        const auto at = line.rfind("\"count\":");
        if (at != std::string::npos) {
            total += std::stoull(line.substr(at + 8));
        }
    }
    return total;
}

class ProjectionSystem {
  public:
    explicit ProjectionSystem(const std::filesystem::path& dir)
        : dir_(dir),
          bootstrap_file_((dir / "bootstrap").string()),
          data_dir_((dir / "data").string()),
          broker_("broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap_file_}, dir) {
        EXPECT_TRUE(
            ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file_); }, 30s));
        ledger_ = std::make_unique<ChildProcess>(
            "ledger",
            std::vector<std::string>{UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file_,
                                     "--data-dir", data_dir_, "--assign-all"},
            dir);
    }
    std::vector<std::string> project_argv() const {
        return {UL_BINARY,      "project",    "--bootstrap-file", bootstrap_file_,
                "--data-dir",   data_dir_,    "--assign-all",     "--batch-size",
                "200",          "--listen",   "127.0.0.1:0"};
    }
    std::vector<std::string> export_counters(const std::string& window) const {
        auto out = ul::test::run_and_capture(
            "export-" + window,
            {UL_BINARY, "export", "counters", "--data-dir", data_dir_, "--window", window}, dir_,
            60s);
        return out ? lines_of(*out) : std::vector<std::string>{};
    }
    void emit(const std::string& file) {
        ChildProcess emit(
            "emit",
            {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file_, "--file", file,
             "--allow-invalid"},
            dir_);
        EXPECT_EQ(emit.wait(120s), std::optional<int>(0)) << emit.stderr_text();
    }
    const std::string& bootstrap_file() const { return bootstrap_file_; }

  private:
    std::filesystem::path dir_;
    std::string bootstrap_file_;
    std::string data_dir_;
    ChildProcess broker_;
    std::unique_ptr<ChildProcess> ledger_;
};

std::string generate(const std::filesystem::path& dir, int lines, int seed) {
    // --keys: the Kafka key of each line (its tenant; empty for a bad line).
    const std::string events = (dir / "events.jsonl").string();
    const std::string command =
        "python3 " UL_SOURCE_DIR "/tests/tools/gen_events.py --lines " + std::to_string(lines) +
        " --invalid-percent 3 --duplicate-percent 5 --conflict-percent 2 --projection-mix "
        "--seed " +
        std::to_string(seed) + " --out " + events + " --expect " + events + ".expect --counters " +
        events + ".counters --keys " + events + ".keys";
    EXPECT_EQ(std::system(command.c_str()), 0);
    return events;
}

void expect_counters_equal(const ProjectionSystem& system, const std::string& counters_file) {
    const auto expected_hours = expected_cells(counters_file, "hour");
    const std::uint64_t accepted = total_count(expected_hours);
    ASSERT_GT(accepted, 0U);
    std::vector<std::string> hours;
    EXPECT_TRUE(ul::test::wait_until(
        [&] {
            hours = system.export_counters("hour");
            return total_count(hours) >= accepted;
        },
        300s))
        << "applied " << total_count(hours) << " of " << accepted;
    for (const std::string window : {"hour", "day", "month"}) {
        const auto expected = expected_cells(counters_file, window);
        const auto got = system.export_counters(window);
        std::printf("%s: %zu cells exported, %zu expected, %llu events\n", window.c_str(),
                    got.size(), expected.size(), static_cast<unsigned long long>(total_count(got)));
        EXPECT_EQ(got.size(), expected.size()) << window;
        for (std::size_t index = 0; index < std::min(got.size(), expected.size()); ++index) {
            ASSERT_EQ(got[index], expected[index]) << window << " cell " << index;
        }
    }
}

TEST(ProjectionCounters, EqualAnIndependentComputationForEveryWindow) {
    TempDir dir;
    const std::string events = generate(dir.path(), 3000, 21);
    ProjectionSystem system(dir.path());
    ChildProcess project("project", system.project_argv(), dir.path());
    system.emit(events);
    expect_counters_equal(system, events + ".counters");
    project.signal(SIGTERM);
    EXPECT_EQ(project.wait(60s), std::optional<int>(0)) << project.stderr_text();
}

TEST(ProjectionCounters, KilledTenTimesWhileConsumingEveryCounterIsExact) {
    TempDir dir;
    const std::string events = generate(dir.path(), 20000, 22);
    ProjectionSystem system(dir.path());
    // Events arrive throughout (~1,000 a second, raw, bad lines too) so that every life of the
    // projection is killed while it applies entries.
    const auto lines = lines_of(ul::test::read_file(events));
    const auto keys = lines_of(ul::test::read_file(events + ".keys"));
    ASSERT_EQ(lines.size(), keys.size());
    std::atomic<bool> produced{false};
    std::thread feeder([&] {
        std::string bootstrap = ul::test::read_file(system.bootstrap_file());
        bootstrap.erase(bootstrap.find_last_not_of("\n ") + 1);
        ul::test::RawProducer producer(bootstrap);
        for (std::size_t index = 0; index < lines.size(); ++index) {
            producer.produce("usage.events", keys[index], lines[index]);
            if (index % 10 == 9) {
                std::this_thread::sleep_for(10ms);
            }
        }
        EXPECT_TRUE(producer.flush(60000));
        produced.store(true);
    });
    const auto seed = static_cast<std::uint64_t>(std::random_device{}());
    std::printf("ProjectionCounters seed %llu\n", static_cast<unsigned long long>(seed));
    std::mt19937_64 random(seed);
    const std::uint64_t accepted = total_count(expected_cells(events + ".counters", "hour"));
    for (int kill = 0; kill < 10; ++kill) {
        ChildProcess project("project-" + std::to_string(kill), system.project_argv(), dir.path());
        const auto lifetime = std::chrono::milliseconds(400 + random() % 1200);
        EXPECT_FALSE(project.wait(lifetime).has_value()) << project.stderr_text();
        project.signal(SIGKILL);
        ASSERT_TRUE(project.wait(10s).has_value());
        std::printf("kill %2d after %4lld ms: %llu of %llu entries in the hour cells\n", kill + 1,
                    static_cast<long long>(lifetime.count()),
                    static_cast<unsigned long long>(total_count(system.export_counters("hour"))),
                    static_cast<unsigned long long>(accepted));
    }
    feeder.join();
    EXPECT_TRUE(produced.load());
    ChildProcess project("project-final", system.project_argv(), dir.path());
    expect_counters_equal(system, events + ".counters");
    project.signal(SIGTERM);
    EXPECT_EQ(project.wait(60s), std::optional<int>(0)) << project.stderr_text();
}

}  // namespace
