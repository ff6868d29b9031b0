// The billing projection's pure parts (projections/billing/billing_cells.h): keys round-trip,
// floor(used / unit) carries the remainder, when a report is made and with which timestamp, and
// deterministic identifiers.
#include <gtest/gtest.h>

#include "projections/billing/billing_cells.h"

namespace {

using ul::Decimal;
using ul::DecimalSum;
using ul::ReportDecision;

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kDec = 1'796'083'200LL;  // 2026-12-01T00:00:00Z, seconds
constexpr std::int64_t kJan = 1'798'761'600LL;  // 2027-01-01T00:00:00Z
const ul::Period kDecember{kDec * kSecond, kJan* kSecond};

Decimal dec(const char* text) {
    return *Decimal::parse_quantity(text);
}

TEST(BillingCells, KeysRoundTripAndSortByTenant) {
    const ul::BillingCellKey key{"acme", "tokens", "cus_1", "llm_tokens", dec("1000"), kDecember};
    const std::string bytes = ul::billing_key(key);
    auto decoded = ul::decode_billing_key(bytes);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(*decoded, key);
    EXPECT_EQ(bytes.rfind(ul::billing_prefix("acme"), 0), 0U);
    EXPECT_FALSE(ul::decode_billing_key("acme"));
}

TEST(BillingCells, UnitsAreTheFloorAndTheRemainderCarries) {
    EXPECT_EQ(*ul::stripe_units(DecimalSum::from_micros(2'999'999'999), dec("1000")), 2);
    EXPECT_EQ(*ul::stripe_units(DecimalSum::from_micros(3'000'000'000), dec("1000")), 3);
    EXPECT_EQ(*ul::stripe_units(DecimalSum::from_micros(1'500'000), dec("1")), 1);
    EXPECT_FALSE(ul::stripe_units(DecimalSum::from_micros(-1), dec("1")));
    EXPECT_FALSE(ul::stripe_units(DecimalSum::from_micros(static_cast<__int128>(1) << 100),
                                  dec("0.000001")));
}

TEST(BillingCells, OpenPeriodsReportNowClosedOnesAfterTheGraceAtTheirLastSecond) {
    const std::int64_t grace = 3600;
    // Nothing new: nothing.
    EXPECT_EQ(ul::decide_report(5, 5, kDecember, kDec + 100, grace).kind,
              ReportDecision::Kind::none);
    // Open: the delta, now.
    auto open = ul::decide_report(7, 5, kDecember, kDec + 100, grace);
    EXPECT_EQ(open.kind, ReportDecision::Kind::report);
    EXPECT_EQ(open.value, 2);
    EXPECT_EQ(open.timestamp_s, kDec + 100);
    // Closed, inside the grace: wait.
    EXPECT_EQ(ul::decide_report(7, 5, kDecember, kJan + 60, grace).kind,
              ReportDecision::Kind::none);
    // After the grace: the final report at the period's last second.
    auto closed = ul::decide_report(7, 5, kDecember, kJan + grace, grace);
    EXPECT_EQ(closed.kind, ReportDecision::Kind::report);
    EXPECT_EQ(closed.timestamp_s, kJan - 1);
    // Past Stripe's 35 days: unreportable, with the reason.
    auto old = ul::decide_report(7, 5, kDecember, kJan + 36 * 86400, grace);
    EXPECT_EQ(old.kind, ReportDecision::Kind::unreportable);
    EXPECT_EQ(old.value, 2);
    EXPECT_NE(old.reason.find("35 days"), std::string::npos);
    // A period ahead of the clock waits until it begins.
    EXPECT_EQ(ul::decide_report(7, 5, kDecember, kDec - 600, grace).kind,
              ReportDecision::Kind::none);
}

TEST(BillingCells, StripesWindowAndIdentifiers) {
    EXPECT_TRUE(ul::inside_stripe_window(kDec, kDec + 34 * 86400));
    EXPECT_FALSE(ul::inside_stripe_window(kDec, kDec + 35 * 86400));
    EXPECT_FALSE(ul::inside_stripe_window(kDec + 301, kDec));
    const std::string cell =
        ul::billing_key({"acme", "api_calls", "cus_1", "api_calls", dec("1"), kDecember});
    EXPECT_EQ(ul::report_identifier(cell, 0), ul::report_identifier(cell, 0));
    EXPECT_NE(ul::report_identifier(cell, 0), ul::report_identifier(cell, 1));
    EXPECT_EQ(ul::report_identifier(cell, 3).rfind("ulb_", 0), 0U);
    EXPECT_EQ(ul::report_identifier(cell, 3).size(), 36U);
    EXPECT_EQ(ul::report_idempotency_key(cell, 3).substr(11),
              ul::report_identifier(cell, 3).substr(4));
}

TEST(BillingCells, OnlyACustomerAndAStripeMeterBill) {
    ul::PlanBook plans;
    plans.default_plan = "pro";
    ul::Plan pro;
    pro.id = "pro";
    ul::MeterPlan tokens;
    tokens.meter = "tokens";
    tokens.stripe_event_name = "llm_tokens";
    tokens.stripe_unit = dec("1000");
    ul::MeterPlan calls;
    calls.meter = "api_calls";
    pro.meters = {tokens, calls};
    plans.plans.push_back(pro);
    ul::Account account;
    account.tenant_id = "acme";
    account.plan = "pro";
    EXPECT_FALSE(ul::stripe_meter_for(plans, &account, "tokens"));  // no customer
    EXPECT_FALSE(ul::stripe_meter_for(plans, nullptr, "tokens"));
    account.stripe_customer_id = "cus_9";
    const auto billed = ul::stripe_meter_for(plans, &account, "tokens");
    ASSERT_TRUE(billed);
    EXPECT_EQ(billed->event_name, "llm_tokens");
    EXPECT_EQ(billed->unit, dec("1000"));
    EXPECT_FALSE(ul::stripe_meter_for(plans, &account, "api_calls"));  // no Stripe meter
    EXPECT_FALSE(ul::stripe_meter_for(plans, &account, "nope"));
}

}  // namespace
