// Plans file validation, accounts, exact quota figures and entitlements, threshold crossings,
// counter cells and their keys, the rate limiter and API keys.
#include <gtest/gtest.h>

#include "projections/api/api_keys.h"
#include "projections/api/rate_limit.h"
#include "projections/counters/cells.h"
#include "projections/counters/quota.h"
#include "schemas/account.h"
#include "schemas/plans.h"

namespace {

using ul::Decimal;
using ul::DecimalSum;

Decimal dec(const char* text) {
    auto parsed = Decimal::parse_quantity(text);
    EXPECT_TRUE(parsed) << text;
    return parsed ? *parsed : Decimal{};
}

DecimalSum sum(const char* text) {
    return DecimalSum::from_micros(dec(text).micros());
}

constexpr char kPlans[] = R"({"currency":"usd","default_plan":"free",
  "group_by":{"tokens":["model"]},
  "plans":[{"id":"free","name":"Free","meters":{
     "api_calls":{"limit":"100","overage_unit_price":"0.01"},
     "tokens":{"limit":null}}},
   {"id":"pro","thresholds":["0.5","1"],"meters":{"api_calls":{"limit":"1000"}}}]})";

TEST(PlanBook, ParsesLimitsPricesThresholdsAndGroupBy) {
    auto book = ul::parse_plans(kPlans);
    ASSERT_TRUE(book) << book.error();
    EXPECT_EQ(book->currency, "usd");
    const ul::Plan* free = book->find("free");
    ASSERT_NE(free, nullptr);
    const ul::MeterPlan* calls = free->find("api_calls");
    ASSERT_NE(calls, nullptr);
    EXPECT_EQ(calls->limit, dec("100"));
    EXPECT_EQ(calls->overage_unit_price, dec("0.01"));
    EXPECT_EQ(calls->thresholds, (std::vector<Decimal>{dec("0.8"), dec("0.95"), dec("1")}));
    EXPECT_FALSE(free->find("tokens")->limit.has_value());
    EXPECT_EQ(book->find("pro")->find("api_calls")->thresholds,
              (std::vector<Decimal>{dec("0.5"), dec("1")}));
    EXPECT_EQ(book->group_by.at("tokens"), std::vector<std::string>{"model"});
    EXPECT_EQ(book->find("enterprise"), nullptr);
}

TEST(PlanBook, TheExampleFileLoads) {
    auto book = ul::load_plans(UL_SOURCE_DIR "/schemas/plans.example.json");
    ASSERT_TRUE(book) << book.error();
    EXPECT_NE(book->find("free"), nullptr);
    EXPECT_NE(book->find("pro"), nullptr);
    EXPECT_NE(book->find("enterprise"), nullptr);
}

TEST(PlanBook, StripeMetersUnitsAndPrices) {
    auto book = ul::load_plans(UL_SOURCE_DIR "/schemas/plans.example.json");
    ASSERT_TRUE(book) << book.error();
    const ul::MeterPlan* tokens = book->find("pro")->find("tokens");
    EXPECT_EQ(tokens->stripe_event_name, "llm_tokens");
    EXPECT_EQ(tokens->stripe_unit, dec("1000"));
    const ul::MeterPlan* calls = book->find("pro")->find("api_calls");
    EXPECT_EQ(calls->stripe_event_name, "api_calls");
    EXPECT_EQ(calls->stripe_unit, dec("1"));
    EXPECT_TRUE(book->find("free")->find("api_calls")->stripe_event_name.empty());
    ASSERT_NE(book->find_by_stripe_price("price_pro_monthly"), nullptr);
    EXPECT_EQ(book->find_by_stripe_price("price_pro_monthly")->id, "pro");
    EXPECT_EQ(book->find_by_stripe_price("price_nope"), nullptr);
    EXPECT_EQ(book->find_by_stripe_price(""), nullptr);

    const std::vector<std::pair<std::string, std::string>> bad = {
        {R"({"default_plan":"f","plans":[{"id":"f","meters":{"a":{"limit":"1","stripe_unit":"2"}}}]})",
         "stripe_unit"},
        {R"({"default_plan":"f","plans":[{"id":"f","meters":{"a":{"limit":"1","stripe_event_name":"x","stripe_unit":"0"}}}]})",
         "stripe_unit"},
        {R"({"default_plan":"f","plans":[{"id":"f","meters":{"a":{"limit":"1","stripe_event_name":"a b"}}}]})",
         "stripe_event_name"},
        {R"({"default_plan":"f","plans":[{"id":"f","stripe_price_id":"p","meters":{}},{"id":"g","stripe_price_id":"p","meters":{}}]})",
         "stripe_price_id"},
    };
    for (const auto& [json, expected] : bad) {
        auto parsed = ul::parse_plans(json);
        ASSERT_FALSE(parsed) << json;
        EXPECT_NE(parsed.error().find(expected), std::string::npos) << parsed.error();
    }
}

