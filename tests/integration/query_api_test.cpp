// The query API over real sockets, against real processes: broker, ledger and `project --listen
// 127.0.0.1:0` (the test reads the bound address from its log). Accounts are set with
// `account set`, usage is sent with `emit`; every endpoint and every error of DESIGN's table is
// checked, and `promtool check metrics` must accept /metrics.
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
using ul::test::http_request;
using ul::test::TempDir;

constexpr char kPlans[] = R"({
  "currency": "usd",
  "default_plan": "free",
  "thresholds": ["0.80", "0.95", "1.00"],
  "group_by": {"tokens": ["model"]},
  "plans": [
    {"id": "free", "name": "Free", "meters": {
      "api_calls": {"limit": "100", "overage_unit_price": "0.01"},
      "tokens": {"limit": "10000", "overage_unit_price": "0.000002"}}},
    {"id": "pro", "name": "Pro", "meters": {
      "api_calls": {"limit": "1000", "overage_unit_price": "0.001"},
      "tokens": {"limit": null}}}
  ]
})";

constexpr char kAdmin[] = "admin-test-key";

// The address `project` logged ("query API on http://ADDRESS").
std::string bound_address(const ChildProcess& project) {
    const std::string address = ul::test::logged_api_address(project, 60s);
    EXPECT_FALSE(address.empty()) << project.stderr_text();
    return address;
}

bool has(const std::string& body, const std::string& part) {
    return body.find(part) != std::string::npos;
}

class QueryApiTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        const auto& path = dir_->path();
        bootstrap_file_ = (path / "bootstrap").string();
        data_dir_ = (path / "data").string();
        plans_file_ = (path / "plans.json").string();
        std::ofstream(plans_file_) << kPlans;
        broker_ = new ChildProcess(
            "broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap_file_}, path);
        ASSERT_TRUE(
            ul::test::wait_until([] { return std::filesystem::exists(bootstrap_file_); }, 30s));
        ledger_ = new ChildProcess("ledger",
                                   {UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file_,
                                    "--data-dir", data_dir_, "--assign-all"},
                                   path);
        project_ = new ChildProcess(
            "project",
            {UL_BINARY, "project", "--bootstrap-file", bootstrap_file_, "--data-dir", data_dir_,
             "--assign-all", "--config", plans_file_, "--listen", "127.0.0.1:0", "--admin-key",
             kAdmin, "--rate-limit", "1000", "--rate-burst", "1000",
             // Where `account set --bootstrap-file` looks by default: next to the bootstrap file.
             "--control-secret-file", (path / "control-plane.secret").string()},
            path);
        address_ = bound_address(*project_);
        for (const auto& [tenant, plan] : std::vector<std::pair<std::string, std::string>>{
                 {"acme", "pro"}, {"globex", "free"}}) {
            ChildProcess account(
                "account-" + tenant,
                {UL_BINARY, "account", "set", "--bootstrap-file", bootstrap_file_, "--tenant",
                 tenant, "--plan", plan, "--api-key", tenant + "-key", "--config", plans_file_},
                path);
            ASSERT_EQ(account.wait(60s), std::optional<int>(0)) << account.stderr_text();
        }
        // The accounts are known (asked with the admin key: a tenant key polled before its
        // account arrives is a failed authentication, and those are rate-limited per client).
        ASSERT_TRUE(ul::test::wait_until(
            [] {
                const auto tenants = http_get(address_, "/v1/admin/tenants", kAdmin).body;
                return has(tenants, R"("tenant_id":"acme","plan":"pro")") &&
                       has(tenants, R"("tenant_id":"globex","plan":"free")");
            },
            60s))
            << http_get(address_, "/v1/admin/tenants", kAdmin).body;
        // globex (free): api_calls 85 of 100 (warning), tokens 10,500 of 10,000 (blocked).
        // acme (pro): api_calls 3, tokens 123456.789 (unlimited).
        const std::string events = (path / "events.jsonl").string();
        {
            std::ofstream out(events);
            int key = 0;
            auto line = [&](const std::string& tenant, const std::string& meter,
                            const std::string& quantity, const std::string& model) {
                out << R"({"idempotency_key":"k-)" << key++ << R"(","tenant_id":")" << tenant
                    << R"(","meter":")" << meter << R"(","quantity":")" << quantity
                    << R"(","timestamp":")" << ul::test::utc_now_rfc3339()
                    << R"(","properties":{"model":")" << model << "\"}}\n";
            };
            for (int index = 0; index < 85; ++index) {
                line("globex", "api_calls", "1", "none");
            }
            line("globex", "tokens", "10000", "gpt-x");
            line("globex", "tokens", "500", "claude-z");
            for (int index = 0; index < 3; ++index) {
                line("acme", "api_calls", "1", "none");
            }
            line("acme", "tokens", "123456.789", "gpt-x");
        }
        ChildProcess emit(
            "emit", {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file_, "--file", events},
            path);
        ASSERT_EQ(emit.wait(60s), std::optional<int>(0)) << emit.stderr_text();
        // Everything applied: acme's tokens appear last in the file but not necessarily last
        // applied (partitions), so wait on every tenant's figures — read with the tenants' own
        // keys, so the accounts (another topic, read alongside) are known too.
        ASSERT_TRUE(ul::test::wait_until(
            [] {
                auto globex = http_get(address_, "/v1/tenants/globex/usage", "globex-key");
                auto acme = http_get(address_, "/v1/tenants/acme/usage", "acme-key");
                return has(globex.body, R"("used":"85")") &&
                       has(globex.body, R"("used":"10500")") && has(acme.body, R"("used":"3")") &&
                       has(acme.body, R"("used":"123456.789")");
            },
            120s))
            << http_get(address_, "/v1/tenants/globex/usage", kAdmin).body;
    }
    static void TearDownTestSuite() {
        project_->signal(SIGTERM);
        EXPECT_EQ(project_->wait(60s), std::optional<int>(0)) << project_->stderr_text();
        delete project_;
        delete ledger_;
        delete broker_;
        delete dir_;
    }

    static TempDir* dir_;
    static ChildProcess* broker_;
    static ChildProcess* ledger_;
    static ChildProcess* project_;
    static std::string bootstrap_file_;
    static std::string data_dir_;
    static std::string plans_file_;
    static std::string address_;
};

