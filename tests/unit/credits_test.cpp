// Prepaid credits, pure (schemas/wallet.h): burn order, exact decimals, expiry, the monthly
// allowance with its rollover cap, a hard meter's refusal, and the text form.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "projections/runner/limit_policy.h"
#include "projections/runner/windows.h"
#include "schemas/plans.h"
#include "schemas/time.h"
#include "schemas/wallet.h"

namespace ul {
namespace {

constexpr std::int64_t kUnit = 1'000'000;
constexpr std::int64_t kDay = 24LL * 3600 * 1'000'000;

std::int64_t at(const char* text) {
    return *parse_rfc3339(text);
}

CreditOp grant(const char* id, std::int64_t micros, std::int32_t priority,
               std::int64_t expires_us = kNoExpiry) {
    return CreditOp{true, id, "admin", priority, expires_us, micros};
}
CreditOp burn(std::int64_t micros) {
    return CreditOp{false, "use", "", 0, kNoExpiry, micros};
}

TEST(Credits, BurnsByPriorityThenEarliestExpiryThenOldest) {
    Wallet wallet;
    const CreditRule soft;
    const std::int64_t t0 = at("2026-12-01T00:00:00Z");
    apply_wallet(wallet, soft, grant("late-p5", 10 * kUnit, 5), t0);
    apply_wallet(wallet, soft, grant("p1-never", 3 * kUnit, 1), t0 + 1);
    apply_wallet(wallet, soft, grant("p1-soon", 2'500'000, 1, t0 + 10 * kDay), t0 + 2);
    // Added last, but its event time is the earliest: it is the older of the two priority-5 grants.
    apply_wallet(wallet, soft, grant("early-p5", 10 * kUnit, 5), t0 - 5);
    const WalletChange change = apply_wallet(wallet, soft, burn(7'250'001), t0 + 3);
    ASSERT_FALSE(change.refused);
    const std::vector<CreditMove> expected = {
        {"p1-soon", 2'500'000}, {"p1-never", 3 * kUnit}, {"early-p5", 1'750'001}};
    EXPECT_EQ(change.burned, expected);
    EXPECT_EQ(change.uncovered_micros, 0);
    EXPECT_EQ(change.balance_after_micros, 25'500'000 - 7'250'001);
    EXPECT_EQ(wallet_balance(wallet, t0 + 3), 18'249'999);  // exact to the micro-credit
    ASSERT_EQ(wallet.grants.size(), 2U);                    // used-up grants left the wallet
}

TEST(Credits, AHardBurnTheWalletCannotCoverIsRefusedAndChangesNothing) {
    Wallet wallet;
    CreditRule hard;
    hard.hard = true;
    hard.credits_per_unit_micros = kUnit;
    const std::int64_t t0 = at("2026-12-01T00:00:00Z");
    apply_wallet(wallet, hard, grant("g", 5 * kUnit, 1, t0 + kDay), t0);
    const Wallet before = wallet;
    const WalletChange refused = apply_wallet(wallet, hard, burn(5 * kUnit + 1), t0 + 2 * kDay);
    EXPECT_TRUE(refused.refused);  // the grant expired: nothing covers it
    EXPECT_EQ(wallet, before);
    const WalletChange taken = apply_wallet(wallet, hard, burn(5 * kUnit), t0 + 1);
    EXPECT_FALSE(taken.refused);
    EXPECT_EQ(taken.balance_after_micros, 0);
    EXPECT_TRUE(apply_wallet(wallet, hard, burn(1), t0 + 2).refused);  // never below zero
    CreditRule soft = hard;
    soft.hard = false;
    const WalletChange uncovered = apply_wallet(wallet, soft, burn(3 * kUnit), t0 + 3);
    EXPECT_FALSE(uncovered.refused);
    EXPECT_EQ(uncovered.uncovered_micros, 3 * kUnit);
    EXPECT_EQ(uncovered.balance_after_micros, 0);
}

TEST(Credits, ExpiredGrantsLeaveAtTheFirstEntryPastTheirExpiry) {
    Wallet wallet;
    const CreditRule soft;
    const std::int64_t t0 = at("2026-12-01T00:00:00Z");
    apply_wallet(wallet, soft, grant("short", 4 * kUnit, 0, t0 + kDay), t0);
    apply_wallet(wallet, soft, grant("long", 1 * kUnit, 9), t0);
    EXPECT_EQ(wallet_balance(wallet, t0 + kDay - 1), 5 * kUnit);
    EXPECT_EQ(wallet_balance(wallet, t0 + kDay), 1 * kUnit);  // expiry is exclusive
    const WalletChange change = apply_wallet(wallet, soft, burn(kUnit / 2), t0 + kDay);
    EXPECT_EQ(change.expired_micros, 4 * kUnit);
    EXPECT_EQ(change.burned, (std::vector<CreditMove>{{"long", kUnit / 2}}));
}

TEST(Credits, TheMonthlyAllowanceResetsAtTheBillingAnchorInTheTenantsZone) {
    // Anchor day 15 in New York: the month starts at 2026-12-15T05:00:00Z (EST, UTC-5).
    auto calendar = make_billing_calendar(15, "America/New_York");
    ASSERT_TRUE(calendar.ok()) << calendar.error();
    auto plans = parse_plans(R"({"default_plan":"p","plans":[{"id":"p","monthly_credits":"100",
        "rollover_cap":"30","meters":{"tokens":{"limit":null,"credits_per_unit":"0.001"}}}]})");
    ASSERT_TRUE(plans.ok()) << plans.error();
    const AccountInForce in_force{nullptr, *calendar};
    Wallet wallet;
    auto step = [&](const char* time, std::string_view meter, CreditOp op) {
        const std::int64_t t = at(time);
        const auto rule = credit_rule_of(*plans, in_force, meter, t);
        EXPECT_TRUE(rule.has_value());
        return apply_wallet(wallet, *rule, op, t);
    };
    // November's month (2026-11-15 05:00Z .. 2026-12-15 05:00Z): 100 credits, 60 used.
    WalletChange change = step("2026-12-14T12:00:00Z", "tokens", burn(60 * kUnit));
    EXPECT_EQ(change.allowance_micros, 100 * kUnit);
    EXPECT_EQ(change.balance_after_micros, 40 * kUnit);
    // One microsecond before the local midnight of the 15th: still November's month.
    change = step("2026-12-15T04:59:59.999999Z", "tokens", burn(5 * kUnit));
    EXPECT_EQ(change.allowance_micros, 0);
    EXPECT_EQ(change.balance_after_micros, 35 * kUnit);
    // At it: 35 left, 30 roll over (the cap), 100 new.
    change = step("2026-12-15T05:00:00Z", "tokens", burn(0));
    EXPECT_EQ(change.carried_over_micros, 30 * kUnit);
    EXPECT_EQ(change.allowance_micros, 130 * kUnit);
    EXPECT_EQ(change.expired_micros, 0);  // the old allowance was replaced, not expired
    EXPECT_EQ(change.balance_after_micros, 130 * kUnit);
    // The cost of 1,234,567 tokens at 0.001: 1234.567 credits; 130 cover part of it.
    const auto rule = credit_rule_of(*plans, in_force, "tokens", at("2026-12-16T00:00:00Z"));
    ASSERT_TRUE(rule.has_value());
    UsageEvent event;
    event.idempotency_key = "k";
    event.tenant_id = "t";
    event.meter = "tokens";
    event.quantity = *Decimal::parse_quantity("1234567");
    auto op = credit_op_of(event, *rule);
    ASSERT_TRUE(op.ok());
    EXPECT_EQ(op->micros, 1'234'567'000);
    change = step("2026-12-16T00:00:00Z", "tokens", *op);
    EXPECT_EQ(change.uncovered_micros, 1'234'567'000 - 130 * kUnit);
    EXPECT_EQ(change.balance_after_micros, 0);
    // A meter that burns nothing has no rule; a grant always has one.
    EXPECT_FALSE(credit_rule_of(*plans, in_force, "api_calls", at("2026-12-16T00:00:00Z")));
    EXPECT_TRUE(credit_rule_of(*plans, in_force, kCreditGrantMeter, at("2026-12-16T00:00:00Z")));
}

TEST(Credits, AGrantReadsItsPropertiesAndRefusesBadOnes) {
    UsageEvent event;
    event.idempotency_key = "g1";
    event.tenant_id = "t";
    event.meter = kCreditGrantMeter;
    event.quantity = *Decimal::parse_quantity("12.5");
    event.properties[0] = {"priority", "3", PropertyKind::number};
    event.properties[1] = {"expires_at", "2027-01-01T00:00:00Z", PropertyKind::string};
    event.properties[2] = {"source", "stripe checkout", PropertyKind::string};
    event.property_count = 3;
    auto op = credit_op_of(event, CreditRule{});
    ASSERT_TRUE(op.ok()) << op.error();
    EXPECT_TRUE(op->grant);
    EXPECT_EQ(op->micros, 12'500'000);
    EXPECT_EQ(op->priority, 3);
    EXPECT_EQ(op->expires_us, at("2027-01-01T00:00:00Z"));
    EXPECT_EQ(op->source, "stripe checkout");
    event.properties[0] = {"priority", "1001", PropertyKind::number};
    EXPECT_FALSE(credit_op_of(event, CreditRule{}).ok());
    event.properties[0] = {"priority", "1", PropertyKind::number};
    event.properties[1] = {"expires_at", "soon", PropertyKind::string};
    EXPECT_FALSE(credit_op_of(event, CreditRule{}).ok());
}

TEST(Credits, TheTextFormRoundTrips) {
    Wallet wallet;
    apply_wallet(wallet, CreditRule{}, grant("a", 1, 2, 3'000'000), 1);
    apply_wallet(wallet, CreditRule{}, CreditOp{true, "b", "with\ttab", 0, kNoExpiry, 7}, 2);
    const std::string text = encode_wallet(wallet);
    EXPECT_EQ(decode_wallet(text), wallet);
    EXPECT_FALSE(decode_wallet(text.substr(0, text.size() - 1)).has_value());
    EXPECT_FALSE(decode_wallet("").has_value());
    EXPECT_EQ(decode_wallet(encode_wallet(Wallet{})), Wallet{});
}

TEST(Credits, PlansRefuseAHardMeterWithBothALimitAndCredits) {
    EXPECT_FALSE(parse_plans(R"({"default_plan":"p","plans":[{"id":"p","meters":{"t":{"limit":"5",
        "enforcement":"hard","credits_per_unit":"1"}}}]})")
                     .ok());
    EXPECT_TRUE(parse_plans(R"({"default_plan":"p","plans":[{"id":"p","meters":{"t":{"limit":null,
        "enforcement":"hard","credits_per_unit":"1"}}}]})")
                    .ok());
    EXPECT_FALSE(
        parse_plans(R"({"default_plan":"p","plans":[{"id":"p","rollover_cap":"5","meters":{}}]})")
            .ok());
}

}  // namespace
}  // namespace ul
