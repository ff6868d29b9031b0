// Hard limits, pure: the decision over a batch (ledger/limits.h), the cells' store keys, and
// which meters are hard-limited for whom over which period (projections/runner/limit_policy.h,
// schemas/plans.h "enforcement").
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ledger/limits.h"
#include "projections/runner/limit_policy.h"
#include "projections/runner/windows.h"
#include "schemas/plans.h"
#include "schemas/time.h"

namespace ul {
namespace {

Decision accepted() {
    return Decision{Verdict::accepted, Reason::malformed_json, kDecidedByStore};
}
Decision duplicate() {
    return Decision{Verdict::duplicate, Reason::malformed_json, 0};
}

TEST(HardLimits, AcceptedEventsFillTheCellInBatchOrderAndTheRestAreRejected) {
    std::vector<LimitCell> cells = {LimitCell{3'000'000, 10'000'000, 99}, LimitCell{0, 1, 99}};
    const std::vector<LimitCheck> checks = {{0, 4'000'000}, {0, 4'000'000}, {-1, 50'000'000},
                                            {0, 2'000'000}, {0, 1'000'000}, {1, 1},
                                            {1, 1},         {0, 0}};
    std::vector<Decision> decisions = {accepted(), accepted(), accepted(), duplicate(),
                                       accepted(), accepted(), accepted(), accepted()};
    std::vector<std::int64_t> used(checks.size(), -1);
    decide_hard_limits(checks, cells, decisions, used);
    EXPECT_EQ(decisions[0].verdict, Verdict::accepted);        // 3 + 4 = 7
    EXPECT_EQ(decisions[1].verdict, Verdict::rejected_limit);  // 7 + 4 > 10
    EXPECT_EQ(decisions[1].reason, Reason::limit_exceeded);
    EXPECT_EQ(decisions[2].verdict, Verdict::accepted);   // no cell: not limited
    EXPECT_EQ(decisions[3].verdict, Verdict::duplicate);  // not an accepted one: left alone
    EXPECT_EQ(decisions[4].verdict, Verdict::accepted);   // 7 + 1 = 8: a smaller one still fits
    EXPECT_EQ(decisions[5].verdict, Verdict::accepted);   // exactly the limit
    EXPECT_EQ(decisions[6].verdict, Verdict::rejected_limit);
    EXPECT_EQ(decisions[7].verdict, Verdict::accepted);  // zero always fits
    EXPECT_EQ(used, (std::vector<std::int64_t>{7'000'000, 7'000'000, 0, 7'000'000, 8'000'000, 1, 1,
                                               8'000'000}));
    EXPECT_EQ(cells[0].used_micros, 8'000'000);
    EXPECT_EQ(cells[1].used_micros, 1);
}

TEST(HardLimits, CellKeysAreFixedWidthDistinctAndOrderedByPeriod) {
    const auto a = limit_cell_key("acme", "api_calls", 1'000);
    EXPECT_EQ(a.size(), kLimitCellKeyBytes);
    EXPECT_EQ(a[0], 'l');
    EXPECT_EQ(a, limit_cell_key("acme", "api_calls", 1'000));
    EXPECT_NE(a, limit_cell_key("acme", "api_callz", 1'000));
    EXPECT_NE(a, limit_cell_key("acm", "eapi_calls", 1'000));  // the separator matters
    EXPECT_NE(a, limit_cell_key("globex", "api_calls", 1'000));
    const auto later = limit_cell_key("acme", "api_calls", 2'000);
    const auto before_epoch = limit_cell_key("acme", "api_calls", -5);
    EXPECT_TRUE(std::equal(a.begin(), a.begin() + 17, later.begin()));  // same prefix
    // RocksDB compares bytes unsigned (memcmp), not as std::array<char> does.
    EXPECT_LT(std::memcmp(a.data(), later.data(), a.size()), 0);
    EXPECT_LT(std::memcmp(before_epoch.data(), a.data(), a.size()), 0);
}

const char* kPlans = R"({"currency":"usd","default_plan":"free","plans":[
  {"id":"free","name":"Free","meters":{
     "api_calls":{"limit":"1000","enforcement":"hard"},
     "tokens":{"limit":"50000"}}},
  {"id":"pro","name":"Pro","meters":{"api_calls":{"limit":"100000","enforcement":"soft"}}}]})";

TEST(HardLimits, PlansSayWhichMetersAreHard) {
    auto plans = parse_plans(kPlans);
    ASSERT_TRUE(plans) << plans.error();
    EXPECT_TRUE(has_hard_limits(*plans));
    EXPECT_TRUE(plans->find("free")->find("api_calls")->hard);
    EXPECT_FALSE(plans->find("free")->find("tokens")->hard);
    EXPECT_FALSE(plans->find("pro")->find("api_calls")->hard);

    auto unlimited = parse_plans(
        R"({"default_plan":"f","plans":[{"id":"f","name":"F","meters":{"m":{"limit":null,"enforcement":"hard"}}}]})");
    ASSERT_FALSE(unlimited);
    EXPECT_NE(unlimited.error().find("needs a limit"), std::string::npos) << unlimited.error();
    auto bad = parse_plans(
        R"({"default_plan":"f","plans":[{"id":"f","name":"F","meters":{"m":{"limit":"1","enforcement":"strict"}}}]})");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("plans[0].meters.m.enforcement"), std::string::npos) << bad.error();
}

TEST(HardLimits, TheAccountInForceGivesThePlanAndTheBillingPeriod) {
    auto plans = parse_plans(kPlans);
    ASSERT_TRUE(plans) << plans.error();
    const std::int64_t time = *parse_rfc3339("2026-11-24T12:00:00Z");
    // No account: the default plan (free), the UTC calendar month.
    const BillingCalendar utc;
    auto limit = hard_limit_of(*plans, AccountInForce{nullptr, utc}, "api_calls", time);
    ASSERT_TRUE(limit);
    EXPECT_EQ(limit->limit_micros, 1000'000'000);
    EXPECT_EQ(limit->period_start_us, *parse_rfc3339("2026-11-01T00:00:00Z"));
    EXPECT_EQ(limit->period_end_us, *parse_rfc3339("2026-12-01T00:00:00Z"));
    EXPECT_FALSE(hard_limit_of(*plans, AccountInForce{nullptr, utc}, "tokens", time));
    EXPECT_FALSE(hard_limit_of(*plans, AccountInForce{nullptr, utc}, "unknown", time));
    // An account on pro (soft) and one on an unknown plan: not hard-limited.
    Account pro;
    pro.tenant_id = "acme";
    pro.plan = "pro";
    EXPECT_FALSE(hard_limit_of(*plans, AccountInForce{&pro, utc}, "api_calls", time));
    Account unknown = pro;
    unknown.plan = "gold";
    EXPECT_FALSE(hard_limit_of(*plans, AccountInForce{&unknown, utc}, "api_calls", time));
    // A free account billed from the 15th in New York.
    Account free = pro;
    free.plan = "free";
    auto calendar = make_billing_calendar(15, "America/New_York");
    ASSERT_TRUE(calendar);
    limit = hard_limit_of(*plans, AccountInForce{&free, *calendar}, "api_calls", time);
    ASSERT_TRUE(limit);
    EXPECT_EQ(limit->period_start_us, *parse_rfc3339("2026-11-15T05:00:00Z"));
    EXPECT_EQ(limit->period_end_us, *parse_rfc3339("2026-12-15T05:00:00Z"));
}

}  // namespace
}  // namespace ul
