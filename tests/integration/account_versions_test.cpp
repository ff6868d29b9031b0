// Deterministic calendars (issue 10, acceptance 4): an account's billing anchor changes from 1 to
// 15 and its zone from UTC to America/New_York effective at T, while usage events from before and
// after T arrive out of order. Broker, ledger and project run as separate processes. Each
// event's month cell must be the one of the account version in force at its *event time* —
// checked against month starts worked out by hand below, not by the code under test — and
// replay must rebuild the same cells byte for byte; a second projection that reads the same
// ledger afterwards (another interleaving, other write boundaries) exports the same bytes too.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::TempDir;

constexpr char kAdmin[] = "admin-versions";

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// The month cell of `export counters --window month` whose period starts at `start` (an RFC 3339
// prefix), as "sum/count"; empty when there is none.
std::string month_cell(const std::string& exported, const std::string& start) {
    const auto at = exported.find("\"period_start\":\"" + start);
    if (at == std::string::npos) {
        return "";
    }
    const auto sum = exported.find("\"sum\":\"", at) + 7;
    const auto count = exported.find("\"count\":", at) + 8;
    return exported.substr(sum, exported.find('"', sum) - sum) + "/" +
           exported.substr(count, exported.find('}', count) - count);
}

class AccountVersionsTest : public ::testing::Test {
  protected:
    std::string export_months(const std::string& data_dir) {
        return ul::test::run_and_capture(
                   "export",
                   {UL_BINARY, "export", "counters", "--data-dir", data_dir, "--window", "month"},
                   dir_.path(), 60s)
            .value_or("export failed");
    }
    std::unique_ptr<ChildProcess> project(const std::string& data_dir, std::string& address) {
        auto process = std::make_unique<ChildProcess>(
            "project",
            std::vector<std::string>{UL_BINARY, "project", "--bootstrap-file", bootstrap_file_,
                                     "--data-dir", data_dir, "--assign-all", "--listen",
                                     "127.0.0.1:0", "--admin-key", kAdmin, "--control-secret-file",
                                     secret_file_},
            dir_.path());
        address = ul::test::logged_api_address(*process, 60s);
        EXPECT_FALSE(address.empty()) << process->stderr_text();
        return process;
    }
    std::optional<int> account_set(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {UL_BINARY,
                                         "account",
                                         "set",
                                         "--bootstrap-file",
                                         bootstrap_file_,
                                         "--control-secret-file",
                                         secret_file_,
                                         "--tenant",
                                         "acme",
                                         "--plan",
                                         "pro"};
        argv.insert(argv.end(), args.begin(), args.end());
        ChildProcess process("account", argv, dir_.path());
        auto status = process.wait(60s);
        EXPECT_EQ(status, std::optional<int>(0)) << process.stderr_text();
        return status;
    }
    // The month the query API places `at` in, with the admin key.
    std::string month_start_at(const std::string& address, const std::string& at) {
        const auto reply =
            http_get(address, "/v1/tenants/acme/usage?period=month&at=" + at, kAdmin);
        const auto start = reply.body.find("\"start\":\"");
        return start == std::string::npos ? reply.body : reply.body.substr(start + 9, 19);
    }

    TempDir dir_;
    std::string data_dir_ = (dir_.path() / "data").string();
    std::string bootstrap_file_ = (dir_.path() / "bootstrap").string();
    std::string secret_file_ = (dir_.path() / "control-plane.secret").string();
};

