// Plans: the config file (schemas/plans.example.json) that gives each meter a monthly limit
// (null = unlimited), an overage unit price and alert thresholds, plus the properties to break
// usage down by. Loaded with validation: every error names its JSON path. Pure except
// load_plans, which reads one file.
#pragma once

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
};

struct Plan {
    std::string id;
    std::string name;
    std::vector<MeterPlan> meters;
    const MeterPlan* find(std::string_view meter) const;
};

struct PlanBook {
    std::string currency;
    std::string default_plan;  // the plan of tenants without an account
    std::vector<Plan> plans;
    // meter → property names to break usage down by (e.g. tokens → ["model"])
    std::map<std::string, std::vector<std::string>, std::less<>> group_by;
    const Plan* find(std::string_view plan_id) const;
};

// {"currency":"usd","default_plan":"free","thresholds":["0.80","0.95","1.00"],
//  "group_by":{"tokens":["model"]},
//  "plans":[{"id":"free","name":"Free","thresholds":[…]?,
//            "meters":{"api_calls":{"limit":"1000","overage_unit_price":"0","thresholds":[…]?}}}]}
// Decimals are JSON strings (read by Decimal::parse_quantity). Thresholds: per meter, else per
// plan, else top level, else 0.80 / 0.95 / 1.00; strictly ascending, each in (0, 10].
Result<PlanBook, std::string> parse_plans(std::string_view json);
Result<PlanBook, std::string> load_plans(const std::string& path);

}  // namespace ul
