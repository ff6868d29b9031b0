// The pure rules of `billing reconcile` (projections/billing/billing_reconcile.h).
#include "projections/billing/billing_reconcile.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ul::BillingCellKey;
using ul::BillingCellState;
using ul::BillingDifference;
using ul::BillingReconcileOptions;
using ul::BillingTotals;
using ul::Decimal;
using ul::DecimalSum;

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kMarch = 1'740'787'200;  // 2025-03-01T00:00:00Z
constexpr std::int64_t kApril = 1'743'465'600;  // 2025-04-01T00:00:00Z
const ul::Period kMarchPeriod{kMarch * kSecond, kApril* kSecond};
constexpr std::int64_t kAfterGrace = kApril + 2 * 3600;  // closed, past a 1 h grace
const ul::StripeMeterIds kMeters{{"api_calls", "mtr_api"}};

BillingCellState cell(const std::string& tenant, std::int64_t usage_units, const char* unit,
                      std::optional<BillingTotals> totals, const std::string& customer = "cus_1") {
    BillingCellState state;
    state.key = BillingCellKey{
        tenant, "calls", customer, "api_calls", *Decimal::parse_quantity(unit), kMarchPeriod};
    state.usage = DecimalSum::from_micros(static_cast<__int128>(usage_units) * kSecond);
    state.totals = totals;
    return state;
}

BillingTotals sent(std::int64_t units) {
    BillingTotals totals;
    totals.decided = units;
    totals.reports = 1;
    totals.sent = units;
    return totals;
}

ul::StripeTotals stripe_total(std::int64_t total, const std::string& customer = "cus_1") {
    const auto window = ul::stripe_summary_window(kMarchPeriod);
    return {{{customer, "api_calls", window.start_s, window.end_s}, total}};
}

BillingReconcileOptions at(std::int64_t now_s) {
    BillingReconcileOptions options;
    options.now_s = now_s;
    return options;
}

TEST(BillingReconcile, WindowRoundsStartDownAndEndUpToWholeMinutes) {
    const ul::Period period{kMarch * kSecond + 90 * kSecond + 5, kApril * kSecond - 30 * kSecond};
    const auto window = ul::stripe_summary_window(period);
    EXPECT_EQ(window.start_s, kMarch + 60);
    EXPECT_EQ(window.end_s, kApril);
    EXPECT_EQ(ul::stripe_summary_window(kMarchPeriod), (ul::StripeWindow{kMarch, kApril}));
}

TEST(BillingReconcile, AgreeingCellsHaveNoDifference) {
    const std::vector cells{cell("acme", 2500, "1000", sent(2))};
    const auto report = ul::reconcile_billing(cells, stripe_total(2), kMeters, at(kAfterGrace));
    EXPECT_EQ(report.cells, 1U);
    EXPECT_TRUE(report.differences.empty());
    EXPECT_TRUE(report.pending.empty());
    EXPECT_EQ(ul::billing_reconcile_json(report),
              "{\"cells\":1,\"differences\":[],\"pending\":[]}");
}

TEST(BillingReconcile, StripeTotalOtherThanSentIsADifferenceNamingTheCell) {
    const std::vector cells{cell("acme", 3000, "1000", sent(3))};
    const auto report = ul::reconcile_billing(cells, stripe_total(5), kMeters, at(kAfterGrace));
    ASSERT_EQ(report.differences.size(), 1U);
    const auto& difference = report.differences[0];
    EXPECT_EQ(difference.kind, BillingDifference::Kind::stripe);
    EXPECT_EQ(difference.ours, 3);
    EXPECT_EQ(difference.theirs, 5);
    EXPECT_EQ(ul::describe(difference),
              "stripe: tenant=acme meter=calls customer=cus_1 event_name=api_calls "
              "period_start=2025-03-01T00:00:00Z: Stripe's summary total is 5, we sent 3");
}

TEST(BillingReconcile, CellsSharingCustomerEventAndPeriodAreSummedBeforeComparing) {
    // Two tenants billed to one customer, and a unit change mid-period in one of them.
    const std::vector cells{cell("acme", 2000, "1000", sent(2)), cell("acme", 30, "10", sent(3)),
                            cell("beta", 4, "1", sent(4))};
    auto report = ul::reconcile_billing(cells, stripe_total(9), kMeters, at(kAfterGrace));
    EXPECT_EQ(report.cells, 3U);
    EXPECT_TRUE(report.differences.empty());
    report = ul::reconcile_billing(cells, stripe_total(8), kMeters, at(kAfterGrace));
    ASSERT_EQ(report.differences.size(), 1U);
    EXPECT_EQ(report.differences[0].tenant_id, "acme,beta");
    EXPECT_EQ(report.differences[0].ours, 9);
    // Filtered to one tenant, the group still sums the other tenant's cells.
    auto options = at(kAfterGrace);
    options.tenant = "beta";
    report = ul::reconcile_billing(cells, stripe_total(9), kMeters, options);
    EXPECT_EQ(report.cells, 1U);
    EXPECT_TRUE(report.differences.empty());
    EXPECT_EQ(ul::stripe_summaries_needed(cells, kMeters, options).size(), 1U);
    options.tenant = "nobody";
    EXPECT_TRUE(ul::stripe_summaries_needed(cells, kMeters, options).empty());
    EXPECT_EQ(ul::reconcile_billing(cells, {}, kMeters, options).cells, 0U);
}

