#include "projections/counters/quota.h"

#include <algorithm>
#include <limits>

namespace ul {
namespace {

using Int128 = __int128;
constexpr Int128 kMax128 = static_cast<Int128>((~static_cast<unsigned __int128>(0)) >> 1U);
constexpr Int128 kMicros = Decimal::kMicrosPerUnit;

// used ≥ fraction × limit, exactly: used·10^6 ≥ fraction_micros·limit (all in micro-units).
Result<bool, std::string> at_least(Int128 used, std::int64_t fraction_micros, std::int64_t limit) {
    if (used > kMax128 / kMicros) {
        return unexpected(std::string("usage too large to compare with the limit"));
    }
    return used * kMicros >= static_cast<Int128>(fraction_micros) * limit;
}

}  // namespace

FlagFractions flag_fractions(const std::vector<Decimal>& thresholds) {
    constexpr std::int64_t kFull = Decimal::kMicrosPerUnit;
    FlagFractions fractions;
    if (thresholds.empty()) {
        return fractions;
    }
    fractions.warning_micros = std::min(thresholds.front().micros(), kFull);
    for (const Decimal threshold : thresholds) {
        if (threshold.micros() < kFull) {
            fractions.upgrade_micros = threshold.micros();  // ascending: the last below wins
        }
    }
    return fractions;
}

Result<QuotaFigures, std::string> quota_figures(const MeterPlan* plan, DecimalSum used) {
    QuotaFigures figures;
    figures.used = used;
    if (plan == nullptr || !plan->limit) {
        figures.unlimited = true;
        return figures;
    }
    figures.limit = plan->limit;
    const Int128 used_micros = used.micros();
    const std::int64_t limit = plan->limit->micros();
    figures.remaining = DecimalSum::from_micros(used_micros < limit ? limit - used_micros : 0);
    figures.overage_units = DecimalSum::from_micros(used_micros > limit ? used_micros - limit : 0);
    if (limit == 0) {
        figures.percentage_milli = used_micros > 0 ? 100'000 : 0;
    } else {
        if (used_micros > kMax128 / 100'000) {
            return unexpected(std::string("usage too large for a percentage"));
        }
        const Int128 milli = used_micros * 100'000 / limit;
        if (milli > std::numeric_limits<std::int64_t>::max()) {
            return unexpected(std::string("usage too large for a percentage"));
        }
        figures.percentage_milli = static_cast<std::int64_t>(milli);
    }
    const FlagFractions fractions = flag_fractions(plan->thresholds);
    for (const auto& [flag, fraction] :
         {std::pair<bool*, std::int64_t>{&figures.is_warning, fractions.warning_micros},
          std::pair<bool*, std::int64_t>{&figures.is_upgrade_suggested, fractions.upgrade_micros},
          std::pair<bool*, std::int64_t>{&figures.is_blocked, Decimal::kMicrosPerUnit}}) {
        auto reached = at_least(used_micros, fraction, limit);
        if (!reached) {
            return unexpected(reached.error());
        }
        *flag = *reached;
    }
    auto cost = checked_multiply(figures.overage_units, plan->overage_unit_price);
    if (!cost) {
        return unexpected(std::string("overage cost overflows"));
    }
    figures.overage_cost = *cost;
    return figures;
}

Result<Entitlement, std::string> entitlement(const MeterPlan* plan, DecimalSum used,
                                             Decimal amount) {
    auto figures = quota_figures(plan, used);
    if (!figures) {
        return unexpected(figures.error());
    }
    Entitlement answer;
    answer.used = used;
    answer.limit = figures->limit;
    answer.remaining = figures->remaining;
    answer.unlimited = figures->unlimited;
    if (figures->unlimited) {
        answer.allowed = true;
        return answer;
    }
    DecimalSum after = used;
    if (!after.add(amount)) {
        return unexpected(std::string("usage plus amount overflows"));
    }
    answer.allowed = after.micros() <= figures->limit->micros();
    return answer;
}

std::vector<Decimal> crossed_thresholds(const MeterPlan& plan, DecimalSum before,
                                        DecimalSum after) {
    std::vector<Decimal> crossed;
    if (!plan.limit) {
        return crossed;
    }
    for (const Decimal threshold : plan.thresholds) {
        auto was = at_least(before.micros(), threshold.micros(), plan.limit->micros());
        auto now = at_least(after.micros(), threshold.micros(), plan.limit->micros());
        if (was && now && !*was && *now) {
            crossed.push_back(threshold);
        }
    }
    return crossed;
}

}  // namespace ul
