// What the query API reads while the projection applies and writes: the store plus the deltas
// applied but not yet written (ProjectionService). `project` polls 100 entries at a time and
// writes every 5 ms or 300 cells, pausing 3 ms just before and just after each write (a hidden
// test option), so reads land before, during and right after a hundred writes, while events
// keep arriving in rounds. Each read must see a whole number of entries — never an entry counted
// twice (a delta read from both the store and memory) nor one that disappears (in neither) — so
// every series of answers only grows and never passes what was sent; the last equals it exactly,
// and after a clean stop the store alone (`export counters`) holds everything.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::TempDir;

constexpr char kPlans[] = R"({
  "currency": "usd",
  "default_plan": "free",
  "group_by": {"tokens": ["model"]},
  "plans": [
    {"id": "free", "name": "Free", "meters": {
      "api_calls": {"limit": "1000000", "overage_unit_price": "0.01"},
      "tokens": {"limit": null}}}
  ]
})";
constexpr char kAdmin[] = "admin-view-key";
constexpr int kRounds = 8;
constexpr int kPerRound = 1500;  // acme api_calls 1 each + tokens 2 each, among other tenants

// Sum of every "<field>":"<integer>" in `body` (-1 when the answer is not 200).
long long sum_of(const ul::test::HttpReply& reply, const std::string& field) {
    if (reply.status != 200) {
        return -1;
    }
    const std::regex pattern("\"" + field + "\":\"([0-9]+)\"");
    long long total = 0;
    for (std::sregex_iterator it(reply.body.begin(), reply.body.end(), pattern), end; it != end;
         ++it) {
        total += std::stoll((*it)[1].str());
    }
    return total;
}

