// The pure rules of projections/runner/limit_policy.h (in ul_runner_core: the reducers use them
// too, without the runner).
#include "projections/runner/limit_policy.h"
#include "projections/runner/windows.h"

namespace ul {
namespace {

// The plan of the account in force (the default plan without one); nullptr for a plan the file
// does not know, which has no limits and no credits (the API reports it as unknown).
const Plan* plan_in_force(const PlanBook& plans, const AccountInForce& in_force) {
    return plans.find(in_force.account != nullptr ? std::string_view(in_force.account->plan)
                                                  : std::string_view(plans.default_plan));
}

}  // namespace

std::optional<HardLimit> hard_limit_of(const PlanBook& plans, const AccountInForce& in_force,
                                       std::string_view meter, std::int64_t event_time_us) {
    const Plan* plan = plan_in_force(plans, in_force);
    if (plan == nullptr) {
        return std::nullopt;
    }
    const MeterPlan* meter_plan = plan->find(meter);
    if (meter_plan != nullptr && meter_plan->concurrency) {
        // slots ≤ 10^12 (a Decimal's whole part), so × 10^6 fits.
        return HardLimit{meter_plan->slots * Decimal::kMicrosPerUnit, 0, 0, true};
    }
    if (meter_plan == nullptr || !meter_plan->hard || !meter_plan->limit) {
        return std::nullopt;
    }
    const Period period = month_period(in_force.calendar, event_time_us);
    return HardLimit{meter_plan->limit->micros(), period.start_us, period.end_us};
}

std::optional<CreditRule> credit_rule_of(const PlanBook& plans, const AccountInForce& in_force,
                                         std::string_view meter, std::int64_t event_time_us) {
    const Plan* plan = plan_in_force(plans, in_force);
    if (plan == nullptr) {
        return std::nullopt;
    }
    const MeterPlan* meter_plan = plan->find(meter);
    const bool burns = meter_plan != nullptr && meter_plan->credits_per_unit.micros() > 0;
    if (!burns && meter != kCreditGrantMeter) {
        return std::nullopt;
    }
    CreditRule rule;
    if (burns) {
        rule.credits_per_unit_micros = meter_plan->credits_per_unit.micros();
        rule.hard = meter_plan->hard;
    }
    rule.monthly_micros = plan->monthly_credits.micros();
    rule.rollover_cap_micros = plan->rollover_cap.micros();
    const Period month = month_period(in_force.calendar, event_time_us);
    rule.month_start_us = month.start_us;
    rule.month_end_us = month.end_us;
    return rule;
}

bool has_credits(const PlanBook& plans) {
    for (const auto& plan : plans.plans) {
        if (plan.monthly_credits.micros() > 0) {
            return true;
        }
        for (const auto& meter : plan.meters) {
            if (meter.credits_per_unit.micros() > 0) {
                return true;
            }
        }
    }
    return false;
}

bool has_hard_limits(const PlanBook& plans) {
    for (const auto& plan : plans.plans) {
        for (const auto& meter : plan.meters) {
            if (meter.hard || meter.concurrency) {
                return true;
            }
        }
    }
    return has_credits(plans);
}

}  // namespace ul
