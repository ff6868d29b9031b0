#include "projections/runner/limit_policy.h"

#include "projections/runner/runner.h"
#include "projections/runner/windows.h"
#include "schemas/check.h"

namespace ul {

std::optional<HardLimit> RunnerLimitPolicy::hard_limit(std::string_view tenant,
                                                       std::string_view meter,
                                                       std::int64_t event_time_us) const {
    const ProjectionRunner* runner = runner_.load();
    UL_CHECK(runner != nullptr, "hard limits asked before the projection runner was attached");
    return runner->with_account_at(tenant, event_time_us, [&](const AccountInForce& in_force) {
        return hard_limit_of(plans_, in_force, meter, event_time_us);
    });
}

std::optional<CreditRule> RunnerLimitPolicy::credit_rule(std::string_view tenant,
                                                         std::string_view meter,
                                                         std::int64_t event_time_us) const {
    if (!credits_) {
        return std::nullopt;
    }
    const ProjectionRunner* runner = runner_.load();
    UL_CHECK(runner != nullptr, "credits asked before the projection runner was attached");
    return runner->with_account_at(tenant, event_time_us, [&](const AccountInForce& in_force) {
        return credit_rule_of(plans_, in_force, meter, event_time_us);
    });
}

bool RunnerLimitPolicy::ready() const {
    const ProjectionRunner* runner = runner_.load();
    return runner != nullptr && runner->metrics().accounts_loaded.load();
}

}  // namespace ul