TEST(BillingReconcile, UndecidedUnitsArePendingWhileOpenOrInGraceThenDifferences) {
    const std::vector cells{cell("acme", 5000, "1000", sent(3))};
    for (const std::int64_t now_s : {kMarch + 86400, kApril + 1800}) {  // open; in the grace
        const auto report = ul::reconcile_billing(cells, stripe_total(3), kMeters, at(now_s));
        EXPECT_TRUE(report.differences.empty()) << now_s;
        ASSERT_EQ(report.pending.size(), 1U);
        EXPECT_EQ(report.pending[0].ours, 2);
        EXPECT_NE(ul::describe(report.pending[0]).find("pending 2"), std::string::npos);
    }
    auto strict = at(kMarch + 86400);
    strict.strict = true;
    auto report = ul::reconcile_billing(cells, stripe_total(3), kMeters, strict);
    ASSERT_EQ(report.differences.size(), 1U);
    EXPECT_EQ(report.differences[0].kind, BillingDifference::Kind::counters);
    report = ul::reconcile_billing(cells, stripe_total(3), kMeters, at(kAfterGrace));
    ASSERT_EQ(report.differences.size(), 1U);
    EXPECT_EQ(report.differences[0].kind, BillingDifference::Kind::counters);
    EXPECT_EQ(report.differences[0].ours, 3);
    EXPECT_EQ(report.differences[0].theirs, 5);
    EXPECT_TRUE(report.pending.empty());
}

TEST(BillingReconcile, MoreDecidedThanCountedIsAlwaysADifference) {
    const std::vector cells{cell("acme", 1000, "1000", sent(2))};
    const auto report = ul::reconcile_billing(cells, stripe_total(2), kMeters, at(kMarch + 60));
    ASSERT_EQ(report.differences.size(), 1U);
    EXPECT_EQ(report.differences[0].kind, BillingDifference::Kind::counters);
}

TEST(BillingReconcile, FailedAndUnreportableUnitsAreNotBilled) {
    BillingTotals totals;
    totals.decided = 10;
    totals.reports = 3;
    totals.sent = 4;
    totals.failed = 2;
    totals.unreportable = 4;
    const std::vector cells{cell("acme", 10, "1", totals)};
    const auto report = ul::reconcile_billing(cells, stripe_total(4), kMeters, at(kAfterGrace));
    ASSERT_EQ(report.differences.size(), 2U);
    EXPECT_EQ(report.differences[0].kind, BillingDifference::Kind::failed);
    EXPECT_NE(report.differences[0].message.find("2 units failed: not billed"), std::string::npos);
    EXPECT_EQ(report.differences[1].kind, BillingDifference::Kind::unreportable);
    EXPECT_NE(report.differences[1].message.find("4 units unreportable: not billed"),
              std::string::npos);
}

TEST(BillingReconcile, AnEventNameWithoutAStripeMeterIsADifference) {
    const std::vector cells{cell("acme", 0, "1", std::nullopt)};
    const auto report = ul::reconcile_billing(cells, {}, {}, at(kAfterGrace));
    ASSERT_EQ(report.differences.size(), 1U);
    EXPECT_EQ(report.differences[0].kind, BillingDifference::Kind::no_meter);
    EXPECT_TRUE(ul::stripe_summaries_needed(cells, {}, at(kAfterGrace)).empty());
}

TEST(BillingReconcile, AMissingStripeSummaryIsADifference) {
    const std::vector cells{cell("acme", 0, "1", std::nullopt)};
    const auto report = ul::reconcile_billing(cells, {}, kMeters, at(kAfterGrace));
    ASSERT_EQ(report.differences.size(), 1U);
    EXPECT_EQ(report.differences[0].kind, BillingDifference::Kind::stripe);
}

TEST(BillingReconcile, PeriodFilterKeepsTheCellsWhosePeriodHoldsTheInstant) {
    const std::vector cells{cell("acme", 1, "1", sent(1))};
    auto options = at(kAfterGrace);
    options.period_us = kMarch * kSecond;
    EXPECT_EQ(ul::reconcile_billing(cells, stripe_total(1), kMeters, options).cells, 1U);
    options.period_us = kApril * kSecond;
    EXPECT_EQ(ul::reconcile_billing(cells, stripe_total(1), kMeters, options).cells, 0U);
}

TEST(BillingReconcile, JoinKeepsCellsKnownToOnlyOneStore) {
    const auto a = cell("acme", 7, "1", std::nullopt);
    const auto b = cell("beta", 0, "1", std::nullopt);
    const auto joined =
        ul::join_billing_cells({{a.key, a.usage}}, {{a.key, sent(7)}, {b.key, sent(1)}});
    ASSERT_EQ(joined.size(), 2U);
    EXPECT_TRUE(joined[0].in_projection);
    EXPECT_EQ(joined[0].totals->sent, 7);
    EXPECT_FALSE(joined[1].in_projection);
    const auto report = ul::reconcile_billing(joined, stripe_total(8), kMeters, at(kAfterGrace));
    ASSERT_EQ(report.differences.size(), 1U);  // beta: 0 counted, 1 decided
    EXPECT_EQ(report.differences[0].tenant_id, "beta");
    EXPECT_NE(report.differences[0].message.find("no billing cell in the projection store"),
              std::string::npos);
}

}  // namespace
