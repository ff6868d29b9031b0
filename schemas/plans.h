// Plans: the config file (schemas/plans.example.json) that gives each meter a monthly limit
// (null = unlimited), an overage unit price and alert thresholds, plus the properties to break
// usage down by. Loaded with validation: every error names its JSON path. Pure except
// load_plans, which reads one file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/decimal.h"
#include "schemas/result.h"

namespace ul {

struct MeterPlan {
    std::string meter;
    std::optional<Decimal> limit;     // nullopt = unlimited (JSON null)
    Decimal overage_unit_price;       // price per unit over the limit, default 0
    std::vector<Decimal> thresholds;  // ascending fractions of the limit (0.8 = 80 %)
    // "enforcement": "hard": the ledger refuses an event that would take the period's total
    // above the limit (outcome rejected_limit, ledger/limits.h); "soft" (the default): counted,
    // flagged and billed as overage.
    bool hard = false;
    // "kind": "concurrency": the file's `limit` is the number of slots a tenant may hold at once
    // through leases (ledger/limits.h, decide_leases), kept in `slots`; `limit` is then nullopt
    // (the monthly total, the slots taken, is unlimited: no thresholds, overage or Stripe
    // meter). "sum" (the default): `limit` is a monthly total.
    bool concurrency = false;
    std::int64_t slots = 0;
    // Prepaid credits (schemas/wallet.h) each unit of this meter burns (0: none). With
    // "enforcement": "hard" an event the tenant's credits cannot cover is refused.
    Decimal credits_per_unit;
    // The Stripe meter this meter is billed through (its event_name; empty: not billed in
    // Stripe) and how many of our units make one Stripe unit (> 0, default 1): Stripe meter
    // event values are whole numbers, so floor(used / stripe_unit) is billed.
    std::string stripe_event_name;
    Decimal stripe_unit = Decimal::from_micros(Decimal::kMicrosPerUnit);
};

struct Plan {
    std::string id;
    std::string name;
    std::vector<MeterPlan> meters;
    std::string
        stripe_price_id;  // the Stripe price a subscription to this plan uses (may be empty)
    // Credits granted each billing month (schemas/wallet.h; 0: none), and how much of what is
    // left at the month's end carries into the next month's allowance.
    Decimal monthly_credits;
    Decimal rollover_cap;
    const MeterPlan* find(std::string_view meter) const;
};

struct PlanBook {
    std::string currency;
    std::string default_plan;  // the plan of tenants without an account
    std::vector<Plan> plans;
    // meter → property names to break usage down by (e.g. tokens → ["model"])
    std::map<std::string, std::vector<std::string>, std::less<>> group_by;
    const Plan* find(std::string_view plan_id) const;
    // The plan whose stripe_price_id is `price_id`; nullptr when none (or price_id is empty).
    const Plan* find_by_stripe_price(std::string_view price_id) const;
};

// {"currency":"usd","default_plan":"free","thresholds":["0.80","0.95","1.00"],
//  "group_by":{"tokens":["model"]},
//  "plans":[{"id":"free","name":"Free","thresholds":[…]?,"stripe_price_id":"price_…"?,
//            "monthly_credits":"100"?,"rollover_cap":"50"?,
//            "meters":{"api_calls":{"limit":"1000","overage_unit_price":"0","thresholds":[…]?,
//                                   "stripe_event_name":"api_calls"?,"stripe_unit":"1000"?,
//                                   "enforcement":"soft"|"hard"?,
//                                   "kind":"sum"|"concurrency"?,"credits_per_unit":"0.5"?}}}]}
// Decimals are JSON strings (read by Decimal::parse_quantity). Thresholds: per meter, else per
// plan, else top level, else 0.80 / 0.95 / 1.00; strictly ascending, each in (0, 10]. A Stripe
// event name is 1-100 of [A-Za-z0-9_.:-]; stripe_unit needs stripe_event_name and is > 0; two
// plans may not share a stripe_price_id. A hard-enforced meter needs a limit; a concurrency meter a
// whole-number limit and no overage price or Stripe meter.
Result<PlanBook, std::string> parse_plans(std::string_view json);
Result<PlanBook, std::string> load_plans(const std::string& path);

}  // namespace ul