TEST_F(AccountVersionsTest, MonthsFollowTheVersionInForceAtEventTimeLiveAndInReplay) {
    ChildProcess broker("broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap_file_},
                        dir_.path());
    ASSERT_TRUE(
        ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file_); }, 30s));
    ChildProcess ledger("ledger",
                        {UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file_, "--data-dir",
                         data_dir_, "--assign-all", "--max-event-age", "3650d"},
                        dir_.path());
    ASSERT_TRUE(ul::test::wait_until([&] { return has(ledger.stderr_text(), "assigned"); }, 60s))
        << ledger.stderr_text();
    std::string address;
    auto live = project(data_dir_, address);  // creates the control-plane secret
    ASSERT_FALSE(address.empty());

    // Version 1 from 2026-01-01 (and, being the first, before): anchor 1, UTC. Version 2 from
    // T = 2026-03-10T12:00:00Z: anchor 15, New York.
    ASSERT_EQ(account_set({"--billing-anchor-day", "1", "--effective-at", "2026-01-01T00:00:00Z"}),
              std::optional<int>(0));
    ASSERT_EQ(account_set({"--billing-anchor-day", "15", "--time-zone", "America/New_York",
                           "--effective-at", "2026-03-10T12:00:00Z"}),
              std::optional<int>(0));
    // The query API places a time with the version in force then.
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return month_start_at(address, "2026-03-20T00:00:00Z") == "2026-03-15T04:00:00"; },
        60s))
        << month_start_at(address, "2026-03-20T00:00:00Z");
    EXPECT_EQ(month_start_at(address, "2026-03-05T00:00:00Z"), "2026-03-01T00:00:00");

    // Each quantity a distinct power of two, so a sum says exactly which events a cell holds.
    // By hand: before T the months are UTC calendar months; from T they start on the 15th at
    // midnight in New York (EST, UTC-5, until 2026-03-08; EDT, UTC-4, after).
    struct Event {
        const char* time;
        int quantity;
    };
    const Event events[] = {
        {"2026-02-28T23:30:00Z", 1},   // v1: month from 2026-02-01T00:00Z
        {"2026-03-01T00:00:00Z", 2},   // v1: 2026-03-01T00:00Z (the boundary itself)
        {"2026-03-10T11:59:59Z", 4},   // v1: 2026-03-01T00:00Z (one second before T)
        {"2026-03-10T12:00:00Z", 8},   // v2: 2026-03-10 08:00 EDT → from 2026-02-15 00:00 EST
        {"2026-03-15T03:59:59Z", 16},  // v2: 2026-03-14 23:59:59 EDT → from 2026-02-15T05:00Z
        {"2026-03-15T04:00:00Z", 32},  // v2: 2026-03-15 00:00 EDT → from 2026-03-15T04:00Z
        {"2026-04-20T00:00:00Z", 64},  // v2: from 2026-04-15T04:00Z
    };
    // Out of order: after-T and before-T events interleaved, the boundaries last.
    const std::string file = (dir_.path() / "events.jsonl").string();
    {
        std::ofstream out(file);
        for (const int index : {6, 0, 4, 2, 3, 1, 5}) {
            out << R"({"idempotency_key":"k-)" << index << R"(","tenant_id":"acme",)"
                << R"("meter":"api_calls","quantity":)" << events[index].quantity
                << R"(,"timestamp":")" << events[index].time << "\"}\n";
        }
    }
    ChildProcess emit("emit",
                      {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file_, "--file", file,
                       "--max-event-age", "3650d"},
                      dir_.path());
    ASSERT_EQ(emit.wait(120s), std::optional<int>(0)) << emit.stderr_text();
    const std::string emitted = emit.stderr_text();

    const std::vector<std::pair<std::string, std::string>> expected = {
        {"2026-02-01T00:00:00", "1/1"},  {"2026-03-01T00:00:00", "6/2"},
        {"2026-02-15T05:00:00", "24/2"}, {"2026-03-15T04:00:00", "32/1"},
        {"2026-04-15T04:00:00", "64/1"},
    };
    auto matches = [&](const std::string& exported) {
        for (const auto& [start, cell] : expected) {
            if (month_cell(exported, start) != cell) {
                return false;
            }
        }
        return std::count(exported.begin(), exported.end(), '\n') == 5;
    };
    ASSERT_TRUE(ul::test::wait_until([&] { return matches(export_months(data_dir_)); }, 120s))
        << export_months(data_dir_) << live->stderr_text() << ledger.stderr_text() << emitted;
    const std::string live_months = export_months(data_dir_);

    // The query API reads the same cells: a time before T in v1's month, after T in v2's.
    EXPECT_TRUE(
        has(http_get(address, "/v1/tenants/acme/usage?period=month&at=2026-03-05T00:00:00Z", kAdmin)
                .body,
            "\"used\":\"6\""));
    EXPECT_TRUE(
        has(http_get(address, "/v1/tenants/acme/usage?period=month&at=2026-03-12T00:00:00Z", kAdmin)
                .body,
            "\"used\":\"24\""));

    // Replay (the ledger store, partition by partition, with the live store's versions): the
    // same bytes, twice.
    for (const std::string out : {"rebuilt-1", "rebuilt-2"}) {
        const std::string rebuilt = (dir_.path() / out).string();
        ChildProcess replay("replay",
                            {UL_BINARY, "replay", "--ledger-dir", data_dir_, "--out", rebuilt,
                             "--verify", data_dir_},
                            dir_.path());
        ASSERT_EQ(replay.wait(120s), std::optional<int>(0)) << replay.stderr_text();
        EXPECT_TRUE(has(replay.stdout_text(), "\"differences\":0,")) << replay.stdout_text();
        EXPECT_EQ(export_months(rebuilt), live_months) << out;
    }

    // Another live projection, started afterwards on its own data dir: it reads the accounts to
    // their end before any entry, then the same entries in its own interleaving.
    std::string other_address;
    const std::string other_dir = (dir_.path() / "other").string();
    auto other = project(other_dir, other_address);
    ASSERT_TRUE(ul::test::wait_until([&] { return export_months(other_dir) == live_months; }, 120s))
        << export_months(other_dir) << "\nlive:\n"
        << live_months << other->stderr_text();
}

}  // namespace