TEST(PlanBook, EveryErrorNamesItsPath) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not json", "not JSON"},
        {"[]", "must be a JSON object"},
        {R"({"default_plan":"free"})", "plans: required"},
        {R"({"default_plan":"x","plans":[{"id":"free","meters":{}}]})",
         "default_plan: 'x' is not one of the plans"},
        {R"({"default_plan":"free","plans":[{"id":"free","meters":{}},{"id":"free","meters":{}}]})",
         "plans[1].id: plan 'free' is defined twice"},
        {R"({"default_plan":"free","plans":[{"id":"free","meters":{"a":{"limit":"-1"}}}]})",
         "plans[0].meters.a.limit"},
        {R"({"default_plan":"free","plans":[{"id":"free","meters":{"a":{"limit":100}}}]})",
         "plans[0].meters.a.limit: must be a decimal string or null"},
        {R"({"default_plan":"free","plans":[{"id":"free","meters":{"a":{"limit":"1e400"}}}]})",
         "plans[0].meters.a.limit"},
        {R"({"default_plan":"free","plans":[{"id":"free","meters":{"a":{}}}]})",
         "plans[0].meters.a.limit: required"},
        {R"({"default_plan":"free","plans":[{"id":"free","meters":{"A b":{"limit":null}}}]})",
         "a meter name"},
        {R"({"default_plan":"free","thresholds":["0.9","0.8"],"plans":[{"id":"free","meters":{}}]})",
         "thresholds: thresholds must be strictly ascending"},
        {R"({"default_plan":"free","thresholds":["0"],"plans":[{"id":"free","meters":{}}]})",
         "thresholds[0]"},
        {R"({"default_plan":"free","thresholds":["11"],"plans":[{"id":"free","meters":{}}]})",
         "thresholds[0]"},
        {R"({"default_plan":"free","colour":"red","plans":[{"id":"free","meters":{}}]})",
         "colour: unknown field"},
        {R"({"default_plan":"free","plans":[{"id":"free","meters":{"a":{"limit":null,"x":1}}}]})",
         "plans[0].meters.a.x: unknown field"},
    };
    for (const auto& [json, error] : cases) {
        auto book = ul::parse_plans(json);
        ASSERT_FALSE(book) << json;
        EXPECT_NE(book.error().find(error), std::string::npos) << json << " → " << book.error();
    }
    auto missing = ul::load_plans("/nonexistent/plans.json");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find("cannot read /nonexistent/plans.json"), std::string::npos);
}

TEST(Accounts, RoundTripAndStrictErrors) {
    ul::Account account;
    account.tenant_id = "acme";
    account.plan = "pro";
    account.billing_anchor_day = 31;
    account.time_zone = "America/New_York";
    account.api_key_sha256 = ul::sha256_hex("secret");
    account.stripe_customer_id = "cus_123";
    account.updated_at_us = 1'790'000'000'000'000;
    auto back = ul::parse_account(ul::account_json(account));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, account);
    EXPECT_EQ(back->effective_from(), account.updated_at_us);  // no effective_at: from updated_at
    account.effective_at_us = 1'780'000'000'000'000;
    back = ul::parse_account(ul::account_json(account));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, account);
    EXPECT_EQ(back->effective_from(), account.effective_at_us);
    EXPECT_EQ(ul::sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    for (const auto& [json, error] : std::vector<std::pair<std::string, std::string>>{
             {R"({"plan":"pro"})", "tenant_id: required"},
             {R"({"tenant_id":"acme"})", "plan: required"},
             {R"({"tenant_id":"a b","plan":"pro"})", "tenant_id"},
             {R"({"tenant_id":"acme","plan":"pro","billing_anchor_day":32})", "1..31"},
             {R"({"tenant_id":"acme","plan":"pro","api_key_sha256":"ABC"})", "64 lowercase hex"},
             {R"({"tenant_id":"acme","plan":"pro","colour":"red"})", "unknown field 'colour'"},
             {R"({"tenant_id":"acme","plan":"pro","updated_at":"yesterday"})", "updated_at"},
             {R"({"tenant_id":"acme","plan":"pro","effective_at":3})", "effective_at"},
             {"[1]", "not a JSON object"},
         }) {
        auto parsed = ul::parse_account(json);
        ASSERT_FALSE(parsed) << json;
        EXPECT_NE(parsed.error().find(error), std::string::npos) << parsed.error();
    }
}

