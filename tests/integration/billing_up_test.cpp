// Stripe billing through `usage-ledger up` as its users run it, against the fake Stripe (in this
// process, real clock) failing 30 % of requests at random and holding some answers past the
// client's timeout after recording them: `up` is killed with SIGKILL ten times, each time once
// the fake has received more reports since the restart (so the kill lands while reporting), and
// restarted on the same data directory. In the end Stripe holds, per customer and event name,
// exactly floor(usage / unit) — nothing lost, nothing billed twice — the billing API shows no
// pending report, /metrics shows the breaker, and the secret key is in no log line. The seed
// (UL_TEST_SEED to replay) is logged.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "tests/fakes/fake_stripe.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::http_request;
using ul::test::TempDir;

constexpr char kAdmin[] = "billing-admin";
const std::string kSecret = "sk_test_billing_up_secret_0123456789";
const std::vector<std::string> kTenants = {"bill-a", "bill-b", "bill-c"};

std::string customer_of(const std::string& tenant) {
    return "cus_" + tenant.substr(5);
}

TEST(BillingUp, StripeHoldsExactlyFloorOfUsageAfterTenKill9sDuringReporting) {
    const char* given = std::getenv("UL_TEST_SEED");
    const std::uint64_t seed = given != nullptr ? std::stoull(given) : std::random_device{}();
    std::cerr << "billing up test seed " << seed << "\n";
    std::mt19937_64 random(seed);
    ul::fakes::FakeStripeOptions fake_options;
    fake_options.secret_key = kSecret;
    fake_options.seed = seed;
    auto started = ul::fakes::FakeStripe::start(fake_options);
    ASSERT_TRUE(started) << started.error();
    auto& fake = **started;
    fake.add_meter("mtr_api", "api_calls");
    fake.add_meter("mtr_tokens", "llm_tokens");
    fake.set_failure_rate(0.3);

    TempDir dir;
    const std::string data_dir = (dir.path() / "data").string();
    const std::string key_file = (dir.path() / "stripe.key").string();
    std::ofstream(key_file) << kSecret << "\n";
    // 30 % failures open the breaker now and then (5 in a row); its 15-minute pause is the
    // fake-clock test's subject (billing_reporter_test), here it only has to pass quickly.
    const std::vector<std::string> argv = {
        UL_BINARY, "up", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--admin-key",
        kAdmin, "--rate-limit", "100000", "--rate-burst", "100000", "--stripe-api-base",
        fake.base_url(), "--stripe-secret-key-file", key_file, "--billing-interval", "1s",
        "--stripe-timeout-ms", "500", "--stripe-breaker-pause", "1s"};

    std::map<std::string, long long> calls;   // tenant → api_calls committed
    std::map<std::string, long long> tokens;  // tenant → tokens committed
    int next_key = 0;
    for (int cycle = 0; cycle <= 10; ++cycle) {
        SCOPED_TRACE("cycle " + std::to_string(cycle));
        ChildProcess up("up-" + std::to_string(cycle), argv, dir.path());
        const std::string address = ul::test::wait_for_match(
            [&] { return up.stdout_text(); }, "dashboard: +http://([0-9.]+:[0-9]+)/", 120s);
        ASSERT_FALSE(address.empty()) << up.stderr_text();
        ASSERT_TRUE(
            ul::test::wait_until([&] { return http_get(address, "/readyz").status == 200; }, 120s))
            << up.stderr_text();
        if (cycle == 0) {
            for (const auto& tenant : kTenants) {
                ChildProcess account(
                    "account-" + tenant,
                    {UL_BINARY, "account", "set", "--bootstrap-file", data_dir + "/bootstrap",
                     "--tenant", tenant, "--plan", "pro", "--stripe-customer", customer_of(tenant)},
                    dir.path());
                ASSERT_EQ(account.wait(60s), std::optional<int>(0)) << account.stderr_text();
            }
            ASSERT_TRUE(ul::test::wait_until(
                [&] {
                    const auto body = http_get(address, "/v1/admin/tenants", kAdmin).body;
                    for (const auto& tenant : kTenants) {
                        if (body.find("\"tenant_id\":\"" + tenant + "\",\"plan\":\"pro\"") ==
                            std::string::npos) {
                            return false;
                        }
                    }
                    return true;
                },
                60s));
        }
        if (cycle == 10) {  // the last run: no more failures, let it drain
            fake.set_failure_rate(0);
            const auto expected = [&] {
                std::map<std::tuple<std::string, std::string>, std::int64_t> out;
                for (const auto& tenant : kTenants) {
                    if (calls[tenant] > 0) {
                        out[{customer_of(tenant), "api_calls"}] = calls[tenant];
                    }
                    if (tokens[tenant] / 1000 > 0) {
                        out[{customer_of(tenant), "llm_tokens"}] = tokens[tenant] / 1000;
                    }
                }
                return out;
            }();
            ASSERT_TRUE(ul::test::wait_until([&] { return fake.totals() == expected; }, 180s))
                << "Stripe's totals never equalled floor(usage/unit)";
            // And stay equal: the next decisions find nothing new to report.
            const auto events = fake.events().size();
            ASSERT_TRUE(ul::test::wait_until(
                [&] {
                    const auto metrics = http_get(address, "/metrics").body;
                    return metrics.find("billing_reports_pending 0") != std::string::npos;
                },
                60s));
            EXPECT_EQ(fake.totals(), expected);
            EXPECT_EQ(fake.events().size(), events);
            const auto metrics = http_get(address, "/metrics").body;
            EXPECT_NE(metrics.find("billing_breaker_open "), std::string::npos) << metrics;
            for (const auto& tenant : kTenants) {
                const auto billing =
                    http_get(address, "/v1/tenants/" + tenant + "/billing", kAdmin);
                EXPECT_EQ(billing.status, 200) << billing.body;
                EXPECT_NE(billing.body.find("\"breaker\":{\"state\":"), std::string::npos)
                    << billing.body;
                EXPECT_EQ(billing.body.find("\"status\":\"pending\""), std::string::npos)
                    << billing.body;
                EXPECT_EQ(billing.body.find(kSecret), std::string::npos);
            }
            EXPECT_EQ(metrics.find(kSecret), std::string::npos);
            up.signal(SIGTERM);
            up.wait(60s);
            EXPECT_EQ(up.stdout_text().find(kSecret), std::string::npos);
            EXPECT_EQ(up.stderr_text().find(kSecret), std::string::npos);
            // billing reconcile: our totals, Stripe's summaries and the counters agree...
            const std::vector<std::string> reconcile = {
                UL_BINARY, "billing",           "reconcile",     "--data-dir",
                data_dir,  "--stripe-api-base", fake.base_url(), "--stripe-secret-key-file",
                key_file};
            ChildProcess agreed("reconcile-agreed", reconcile, dir.path());
            EXPECT_EQ(agreed.wait(120s), std::optional<int>(0))
                << agreed.stdout_text() << agreed.stderr_text();
            EXPECT_NE(agreed.stdout_text().find(" 0 differences"), std::string::npos)
                << agreed.stdout_text();
            // ...and when Stripe's summary says more than was sent, the cell is named.
            fake.alter_summary(customer_of("bill-b"), "api_calls", 3);
            ChildProcess altered("reconcile-altered", reconcile, dir.path());
            EXPECT_EQ(altered.wait(120s), std::optional<int>(1))
                << altered.stdout_text() << altered.stderr_text();
            const std::string lines = altered.stdout_text();
            EXPECT_NE(lines.find("bill-b"), std::string::npos) << lines;
            EXPECT_NE(lines.find("cus_b"), std::string::npos) << lines;
            EXPECT_NE(lines.find("api_calls"), std::string::npos) << lines;
            EXPECT_EQ(lines.find("bill-a"), std::string::npos) << lines;
            EXPECT_EQ(lines.find(kSecret), std::string::npos);
            EXPECT_EQ(altered.stderr_text().find(kSecret), std::string::npos);
            break;
        }
        // Usage now, committed by the ledger before the answer.
        std::string body;
        const std::string when = ul::test::utc_now_rfc3339();
        for (int index = 0; index < 60; ++index) {
            const std::string& tenant = kTenants[random() % kTenants.size()];
            const bool is_tokens = random() % 2 == 0;
            const long long quantity = is_tokens ? static_cast<long long>(random() % 2500)
                                                 : 1 + static_cast<long long>(random() % 3);
            body += R"({"idempotency_key":"bill-)" + std::to_string(next_key++) +
                    R"(","tenant_id":")" + tenant + R"(","meter":")" +
                    (is_tokens ? "tokens" : "api_calls") + R"(","quantity":)" +
                    std::to_string(quantity) + R"(,"timestamp":")" + when + "\"}\n";
            (is_tokens ? tokens : calls)[tenant] += quantity;
        }
        const auto posted = http_request(address, "POST", "/v1/events?wait=committed",
                                         {{"Authorization", std::string("Bearer ") + kAdmin},
                                          {"Content-Type", "application/x-ndjson"}},
                                         body);
        ASSERT_EQ(posted.status, 200) << posted.body;
        ASSERT_EQ(posted.body.find("\"invalid\""), std::string::npos) << posted.body;
        if (cycle % 3 == 1) {
            fake.hang_after_record_next(1, 2'000ms);
        }
        // Kill once reporting is under way: the fake has received 1..4 more requests.
        const auto before = fake.requests().size();
        const auto more = 1 + random() % 4;
        ASSERT_TRUE(
            ul::test::wait_until([&] { return fake.requests().size() >= before + more; }, 60s))
            << up.stderr_text();
        up.signal(SIGKILL);
        up.wait(30s);
    }
}

}  // namespace