TempDir* QueryApiTest::dir_ = nullptr;
ChildProcess* QueryApiTest::broker_ = nullptr;
ChildProcess* QueryApiTest::ledger_ = nullptr;
ChildProcess* QueryApiTest::project_ = nullptr;
std::string QueryApiTest::bootstrap_file_;
std::string QueryApiTest::data_dir_;
std::string QueryApiTest::plans_file_;
std::string QueryApiTest::address_;

TEST_F(QueryApiTest, HealthReadinessAndTheDashboardPage) {
    auto health = http_get(address_, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, R"({"status":"ok"})");
    EXPECT_TRUE(
        ul::test::wait_until([] { return http_get(address_, "/readyz").status == 200; }, 60s))
        << http_get(address_, "/readyz").body;
    EXPECT_TRUE(has(http_get(address_, "/readyz").body, R"("ready":true)"));
    auto page = http_get(address_, "/");
    EXPECT_EQ(page.status, 200);
    EXPECT_TRUE(has(page.headers["content-type"], "text/html"));
    EXPECT_TRUE(has(page.body, "usage-ledger"));
}

TEST_F(QueryApiTest, MetricsPassPromtool) {
    auto metrics = http_get(address_, "/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_TRUE(has(metrics.headers["content-type"], "text/plain"));
    EXPECT_TRUE(has(metrics.body, "projection_entries_applied_total "));
    const std::string file = (dir_->path() / "metrics.txt").string();
    std::ofstream(file) << metrics.body;
    const std::string command = "promtool check metrics < " + file;
    EXPECT_EQ(std::system(command.c_str()), 0) << metrics.body;
}

// /metrics counts the API's own requests by route pattern (never the raw path) and status, with
// a latency histogram, and carries the process's figures.
TEST_F(QueryApiTest, MetricsCountRequestsByRouteAndDescribeTheProcess) {
    ASSERT_EQ(http_get(address_, "/v1/tenants/globex/usage", "globex-key").status, 200);
    ASSERT_EQ(http_get(address_, "/v1/tenants/globex/usage", "acme-key").status, 403);
    ASSERT_EQ(http_get(address_, "/no/such/route").status, 404);
    const auto metrics = http_get(address_, "/metrics");
    ASSERT_EQ(metrics.status, 200);
    const std::string& body = metrics.body;
    const std::string usage = R"(route="/v1/tenants/{tenant}/usage")";
    EXPECT_TRUE(has(body, "http_requests_total{" + usage + R"(,status="200"} )")) << body;
    EXPECT_TRUE(has(body, "http_requests_total{" + usage + R"(,status="403"} )")) << body;
    EXPECT_TRUE(has(body, R"(http_requests_total{route="other",status="404"} )")) << body;
    EXPECT_TRUE(has(body, "http_request_duration_seconds_bucket{" + usage + R"(,le="0.005"} )"));
    EXPECT_TRUE(has(body, "http_request_duration_seconds_sum{" + usage + "} "));
    EXPECT_TRUE(has(body, "http_request_duration_seconds_count{" + usage + "} "));
    EXPECT_FALSE(has(body, "route=\"/v1/tenants/globex")) << "a raw path became a label";
    for (const char* name : {"process_resident_memory_bytes ", "process_cpu_seconds_total ",
                             "process_open_fds ", "process_start_time_seconds "}) {
        EXPECT_TRUE(has(body, std::string("\n") + name)) << name;
    }
}

TEST_F(QueryApiTest, UsageCarriesLimitsFlagsOverageAndFreshness) {
    auto globex = http_get(address_, "/v1/tenants/globex/usage?period=month", "globex-key");
    ASSERT_EQ(globex.status, 200) << globex.body;
    const std::string& body = globex.body;
    EXPECT_TRUE(has(body, R"("plan":"free")")) << body;
    EXPECT_TRUE(has(
        body,
        R"({"meter":"api_calls","used":"85","count":85,"known":true,"limit":"100",)"
        R"("thresholds":["0.8","0.95","1"],"remaining":"15",)"
        R"("percentage":85,"unlimited":false,"is_warning":true,)"
        R"("is_upgrade_suggested":false,"is_blocked":false,"enforcement":"soft","overage_units":"0",)"
        R"("overage_cost":"0"})"))
        << body;
    EXPECT_TRUE(has(
        body,
        R"({"meter":"tokens","used":"10500","count":2,"known":true,"limit":"10000",)"
        R"("thresholds":["0.8","0.95","1"],"remaining":"0",)"
        R"("percentage":105,"unlimited":false,"is_warning":true,)"
        R"("is_upgrade_suggested":true,"is_blocked":true,"enforcement":"soft","overage_units":"500",)"
        R"("overage_cost":"0.001"})"))
        << body;
    EXPECT_TRUE(has(body, R"("as_of":{"positions":{)")) << body;

    auto acme = http_get(address_, "/v1/tenants/acme/usage", "acme-key");
    ASSERT_EQ(acme.status, 200);
    EXPECT_TRUE(has(acme.body,
                    R"("meter":"tokens","used":"123456.789","count":1,"known":true,"limit":null,)"))
        << acme.body;
    EXPECT_TRUE(has(acme.body, R"("unlimited":true)")) << acme.body;

    auto day = http_get(address_, "/v1/tenants/globex/usage?period=day", "globex-key");
    ASSERT_EQ(day.status, 200);
    EXPECT_TRUE(has(day.body, R"("period":"day")")) << day.body;
    EXPECT_TRUE(has(day.body, R"("used":"85")")) << day.body;
}

TEST_F(QueryApiTest, EntitlementIsExactAtTheLimit) {
    const auto at_limit =
        http_get(address_, "/v1/tenants/globex/entitlements/api_calls?amount=15", "globex-key");
    ASSERT_EQ(at_limit.status, 200) << at_limit.body;
    EXPECT_TRUE(
        has(at_limit.body,
            R"("allowed":true,"used":"85","limit":"100","remaining":"15","unlimited":false)"))
        << at_limit.body;
    auto over = http_get(address_, "/v1/tenants/globex/entitlements/api_calls?amount=15.000001",
                         "globex-key");
    EXPECT_TRUE(has(over.body, R"("allowed":false)")) << over.body;
    const auto unlimited =
        http_get(address_, "/v1/tenants/acme/entitlements/tokens?amount=1000000", "acme-key");
    EXPECT_TRUE(has(unlimited.body, R"("allowed":true)")) << unlimited.body;
    EXPECT_TRUE(has(unlimited.body, R"("unlimited":true)")) << unlimited.body;
    // A meter the plan does not list is refused by default (it used to pass as unlimited).
    const auto unknown =
        http_get(address_, "/v1/tenants/globex/entitlements/gpu_seconds?amount=1", "globex-key");
    ASSERT_EQ(unknown.status, 200) << unknown.body;
    EXPECT_TRUE(has(unknown.body, R"("allowed":false,"error":"unknown_meter")")) << unknown.body;
    EXPECT_TRUE(has(unknown.body, R"("limit":null,"remaining":"0","unlimited":false)"))
        << unknown.body;
}

TEST_F(QueryApiTest, HistoryIsZeroFilledAndGroupsByProperty) {
    auto history = http_get(address_, "/v1/tenants/globex/usage/history?meter=tokens&window=day",
                            "globex-key");
    ASSERT_EQ(history.status, 200) << history.body;
    // 30 days back to today: 31 points, today's holding the sum, the others zero.
    std::size_t points = 0;
    for (std::size_t at = history.body.find("\"start\":"); at != std::string::npos;
         at = history.body.find("\"start\":", at + 1)) {
        ++points;
    }
    EXPECT_EQ(points, 31U) << history.body;
    EXPECT_TRUE(has(history.body, R"("sum":"0","count":0})")) << history.body;
    EXPECT_TRUE(has(history.body, R"("sum":"10500","count":2})")) << history.body;
    const auto grouped = http_get(
        address_, "/v1/tenants/globex/usage/history?meter=tokens&window=day&group_by=model",
        "globex-key");
    ASSERT_EQ(grouped.status, 200) << grouped.body;
    EXPECT_TRUE(has(grouped.body, R"({"value":"claude-z","points":[)")) << grouped.body;
    EXPECT_TRUE(has(grouped.body, R"("sum":"500","count":1})")) << grouped.body;
    EXPECT_TRUE(has(grouped.body, R"("sum":"10000","count":1})")) << grouped.body;
}

TEST_F(QueryApiTest, AlertsBillingAndAdminTenants) {
    auto alerts = http_get(address_, "/v1/tenants/globex/alerts", "globex-key");
    EXPECT_EQ(alerts.status, 200);
    // globex's events crossed its plan's thresholds: tokens 10000 of 10000 in one entry (80, 95
    // and 100 %), api_calls 80 of 100 (80 %). Each with its delivery (globex has no webhook).
    std::size_t raised = 0;
    for (auto at = alerts.body.find("\"id\":\"al_"); at != std::string::npos;
         at = alerts.body.find("\"id\":\"al_", at + 1)) {
        ++raised;
    }
    EXPECT_EQ(raised, 4U) << alerts.body;
    EXPECT_TRUE(has(alerts.body, R"("meter":"api_calls","period":"month")")) << alerts.body;
    EXPECT_TRUE(has(alerts.body,
                    R"("threshold":{"percent":"1"},"rule":"plan","limit":"10000","used":"10000")"))
        << alerts.body;
    EXPECT_TRUE(has(alerts.body, R"("raised_at":)")) << alerts.body;
    EXPECT_TRUE(has(alerts.body, R"("delivery":)")) << alerts.body;
    auto billing = http_get(address_, "/v1/tenants/globex/billing", "globex-key");
    EXPECT_EQ(billing.status, 200);
    EXPECT_TRUE(has(billing.body, R"("reports":[])")) << billing.body;
    auto tenants = http_get(address_, "/v1/admin/tenants", kAdmin);
    ASSERT_EQ(tenants.status, 200) << tenants.body;
    EXPECT_TRUE(has(tenants.body, R"({"tenant_id":"acme","plan":"pro")")) << tenants.body;
    EXPECT_TRUE(has(tenants.body, R"({"tenant_id":"globex","plan":"free")")) << tenants.body;
    auto who = http_get(address_, "/v1/whoami", "acme-key");
    EXPECT_EQ(
        who.body,
        R"({"admin":false,"tenant_id":"acme","key_id":"default","scopes":["read","ingest","admin"]})");
}

TEST_F(QueryApiTest, AuthErrors) {
    auto none = http_get(address_, "/v1/tenants/acme/usage");
    EXPECT_EQ(none.status, 401);
    EXPECT_TRUE(has(none.body, R"("error":"unauthorized")")) << none.body;
    EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
    EXPECT_EQ(http_get(address_, "/v1/tenants/acme/usage", "wrong-key").status, 401);
    auto other = http_get(address_, "/v1/tenants/acme/usage", "globex-key");
    EXPECT_EQ(other.status, 403);
    EXPECT_TRUE(has(other.body, R"("error":"forbidden")")) << other.body;
    EXPECT_EQ(http_get(address_, "/v1/admin/tenants", "globex-key").status, 403);
    EXPECT_EQ(http_get(address_, "/v1/tenants/globex/usage", kAdmin).status, 200);
}

TEST_F(QueryApiTest, BadParametersAre400WithACode) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/v1/tenants/acme/usage?period=week", "bad_period"},
        {"/v1/tenants/acme/usage?at=yesterday", "bad_at"},
        {"/v1/tenants/acme/usage/history", "missing_meter"},
        {"/v1/tenants/acme/usage/history?meter=Tokens", "bad_meter"},
        {"/v1/tenants/acme/usage/history?meter=tokens&window=year", "bad_window"},
        {"/v1/tenants/acme/usage/history?meter=tokens&from=2026-11-02T00:00:00Z&to=2026-11-01T00:"
         "00:00Z",
         "bad_range"},
        {"/v1/tenants/acme/usage/history?meter=tokens&from=nope", "bad_from"},
        {"/v1/tenants/acme/usage/history?meter=tokens&to=nope", "bad_to"},
        {"/v1/tenants/acme/usage/history?meter=tokens&window=hour&from=2020-01-01T00:00:00Z",
         "too_many_points"},
        {"/v1/tenants/acme/usage/history?meter=tokens&window=hour&group_by=model", "bad_group_by"},
        {"/v1/tenants/acme/entitlements/tokens?amount=-1", "bad_amount"},
        {"/v1/tenants/acme/entitlements/tokens?amount=1.1234567", "bad_amount"},
        {"/v1/tenants/acme/entitlements/Tokens", "bad_meter"},
        {"/v1/tenants/a%20b/usage", "bad_tenant"},
        // Periods ending after 9999-12-31T23:59:59.999999Z cannot be written in RFC 3339.
        {"/v1/tenants/acme/usage/history?meter=tokens&window=month&from=9999-06-01T00:00:00Z"
         "&to=9999-12-15T00:00:00Z",
         "out_of_range"},
        {"/v1/tenants/acme/usage/history?meter=tokens&window=day&from=9999-12-30T00:00:00Z"
         "&to=9999-12-31T12:00:00Z&group_by=model",
         "out_of_range"},
        {"/v1/tenants/acme/usage?period=month&at=9999-12-15T00:00:00Z", "out_of_range"},
        {"/v1/tenants/acme/usage?period=hour&at=9999-12-31T23:30:00Z", "out_of_range"},
    };
    for (const auto& [target, code] : cases) {
        auto reply = http_get(address_, target, kAdmin);
        EXPECT_EQ(reply.status, 400) << target << " " << reply.body;
        EXPECT_TRUE(has(reply.body, "\"error\":\"" + code + "\"")) << target << " " << reply.body;
        EXPECT_TRUE(has(reply.body, "\"detail\":\"")) << target << " " << reply.body;
    }
}