TEST(ProjectionView, ReadsDuringWritesNeverCountAnEntryTwiceNorLoseOne) {
    TempDir dir;
    const auto& path = dir.path();
    const std::string bootstrap = (path / "bootstrap").string();
    const std::string data_dir = (path / "data").string();
    const std::string plans = (path / "plans.json").string();
    std::ofstream(plans) << kPlans;
    ChildProcess broker("broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap}, path);
    ASSERT_TRUE(ul::test::wait_until([&] { return std::filesystem::exists(bootstrap); }, 30s));
    ChildProcess ledger("ledger",
                        {UL_BINARY, "ledger", "--bootstrap-file", bootstrap, "--data-dir", data_dir,
                         "--assign-all"},
                        path);
    ChildProcess project("project",
                         {UL_BINARY,
                          "project",
                          "--bootstrap-file",
                          bootstrap,
                          "--data-dir",
                          data_dir,
                          "--assign-all",
                          "--config",
                          plans,
                          "--listen",
                          "127.0.0.1:0",
                          "--admin-key",
                          kAdmin,
                          "--rate-limit",
                          "100000",
                          "--rate-burst",
                          "100000",
                          "--batch-size",
                          "100",
                          "--flush-interval-ms",
                          "5",
                          "--max-pending-cells",
                          "300",
                          "--test-write-pause-ms",
                          "3"},
                         path);
    const std::string address = ul::test::logged_api_address(project, 60s);
    ASSERT_FALSE(address.empty()) << project.stderr_text();

    // Readers: usage (point reads and the meters list), history by day and by model (range
    // reads), admin tenants (the tenant list), as fast as they can.
    const long long calls_total = static_cast<long long>(kRounds) * kPerRound;
    const long long tokens_total = 2 * calls_total;
    std::atomic<bool> done{false};
    std::atomic<long long> reads{0};
    std::vector<std::string> failures;
    std::thread reader([&] {
        long long calls = 0;
        long long history = 0;
        long long grouped = 0;
        long long tenants = 0;
        auto check = [&](const char* what, long long value, long long& last, long long most) {
            if (value < 0 || value < last || value > most) {
                failures.push_back(std::string(what) + " went from " + std::to_string(last) +
                                   " to " + std::to_string(value) + " (at most " +
                                   std::to_string(most) + ")");
            }
            last = std::max(last, value);
        };
        while (!done.load() && failures.size() < 10) {
            const auto usage = http_get(address, "/v1/tenants/acme/usage?period=day", kAdmin);
            std::smatch match;
            static const std::regex used(R"re("meter":"api_calls","used":"([0-9]+)")re");
            const long long now =
                std::regex_search(usage.body, match, used) ? std::stoll(match[1].str()) : -1;
            check("usage api_calls", usage.status == 200 ? now : -1, calls, calls_total);
            check(
                "history tokens",
                sum_of(http_get(address, "/v1/tenants/acme/usage/history?meter=tokens&window=hour",
                                kAdmin),
                       "sum"),
                history, tokens_total);
            check("history tokens by model",
                  sum_of(http_get(address,
                                  "/v1/tenants/acme/usage/history?meter=tokens&window=day&"
                                  "group_by=model",
                                  kAdmin),
                         "sum"),
                  grouped, tokens_total);
            const auto list = http_get(address, "/v1/admin/tenants", kAdmin);
            long long listed = 0;
            for (std::size_t at = list.body.find("\"tenant_id\":"); at != std::string::npos;
                 at = list.body.find("\"tenant_id\":", at + 1)) {
                ++listed;
            }
            check("admin tenants", list.status == 200 ? listed : -1, tenants, 1 + 40);
            reads.fetch_add(1);
        }
    });

    int key = 0;
    for (int round = 0; round < kRounds; ++round) {
        const std::string events = (path / ("round-" + std::to_string(round) + ".jsonl")).string();
        {
            std::ofstream out(events);
            const std::string now = ul::test::utc_now_rfc3339();
            for (int index = 0; index < kPerRound; ++index) {
                const std::string other = "t-" + std::to_string(index % 40);
                for (const auto& [tenant, meter, quantity] :
                     std::vector<std::tuple<std::string, std::string, std::string>>{
                         {"acme", "api_calls", "1"},
                         {"acme", "tokens", "2"},
                         {other, "api_calls", "1"}}) {
                    out << R"({"idempotency_key":"v-)" << key++ << R"(","tenant_id":")" << tenant
                        << R"(","meter":")" << meter << R"(","quantity":")" << quantity
                        << R"(","timestamp":")" << now << R"(","properties":{"model":"m-)"
                        << index % 3 << "\"}}\n";
                }
            }
        }
        ChildProcess emit("emit-" + std::to_string(round),
                          {UL_BINARY, "emit", "--bootstrap-file", bootstrap, "--file", events},
                          path);
        ASSERT_EQ(emit.wait(60s), std::optional<int>(0)) << emit.stderr_text();
    }
    const std::string final_usage =
        "\"meter\":\"api_calls\",\"used\":\"" + std::to_string(calls_total) + "\"";
    EXPECT_TRUE(ul::test::wait_until(
        [&] {
            return http_get(address, "/v1/tenants/acme/usage?period=day", kAdmin)
                       .body.find(final_usage) != std::string::npos;
        },
        120s))
        << http_get(address, "/v1/tenants/acme/usage?period=day", kAdmin).body;
    std::this_thread::sleep_for(200ms);  // a few more reads at the end
    done.store(true);
    reader.join();
    for (const auto& failure : failures) {
        ADD_FAILURE() << failure;
    }
    EXPECT_GT(reads.load(), 20) << "the reader hardly ran";
    EXPECT_EQ(
        sum_of(http_get(address, "/v1/tenants/acme/usage/history?meter=tokens&window=hour", kAdmin),
               "sum"),
        tokens_total);
    EXPECT_EQ(sum_of(http_get(address,
                              "/v1/tenants/acme/usage/history?meter=tokens&window=day&group_by="
                              "model",
                              kAdmin),
                     "sum"),
              tokens_total);
    const std::string metrics = http_get(address, "/metrics", "").body;
    std::smatch writes;
    ASSERT_TRUE(std::regex_search(metrics, writes,
                                  std::regex(R"(projection_batch_size_entries_count ([0-9]+))")))
        << metrics;
    EXPECT_GT(std::stoll(writes[1].str()), 30) << "too few writes to have raced the reads";
    std::printf("%lld rounds of reads, %s store writes\n", reads.load(), writes[1].str().c_str());

    // A clean stop writes what is pending: the store alone then holds every entry.
    project.signal(SIGTERM);
    ASSERT_EQ(project.wait(60s), std::optional<int>(0)) << project.stderr_text();
    const auto exported = ul::test::run_and_capture(
        "export", {UL_BINARY, "export", "counters", "--data-dir", data_dir, "--window", "month"},
        path, 60s);
    ASSERT_TRUE(exported);
    EXPECT_NE(exported->find(R"("tenant_id":"acme","meter":"api_calls",)"), std::string::npos);
    EXPECT_NE(exported->find("\"sum\":\"" + std::to_string(calls_total) +
                             "\",\"count\":" + std::to_string(calls_total)),
              std::string::npos)
        << *exported;
    EXPECT_NE(exported->find("\"sum\":\"" + std::to_string(tokens_total) +
                             "\",\"count\":" + std::to_string(calls_total)),
              std::string::npos)
        << *exported;
}

}  // namespace
