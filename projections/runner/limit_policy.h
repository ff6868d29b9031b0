// Which meters the ledger enforces as hard limits (ledger/limits.h), for whom, over which period:
// the plan of the account version in force at the event's time (or the plans file's default plan
// for a tenant without an account), its meter's limit when "enforcement" is "hard", and the
// billing month of that version's calendar. `hard_limit_of` is the pure rule;
// `RunnerLimitPolicy` answers it with the accounts the projection runner reads from
// usage.accounts (in `up` the ledger and the projection run in one process), and is ready once
// usage.accounts has been read to its end.
#pragma once

#include <atomic>
#include <optional>
#include <string_view>

#include "ledger/limits.h"
#include "projections/runner/reducer.h"
#include "schemas/plans.h"

namespace ul {

class ProjectionRunner;

std::optional<HardLimit> hard_limit_of(const PlanBook& plans, const AccountInForce& in_force,
                                       std::string_view meter, std::int64_t event_time_us);

// The credits rule (schemas/wallet.h) of an event: a grant (meter credits.grant) or a burn (a
// meter with credits_per_unit), with the plan's monthly allowance and the billing month of the
// event's time; nullopt when the event does not touch the wallet.
std::optional<CreditRule> credit_rule_of(const PlanBook& plans, const AccountInForce& in_force,
                                         std::string_view meter, std::int64_t event_time_us);

// True when some plan gives or burns credits.
bool has_credits(const PlanBook& plans);
// True when the ledger decides anything from the plans: some plan has a hard-enforced meter, a
// concurrency meter or credits (else the ledger needs no policy at all).
bool has_hard_limits(const PlanBook& plans);

class RunnerLimitPolicy final : public LimitPolicy {
  public:
    // `plans` must outlive the policy.
    explicit RunnerLimitPolicy(const PlanBook& plans)
        : plans_(plans), credits_(has_credits(plans)) {}
    // The runner whose accounts answer; not ready before (the ledger may start first). The
    // runner must outlive every call (stop the ledger before the projection).
    void attach(const ProjectionRunner& runner) { runner_.store(&runner); }
    std::optional<HardLimit> hard_limit(std::string_view tenant, std::string_view meter,
                                        std::int64_t event_time_us) const override;
    std::optional<CreditRule> credit_rule(std::string_view tenant, std::string_view meter,
                                          std::int64_t event_time_us) const override;
    bool ready() const override;

  private:
    const PlanBook& plans_;
    bool credits_ = false;
    std::atomic<const ProjectionRunner*> runner_{nullptr};
};

}  // namespace ul
