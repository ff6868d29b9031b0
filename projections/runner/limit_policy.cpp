#include "projections/runner/limit_policy.h"

#include "projections/runner/runner.h"
#include "projections/runner/windows.h"
#include "schemas/check.h"

namespace ul {

std::optional<HardLimit> hard_limit_of(const PlanBook& plans, const AccountInForce& in_force,
                                       std::string_view meter, std::int64_t event_time_us) {
    const std::string_view plan_id =
        in_force.account != nullptr ? std::string_view(in_force.account->plan) : plans.default_plan;
    const Plan* plan = plans.find(plan_id);
    if (plan == nullptr) {
        return std::nullopt;  // an unknown plan has no limits (the API reports it as unknown)
    }
    const MeterPlan* meter_plan = plan->find(meter);
    if (meter_plan == nullptr || !meter_plan->hard || !meter_plan->limit) {
        return std::nullopt;
    }
    const Period period = month_period(in_force.calendar, event_time_us);
    return HardLimit{meter_plan->limit->micros(), period.start_us, period.end_us};
}

bool has_hard_limits(const PlanBook& plans) {
    for (const auto& plan : plans.plans) {
        for (const auto& meter : plan.meters) {
            if (meter.hard) {
                return true;
            }
        }
    }
    return false;
}

std::optional<HardLimit> RunnerLimitPolicy::hard_limit(std::string_view tenant,
                                                       std::string_view meter,
                                                       std::int64_t event_time_us) const {
    const ProjectionRunner* runner = runner_.load();
    UL_CHECK(runner != nullptr, "hard limits asked before the projection runner was attached");
    return runner->with_account_at(tenant, event_time_us, [&](const AccountInForce& in_force) {
        return hard_limit_of(plans_, in_force, meter, event_time_us);
    });
}

bool RunnerLimitPolicy::ready() const {
    const ProjectionRunner* runner = runner_.load();
    return runner != nullptr && runner->metrics().accounts_loaded.load();
}

}  // namespace ul
