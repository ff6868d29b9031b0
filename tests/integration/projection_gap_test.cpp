// A gap in usage.ledger is never skipped by the projection: with the projection stopped, the
// ledger publishes more entries into one partition than the embedded broker keeps (~5 MiB);
// the projection then finds its position below the log start, reads on, sees the jump in
// ledger sequences and stops that partition (its counts stay those before the gap, /readyz
// answers 503 naming it, the log says GAP). Restarted with --heal-from-ledger it reads the
// missing entries from the ledger store and every count is exact.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/kafka.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;

std::uint64_t exported_count(const std::string& data_dir, const std::filesystem::path& logs) {
    auto out = ul::test::run_and_capture(
        "export", {UL_BINARY, "export", "counters", "--data-dir", data_dir, "--window", "day"},
        logs, 60s);
    std::uint64_t total = 0;
    if (!out) {
        return 0;
    }
    for (std::size_t at = out->find("\"count\":"); at != std::string::npos;
         at = out->find("\"count\":", at + 1)) {
        total += std::stoull(out->substr(at + 8));
    }
    return total;
}

// The address `project` logged ("query API on http://ADDRESS").
std::string bound_address(const ChildProcess& project) {
    const std::string address = ul::test::logged_api_address(project, 60s);
    EXPECT_FALSE(address.empty()) << project.stderr_text();
    return address;
}

TEST(ProjectionGap, ATruncatedLedgerTopicStopsThePartitionAndHealingMakesItExact) {
    ul::test::TempDir dir;
    const std::string bootstrap_file = (dir.path() / "bootstrap").string();
    const std::string data_dir = (dir.path() / "data").string();
    ChildProcess broker("broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap_file},
                        dir.path());
    ASSERT_TRUE(ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file); }, 30s));
    std::string bootstrap = ul::test::read_file(bootstrap_file);
    bootstrap.erase(bootstrap.find_last_not_of("\n ") + 1);
    ChildProcess ledger("ledger",
                        {UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file, "--data-dir",
                         data_dir, "--assign-all"},
                        dir.path());
    const std::vector<std::string> project_argv = {UL_BINARY,      "project",    "--bootstrap-file",
                                                   bootstrap_file, "--data-dir", data_dir,
                                                   "--assign-all", "--listen",   "127.0.0.1:0"};

    // 10 events applied by a running projection, then stop it.
    ul::test::RawProducer producer(bootstrap);
    const std::string padding(300, 'x');
    auto send = [&](int first, int count) {
        for (int index = first; index < first + count; ++index) {
            producer.produce("usage.events", "acme",
                             R"({"idempotency_key":"gap-)" + std::to_string(index) +
                                 R"(","tenant_id":"acme","meter":"tokens","quantity":1,)"
                                 R"("timestamp":"2026-11-24T00:00:00Z","properties":{"pad":")" +
                                 padding + "\"}}");
        }
        ASSERT_TRUE(producer.flush(120000));
    };
    {
        ChildProcess project("project-1", project_argv, dir.path());
        send(0, 10);
        ASSERT_TRUE(
            ul::test::wait_until([&] { return exported_count(data_dir, dir.path()) == 10; }, 120s));
        project.signal(SIGTERM);
        ASSERT_EQ(project.wait(60s), std::optional<int>(0)) << project.stderr_text();
    }
    // 20,000 more for the same tenant (one partition), ~700 B each in usage.ledger: more than
    // the ~5 MiB the embedded broker keeps per partition.
    send(10, 20000);
    std::string stats;
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            stats = ul::test::run_and_capture("stats", {UL_BINARY, "stats", "--data-dir", data_dir},
                                              dir.path(), 60s)
                        .value_or("");
            return stats.find("\"accepted\":20010,") != std::string::npos &&
                   stats.find("\"outbox_next\":20010") != std::string::npos;
        },
        300s))
        << stats;

    {
        ChildProcess project("project-2", project_argv, dir.path());
        const std::string address = bound_address(project);
        ASSERT_TRUE(ul::test::wait_until(
            [&] { return project.stderr_text().find("GAP in usage.ledger") != std::string::npos; },
            120s))
            << project.stderr_text();
        // Stopped at the gap: nothing after it is applied, nothing skipped.
        EXPECT_EQ(exported_count(data_dir, dir.path()), 10U);
        const auto ready = ul::test::http_get(address, "/readyz");
        EXPECT_EQ(ready.status, 503) << ready.body;
        EXPECT_NE(ready.body.find("stopped at a gap"), std::string::npos) << ready.body;
        const auto metrics = ul::test::http_get(address, "/metrics");
        EXPECT_NE(metrics.body.find("projection_stalled_partitions 1\n"), std::string::npos)
            << metrics.body;
        project.signal(SIGTERM);
        ASSERT_EQ(project.wait(60s), std::optional<int>(0)) << project.stderr_text();
    }
    {
        std::vector<std::string> heal_argv = project_argv;
        heal_argv.emplace_back("--heal-from-ledger");
        ChildProcess project("project-3", heal_argv, dir.path());
        EXPECT_TRUE(ul::test::wait_until(
            [&] { return exported_count(data_dir, dir.path()) == 20010; }, 120s))
            << exported_count(data_dir, dir.path()) << "\n"
            << project.stderr_text();
        const std::string address = bound_address(project);
        EXPECT_TRUE(ul::test::wait_until(
            [&] { return ul::test::http_get(address, "/readyz").status == 200; }, 60s))
            << ul::test::http_get(address, "/readyz").body;
        project.signal(SIGTERM);
        ASSERT_EQ(project.wait(60s), std::optional<int>(0)) << project.stderr_text();
    }
}

}  // namespace