TEST_F(QueryApiTest, UnknownRouteIs404AndTooLargeIs413) {
    auto unknown = http_get(address_, "/v1/nothing", kAdmin);
    EXPECT_EQ(unknown.status, 404);
    EXPECT_TRUE(has(unknown.body, R"("error":"not_found")")) << unknown.body;
    auto large = http_request(
        address_, "POST", "/v1/events",
        {{"Authorization", std::string("Bearer ") + kAdmin}, {"Content-Type", "application/json"}},
        std::string(2U << 20U, ' '));
    EXPECT_EQ(large.status, 413) << large.body << large.error;
    // This process has no ledger in it: it can queue events, not wait for their verdicts.
    auto no_wait = http_request(address_, "POST", "/v1/events?wait=committed",
                                {{"Authorization", std::string("Bearer ") + kAdmin}},
                                R"({"idempotency_key":"x","tenant_id":"acme","meter":"m",)"
                                R"("quantity":1,"timestamp":"2026-01-01T00:00:00Z"})");
    EXPECT_EQ(no_wait.status, 400) << no_wait.body;
    EXPECT_TRUE(has(no_wait.body, R"("error":"wait_unavailable")")) << no_wait.body;
}

TEST_F(QueryApiTest, RateLimitAnswers429WithRetryAfter) {
    // A second projection process with its own store and a small bucket.
    ChildProcess limited("project-limited",
                         {UL_BINARY, "project", "--bootstrap-file", bootstrap_file_, "--data-dir",
                          (dir_->path() / "data-limited").string(), "--assign-all", "--config",
                          plans_file_, "--listen", "127.0.0.1:0", "--admin-key", kAdmin,
                          "--rate-limit", "0.2", "--rate-burst", "3"},
                         dir_->path());
    const std::string address = bound_address(limited);
    std::vector<int> statuses;
    ul::test::HttpReply last;
    for (int index = 0; index < 5; ++index) {
        last = http_get(address, "/v1/admin/tenants", kAdmin);
        statuses.push_back(last.status);
    }
    EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 429, 429}));
    EXPECT_TRUE(has(last.body, R"("error":"rate_limited")")) << last.body;
    ASSERT_TRUE(last.headers.contains("retry-after"));
    EXPECT_GE(std::stoi(last.headers["retry-after"]), 1);
    // /v1/whoami takes from the same bucket as every other keyed route.
    const auto who = http_get(address, "/v1/whoami", kAdmin);
    EXPECT_EQ(who.status, 429) << who.body;
    EXPECT_TRUE(who.headers.contains("retry-after"));
    limited.signal(SIGTERM);
    EXPECT_EQ(limited.wait(60s), std::optional<int>(0)) << limited.stderr_text();
}

