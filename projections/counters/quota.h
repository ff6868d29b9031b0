// Usage against a plan, exact: remaining, percentage, the flags the meter's thresholds decide,
// overage, the entitlement pre-flight check and threshold crossings. Pure; 128-bit arithmetic, no
// floating point; an overflow is an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schemas/decimal.h"
#include "schemas/plans.h"
#include "schemas/result.h"

namespace ul {

struct QuotaFigures {
    bool unlimited = false;
    std::optional<Decimal> limit;
    DecimalSum used;
    std::optional<DecimalSum> remaining;  // max(0, limit − used); nullopt when unlimited
    std::int64_t percentage_milli = 0;    // used / limit in thousandths of a percent, rounded down
    // The flags (see flag_fractions): used ≥ the first threshold × limit, ≥ the highest
    // threshold below 1 × limit, ≥ the limit. Each implies the one before.
    bool is_warning = false;
    bool is_upgrade_suggested = false;
    bool is_blocked = false;
    DecimalSum overage_units;  // max(0, used − limit)
    DecimalSum overage_cost;   // overage_units × overage_unit_price
};

// The fractions of the limit (in micro-units: 1'000'000 = 100 %) at which a meter warns and
// suggests an upgrade, from its ascending thresholds: warning at the first threshold, upgrade at
// the highest threshold below 100 % (the second-to-last of the usual list ending at 1.00);
// neither is past 100 %, where the meter is blocked whatever the list says. No thresholds (or
// none below 100 %): both at 100 %.
struct FlagFractions {
    std::int64_t warning_micros = Decimal::kMicrosPerUnit;
    std::int64_t upgrade_micros = Decimal::kMicrosPerUnit;
};
FlagFractions flag_fractions(const std::vector<Decimal>& thresholds);

// `plan` nullptr: the meter is not in the tenant's plan, so it is unlimited. A limit of 0 with
// any use counts as 100 % (blocked).
Result<QuotaFigures, std::string> quota_figures(const MeterPlan* plan, DecimalSum used);

struct Entitlement {
    bool allowed = false;  // unlimited, or used + amount ≤ limit
    DecimalSum used;
    std::optional<Decimal> limit;
    std::optional<DecimalSum> remaining;  // nullopt when unlimited
    bool unlimited = false;
};
// `plan` null (a meter the plan does not list): unlimited, allowed — the query API refuses such
// meters before it asks, unless told to allow them (QueryApiOptions::allow_unknown_meters).
Result<Entitlement, std::string> entitlement(const MeterPlan* plan, DecimalSum used,
                                             Decimal amount);

// The thresholds of `plan` crossed going from `before` to `after` (before < t × limit ≤ after),
// ascending; none for an unlimited meter.
std::vector<Decimal> crossed_thresholds(const MeterPlan& plan, DecimalSum before, DecimalSum after);

}  // namespace ul