ul::MeterPlan meter(const char* limit, const char* price = "0") {
    ul::MeterPlan plan;
    plan.meter = "api_calls";
    if (limit != nullptr) {
        plan.limit = dec(limit);
    }
    plan.overage_unit_price = dec(price);
    plan.thresholds = {dec("0.8"), dec("0.95"), dec("1")};
    return plan;
}

TEST(QuotaFigures, ThresholdFlagsAreExact) {
    const auto plan = meter("100");
    auto below = ul::quota_figures(&plan, sum("79.999999"));
    ASSERT_TRUE(below);
    EXPECT_FALSE(below->is_warning);
    EXPECT_EQ(below->percentage_milli, 79'999);
    auto warning = ul::quota_figures(&plan, sum("80"));
    EXPECT_TRUE(warning->is_warning);
    EXPECT_FALSE(warning->is_upgrade_suggested);
    EXPECT_EQ(warning->remaining, sum("20"));
    auto upgrade = ul::quota_figures(&plan, sum("95"));
    EXPECT_TRUE(upgrade->is_upgrade_suggested);
    EXPECT_FALSE(upgrade->is_blocked);
    auto blocked = ul::quota_figures(&plan, sum("100"));
    EXPECT_TRUE(blocked->is_blocked);
    EXPECT_EQ(blocked->percentage_milli, 100'000);
    EXPECT_EQ(blocked->remaining, DecimalSum{});
    // A third of a limit: rounded down to thousandths of a percent.
    const auto third = meter("3");
    EXPECT_EQ(ul::quota_figures(&third, sum("1"))->percentage_milli, 33'333);
}

TEST(QuotaFigures, FlagsFollowThePlansThresholds) {
    // Issue 17: the flags were 80 / 95 / 100 % whatever the plan said. A plan's own thresholds
    // (50 / 90 / 100 %, plan level) resolve into its meters and decide the flags.
    auto book = ul::parse_plans(R"({"default_plan":"team","plans":[{"id":"team","name":"Team",
        "thresholds":["0.50","0.90","1.00"],"meters":{"api_calls":{"limit":"200"}}}]})");
    ASSERT_TRUE(book) << book.error();
    const ul::MeterPlan* plan = book->find("team")->find("api_calls");
    ASSERT_NE(plan, nullptr);
    EXPECT_EQ(plan->thresholds, (std::vector<Decimal>{dec("0.5"), dec("0.9"), dec("1")}));
    struct Case {
        const char* used;
        bool warning;
        bool upgrade;
        bool blocked;
    };
    for (const Case& expected :
         {Case{"99.999999", false, false, false}, Case{"100", true, false, false},
          Case{"179.999999", true, false, false}, Case{"180", true, true, false},
          Case{"199.999999", true, true, false}, Case{"200", true, true, true}}) {
        auto figures = ul::quota_figures(plan, sum(expected.used));
        ASSERT_TRUE(figures) << expected.used;
        EXPECT_EQ(figures->is_warning, expected.warning) << expected.used;
        EXPECT_EQ(figures->is_upgrade_suggested, expected.upgrade) << expected.used;
        EXPECT_EQ(figures->is_blocked, expected.blocked) << expected.used;
    }
}

TEST(QuotaFigures, UpgradeIsTheHighestThresholdBelowTheLimit) {
    // warning: the first threshold; upgrade suggested: the highest threshold below 100 % (the
    // second-to-last of the usual list ending at 1); blocked: 100 %, whatever the list says.
    // Each flag implies the ones before it.
    auto flags = [](std::vector<Decimal> thresholds, const char* used) {
        auto plan = meter("100");
        plan.thresholds = std::move(thresholds);
        auto figures = ul::quota_figures(&plan, sum(used));
        EXPECT_TRUE(figures) << used;
        return std::vector<bool>{figures->is_warning, figures->is_upgrade_suggested,
                                 figures->is_blocked};
    };
    using Flags = std::vector<bool>;
    // No threshold at 100 %: upgrade at the last one (75 %).
    EXPECT_EQ(flags({dec("0.5"), dec("0.75")}, "74.999999"), (Flags{true, false, false}));
    EXPECT_EQ(flags({dec("0.5"), dec("0.75")}, "75"), (Flags{true, true, false}));
    EXPECT_EQ(flags({dec("0.5"), dec("0.75")}, "99.999999"), (Flags{true, true, false}));
    EXPECT_EQ(flags({dec("0.5"), dec("0.75")}, "100"), (Flags{true, true, true}));
    // Thresholds past the limit (alerts at 120 %) do not move the upgrade flag past 100 %.
    EXPECT_EQ(flags({dec("0.9"), dec("1"), dec("1.2")}, "90"), (Flags{true, true, false}));
    // Only 100 %: every flag at the limit.
    EXPECT_EQ(flags({dec("1")}, "99.999999"), (Flags{false, false, false}));
    EXPECT_EQ(flags({dec("1")}, "100"), (Flags{true, true, true}));
    // Only past the limit: warned and blocked at 100 % all the same.
    EXPECT_EQ(flags({dec("1.5")}, "100"), (Flags{true, true, true}));
}