TEST_F(QueryApiTest, FailedAuthenticationsAreRateLimitedPerClient) {
    // A fresh process: its failed-authentication bucket (10, then one a second) is untouched.
    ChildProcess fresh(
        "project-auth",
        {UL_BINARY, "project", "--bootstrap-file", bootstrap_file_, "--data-dir",
         (dir_->path() / "data-auth").string(), "--assign-all", "--config", plans_file_, "--listen",
         "127.0.0.1:0", "--admin-key", kAdmin, "--rate-limit", "1000", "--rate-burst", "1000"},
        dir_->path());
    const std::string address = bound_address(fresh);
    // Every guess is another key: the bucket is the client's (its address), not the key's.
    std::vector<int> statuses;
    ul::test::HttpReply last;
    for (int index = 0; index < 12; ++index) {
        const std::string target = index % 2 == 0 ? "/v1/tenants/acme/usage" : "/v1/whoami";
        last = http_get(address, target, "guess-" + std::to_string(index));
        statuses.push_back(last.status);
        if (index == 0) {
            EXPECT_TRUE(has(last.body, R"("error":"unauthorized")")) << last.body;
            EXPECT_EQ(last.headers["www-authenticate"], "Bearer");
        }
    }
    std::vector<int> expected(10, 401);
    expected.insert(expected.end(), {429, 429});
    EXPECT_EQ(statuses, expected);
    EXPECT_TRUE(has(last.body, R"("error":"rate_limited")")) << last.body;
    ASSERT_TRUE(last.headers.contains("retry-after"));
    EXPECT_GE(std::stoi(last.headers["retry-after"]), 1);
    EXPECT_EQ(http_get(address, "/v1/tenants/acme/usage").status, 429);  // no key: a failure too
    // A valid key is still served: failures cost the failing client only.
    EXPECT_EQ(http_get(address, "/v1/admin/tenants", kAdmin).status, 200);
    fresh.signal(SIGTERM);
    EXPECT_EQ(fresh.wait(60s), std::optional<int>(0)) << fresh.stderr_text();
}

}  // namespace

namespace {

TEST_F(QueryApiTest, APlanChangeMidMonthKeepsTheMonthsUsageUnderTheNewLimits) {
    // globex moves from free (api_calls limit 100) to pro (limit 1000) in the middle of its month:
    // the month's usage stays, the limit, percentage and flags follow the new plan at once.
    auto set_plan = [](const std::string& plan) {
        ChildProcess account(
            "account-globex-" + plan,
            {UL_BINARY, "account", "set", "--bootstrap-file", bootstrap_file_, "--tenant", "globex",
             "--plan", plan, "--api-key", "globex-key", "--config", plans_file_},
            dir_->path());
        EXPECT_EQ(account.wait(60s), std::optional<int>(0)) << account.stderr_text();
    };
    set_plan("pro");
    std::string body;
    EXPECT_TRUE(ul::test::wait_until(
        [&] {
            body = http_get(address_, "/v1/tenants/globex/usage", "globex-key").body;
            return has(body, R"("plan":"pro")");
        },
        60s))
        << body;
    EXPECT_TRUE(has(body, R"({"meter":"api_calls","used":"85","count":85,"known":true,)"
                          R"("limit":"1000","thresholds":["0.8","0.95","1"],)"
                          R"("remaining":"915","percentage":8.5,"unlimited":false,)"
                          R"("is_warning":false,)"))
        << body;
    EXPECT_TRUE(
        has(body, R"({"meter":"tokens","used":"10500","count":2,"known":true,"limit":null,)"))
        << body;
    set_plan("free");
    EXPECT_TRUE(ul::test::wait_until(
        [&] {
            body = http_get(address_, "/v1/tenants/globex/usage", "globex-key").body;
            return has(body, R"("plan":"free")") && has(body, R"("is_blocked":true)");
        },
        60s))
        << body;
}

}  // namespace