TEST(QuotaFigures, OverageCostUnlimitedAndZeroLimits) {
    const auto plan = meter("100", "0.000002");
    auto over = ul::quota_figures(&plan, sum("350.5"));
    ASSERT_TRUE(over);
    EXPECT_EQ(over->overage_units, sum("250.5"));
    EXPECT_EQ(over->overage_cost.to_string(), "0.000501");
    // Rounded half up to micro-units: 0.25 × 0.000002 = 0.0000005 → 0.000001.
    EXPECT_EQ(ul::quota_figures(&plan, sum("100.25"))->overage_cost.to_string(), "0.000001");
    const auto unlimited = meter(nullptr);
    auto free = ul::quota_figures(&unlimited, sum("123456789"));
    EXPECT_TRUE(free->unlimited);
    EXPECT_EQ(free->remaining, std::nullopt);  // no end to reach (it was a magic 0)
    EXPECT_EQ(ul::quota_figures(nullptr, sum("5"))->remaining, std::nullopt);
    EXPECT_FALSE(free->is_blocked);
    EXPECT_TRUE(ul::quota_figures(nullptr, sum("5"))->unlimited);
    const auto zero = meter("0");
    EXPECT_EQ(ul::quota_figures(&zero, sum("0"))->percentage_milli, 0);
    EXPECT_EQ(ul::quota_figures(&zero, sum("0.000001"))->percentage_milli, 100'000);
    EXPECT_TRUE(ul::quota_figures(&zero, sum("0.000001"))->is_blocked);
    // A sum too large to compare is an error, not a wrong answer.
    EXPECT_FALSE(
        ul::quota_figures(&plan, DecimalSum::from_micros(static_cast<__int128>(1) << 125)));
}

TEST(QuotaFigures, EntitlementAtTheBoundary) {
    const auto plan = meter("100");
    EXPECT_TRUE(ul::entitlement(&plan, sum("85"), dec("15"))->allowed);
    EXPECT_FALSE(ul::entitlement(&plan, sum("85"), dec("15.000001"))->allowed);
    EXPECT_TRUE(ul::entitlement(&plan, sum("85"), dec("0"))->allowed);
    EXPECT_FALSE(ul::entitlement(&plan, sum("100.000001"), dec("0"))->allowed);
    const auto unlimited = meter(nullptr);
    EXPECT_TRUE(ul::entitlement(&unlimited, sum("1000000000"), dec("1000000000000"))->allowed);
    EXPECT_EQ(ul::entitlement(&unlimited, sum("5"), dec("1"))->remaining, std::nullopt);
    EXPECT_EQ(ul::entitlement(&plan, sum("85"), dec("1"))->remaining, sum("15"));
}

TEST(QuotaFigures, CrossingsSkipSeveralThresholdsInOneStep) {
    const auto plan = meter("100");
    EXPECT_EQ(ul::crossed_thresholds(plan, sum("10"), sum("96")),
              (std::vector<Decimal>{dec("0.8"), dec("0.95")}));
    EXPECT_EQ(ul::crossed_thresholds(plan, sum("79.999999"), sum("80")),
              (std::vector<Decimal>{dec("0.8")}));
    EXPECT_TRUE(ul::crossed_thresholds(plan, sum("80"), sum("90")).empty());
    EXPECT_TRUE(ul::crossed_thresholds(plan, sum("120"), sum("130")).empty());
    EXPECT_EQ(ul::crossed_thresholds(plan, sum("0"), sum("1000")).size(), 3U);
    EXPECT_TRUE(ul::crossed_thresholds(meter(nullptr), sum("0"), sum("1000")).empty());
}

TEST(Cells, KeysSortByTenantMeterWindowAndTimeAndRoundTrip) {
    std::vector<std::string> keys;
    for (const auto& [tenant, meter_name, start] :
         std::vector<std::tuple<std::string, std::string, std::int64_t>>{
             {"a", "x", -5}, {"a", "x", 7}, {"a", "xy", -100}, {"ab", "a", 0}, {"b", "a", 1}}) {
        std::string key;
        ul::append_counter_key(ul::CounterKey{tenant, meter_name, ul::WindowKind::hour, start},
                               key);
        keys.push_back(key);
        auto back = ul::decode_counter_key(key);
        ASSERT_TRUE(back);
        EXPECT_EQ(back->tenant_id, tenant);
        EXPECT_EQ(back->meter, meter_name);
        EXPECT_EQ(back->period_start_us, start);
    }
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    std::string breakdown;
    ul::append_breakdown_key(ul::BreakdownKey{"acme", "tokens", 86'400'000'000, "model", "gpt-x"},
                             breakdown);
    auto back = ul::decode_breakdown_key(breakdown);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->property, "model");
    EXPECT_EQ(back->value, "gpt-x");
    EXPECT_EQ(back->day_start_us, 86'400'000'000);
}

TEST(Cells, MergeKeepsSumCountMaxFirstAndLast) {
    ul::Cell cell = ul::cell_of(dec("1.5"), 100);
    ASSERT_TRUE(ul::merge_cell(cell, ul::cell_of(dec("7"), 50)));
    ASSERT_TRUE(ul::merge_cell(cell, ul::cell_of(dec("0.000001"), 300)));
    EXPECT_EQ(cell.sum.to_string(), "8.500001");
    EXPECT_EQ(cell.count, 3U);
    EXPECT_EQ(cell.max, dec("7"));
    EXPECT_EQ(cell.first_us, 50);
    EXPECT_EQ(cell.last_us, 300);
    char bytes[ul::kCellBytes];
    ul::encode_cell(cell, bytes);
    auto back = ul::decode_cell(std::string_view(bytes, sizeof bytes));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, cell);
    ul::Cell huge;
    huge.sum =
        DecimalSum::from_micros(static_cast<__int128>(~static_cast<unsigned __int128>(0) >> 1U));
    huge.count = 1;
    EXPECT_FALSE(ul::merge_cell(huge, ul::cell_of(dec("1"), 0)));
    EXPECT_EQ(ul::classify_sequence(5, 5), ul::SequenceVerdict::apply);
    EXPECT_EQ(ul::classify_sequence(5, 4), ul::SequenceVerdict::repeat);
    EXPECT_EQ(ul::classify_sequence(5, 7), ul::SequenceVerdict::jump);
}

TEST(RateLimit, BurstThenRefillAndRetryAfterRoundsUp) {
    ul::RateLimiter limiter({.requests_per_second = 2, .burst = 3});
    EXPECT_EQ(limiter.take("k", 0), 0);
    EXPECT_EQ(limiter.take("k", 0), 0);
    EXPECT_EQ(limiter.take("k", 0), 0);
    EXPECT_EQ(limiter.take("k", 0), 1);  // 0.5 s to the next token: rounded up to 1
    EXPECT_EQ(limiter.take("other", 0), 0);
    EXPECT_EQ(limiter.take("k", 500'000), 0);
    ul::RateLimiter slow({.requests_per_second = 0.1, .burst = 1});
    EXPECT_EQ(slow.take("k", 0), 0);
    EXPECT_EQ(slow.take("k", 0), 10);
}

TEST(RateLimit, MemoryIsBoundedByMaxKeys) {
    ul::RateLimiter limiter({.requests_per_second = 1, .burst = 1}, 2);
    EXPECT_EQ(limiter.take("a", 0), 0);
    EXPECT_EQ(limiter.take("b", 0), 0);
    EXPECT_EQ(limiter.take("c", 0), 0);  // evicts a
    EXPECT_EQ(limiter.take("a", 0), 0);  // a starts again with a full bucket
}

TEST(ApiKeys, AdminTenantReplacedAndMalformed) {
    ul::ApiKeys keys;
    keys.add_admin_key("root");
    keys.replace_tenant_keys({{"acme", "default", ul::sha256_hex("acme-1"), ul::kScopesAll}});
    EXPECT_TRUE(keys.find("Bearer root")->admin);
    EXPECT_EQ(keys.find("Bearer acme-1")->tenant_id, "acme");
    keys.replace_tenant_keys({{"acme", "default", ul::sha256_hex("acme-2"), ul::kScopesAll}});
    EXPECT_FALSE(keys.find("Bearer acme-1"));
    EXPECT_EQ(keys.find("Bearer acme-2")->tenant_id, "acme");
    for (const char* header : {"", "Bearer", "Bearer ", "Basic cm9vdA==", "bearer root", "root"}) {
        EXPECT_FALSE(keys.find(header)) << header;
    }
}

}  // namespace