namespace {

// The value of the unlabelled counter `name` in a /metrics text; -1 when absent.
long long metric_value(const std::string& metrics, const std::string& name) {
    const std::string line = "\n" + name + " ";
    const auto at = metrics.find(line);
    if (at == std::string::npos) {
        return -1;
    }
    return std::stoll(metrics.substr(at + line.size()));
}

TEST_F(QueryApiTest, UnlimitedMetersHaveNoRemainingAndEntriesListTheirThresholds) {
    // Issue 17: an unlimited meter answered "remaining":"0" (it has no end). Limited meters list
    // the thresholds that decide their flags (here the file's 0.80 / 0.95 / 1.00).
    auto acme = http_get(address_, "/v1/tenants/acme/usage", "acme-key");
    ASSERT_EQ(acme.status, 200) << acme.body;
    EXPECT_TRUE(has(acme.body, R"({"meter":"tokens","used":"123456.789","count":1,"known":true,)"
                               R"("limit":null,"thresholds":[],"remaining":null,)"
                               R"("percentage":0,"unlimited":true,)"))
        << acme.body;
    EXPECT_TRUE(has(acme.body, R"("limit":"1000","thresholds":["0.8","0.95","1"],)"
                               R"("remaining":"997",)"))
        << acme.body;
    const auto unlimited =
        http_get(address_, "/v1/tenants/acme/entitlements/tokens?amount=1000000", "acme-key");
    EXPECT_TRUE(has(unlimited.body, R"("limit":null,"remaining":null,"unlimited":true)"))
        << unlimited.body;
}

TEST_F(QueryApiTest, UnknownTenantsMetersAndPlansAreExplicit) {
    // Issue 17: a typo'd tenant, a meter the plan does not list and an account naming a plan
    // this server does not know were all served as if nothing were wrong.
    const auto metrics_before = http_get(address_, "/metrics").body;
    const long long tenants_before = metric_value(metrics_before, "query_unknown_tenant_total");
    const long long meters_before = metric_value(metrics_before, "query_unknown_meter_total");
    ASSERT_GE(tenants_before, 0) << metrics_before;
    ASSERT_GE(meters_before, 0) << metrics_before;

    // A tenant without an account: served on the default plan, and saying so.
    auto nobody = http_get(address_, "/v1/tenants/acme-typo/usage", kAdmin);
    ASSERT_EQ(nobody.status, 200) << nobody.body;
    EXPECT_TRUE(has(nobody.body, R"({"tenant_id":"acme-typo","known":false,"plan":"free",)"))
        << nobody.body;
    auto check = http_get(address_, "/v1/tenants/acme-typo/entitlements/api_calls", kAdmin);
    EXPECT_TRUE(has(check.body, R"("unlimited":false,"known":false,"plan_known":true,)"))
        << check.body;
    auto known = http_get(address_, "/v1/tenants/globex/usage", "globex-key");
    EXPECT_TRUE(has(known.body, R"({"tenant_id":"globex","known":true,"plan":"free",)"))
        << known.body;

    // A meter the plan does not list, used: its entry says "known":false.
    const std::string events = (dir_->path() / "unknown-meter.jsonl").string();
    std::ofstream(events) << R"({"idempotency_key":"unknown-meter-1","tenant_id":"globex",)"
                          << R"("meter":"gpu_seconds","quantity":"7","timestamp":")"
                          << ul::test::utc_now_rfc3339() << "\"}\n";
    ChildProcess emit("emit-unknown-meter",
                      {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file_, "--file", events},
                      dir_->path());
    ASSERT_EQ(emit.wait(60s), std::optional<int>(0)) << emit.stderr_text();
    std::string body;
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            body = http_get(address_, "/v1/tenants/globex/usage", "globex-key").body;
            return has(body, R"("meter":"gpu_seconds")");
        },
        60s))
        << body;
    EXPECT_TRUE(has(body, R"({"meter":"gpu_seconds","used":"7","count":1,"known":false,)"
                          R"("limit":null,"thresholds":[],"remaining":null,)"))
        << body;
    EXPECT_TRUE(has(body, R"({"meter":"api_calls","used":"85","count":85,"known":true,)")) << body;

    const auto metrics_after = http_get(address_, "/metrics").body;
    EXPECT_EQ(metric_value(metrics_after, "query_unknown_tenant_total"), tenants_before + 2)
        << metrics_after;
    EXPECT_GE(metric_value(metrics_after, "query_unknown_meter_total"), meters_before + 1)
        << metrics_after;
    EXPECT_TRUE(has(metrics_after, "# TYPE query_unknown_tenant_total counter")) << metrics_after;
    EXPECT_TRUE(has(metrics_after, "# TYPE query_unknown_meter_total counter")) << metrics_after;

    // `account set` refuses a plan the given plans file lacks: one line, exit 2.
    ChildProcess refused("account-initech-refused",
                         {UL_BINARY, "account", "set", "--bootstrap-file", bootstrap_file_,
                          "--tenant", "initech", "--plan", "gold", "--config", plans_file_},
                         dir_->path());
    EXPECT_EQ(refused.wait(60s), std::optional<int>(2)) << refused.stderr_text();
    EXPECT_EQ(refused.stderr_text(),
              "usage-ledger: --plan gold is not in the plans file (free, pro)\n");

    // An account written with another plans file names a plan this server lacks: served on
    // the default plan, saying so, and this server refuses to write that account back.
    const std::string other_plans = (dir_->path() / "gold-plans.json").string();
    std::ofstream(other_plans) << R"({"default_plan":"gold","plans":[{"id":"gold","name":"Gold",)"
                               << R"("meters":{"api_calls":{"limit":"5"}}}]})";
    ChildProcess account(
        "account-initech",
        {UL_BINARY, "account", "set", "--bootstrap-file", bootstrap_file_, "--tenant", "initech",
         "--plan", "gold", "--api-key", "initech-key", "--config", other_plans},
        dir_->path());
    ASSERT_EQ(account.wait(60s), std::optional<int>(0)) << account.stderr_text();
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            body = http_get(address_, "/v1/tenants/initech/usage", kAdmin).body;
            return has(body, R"("known":true)");
        },
        60s))
        << body;
    EXPECT_TRUE(has(body, R"({"tenant_id":"initech","known":true,"plan":"free",)"
                          R"("plan_known":false,"account_plan":"gold",)"))
        << body;
    const auto rule = http_request(
        address_, "POST", "/v1/tenants/initech/alert-rules",
        {{"Authorization", std::string("Bearer ") + kAdmin}, {"Content-Type", "application/json"}},
        R"({"meter":"api_calls","period":"month","threshold":{"percent":"0.5"}})");
    EXPECT_EQ(rule.status, 409) << rule.body;
    EXPECT_TRUE(has(rule.body, R"("error":"unknown_plan")")) << rule.body;
}

}  // namespace
