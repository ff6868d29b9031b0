// Hard limits, decided in the ledger (issue 14). A plan meter with "enforcement": "hard" has a
// running total per (tenant, meter, billing period) in the ledger store, updated in the same
// WriteBatch as the entries. An accepted event that would take the total above the limit becomes
// rejected_limit instead: not an entry, a dead letter with reason limit_exceeded, its dedup key
// kept so that a retry is a duplicate of that verdict. Exact because all of a tenant's events are
// in one partition and each partition has one writer: there is no second reader of the total to
// race with. Pure (no I/O, no clock); the policy — which meters are hard-limited for whom, and
// their periods — is given by the caller (projections/runner/limit_policy.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "ledger/admission.h"

namespace ul {

struct HardLimit {
    std::int64_t limit_micros = 0;
    std::int64_t period_start_us = 0;  // the billing period the event's time falls in
    std::int64_t period_end_us = 0;    // exclusive: when the total starts again from 0
    friend bool operator==(const HardLimit&, const HardLimit&) = default;
};

class LimitPolicy {
  public:
    virtual ~LimitPolicy() = default;
    // The hard limit of `meter` for `tenant` at the event time; nullopt: not hard-limited.
    // Called on the ledger thread for every valid event while any plan has a hard meter.
    virtual std::optional<HardLimit> hard_limit(std::string_view tenant, std::string_view meter,
                                                std::int64_t event_time_us) const = 0;
    // False while the policy cannot answer yet (the accounts are still being read): the ledger
    // consumes nothing until it is true, so no event is decided with the wrong plan.
    virtual bool ready() const = 0;
};

// The store key of a cell (meta family): 'l', XXH3-128 of tenant_id, 0x00, meter (high then
// low, big-endian), the period start as u64 big-endian of (µs + 2^63): fixed width, and one
// (tenant, meter)'s periods are neighbours in time order.
inline constexpr std::size_t kLimitCellKeyBytes = 25;
using LimitCellKey = std::array<char, kLimitCellKeyBytes>;
LimitCellKey limit_cell_key(std::string_view tenant, std::string_view meter,
                            std::int64_t period_start_us);

// One candidate's part in the decision: its cell (index into the batch's cells; -1: none) and
// its quantity.
struct LimitCheck {
    std::int32_t cell = -1;
    std::int64_t quantity_micros = 0;
};

struct LimitCell {
    std::int64_t used_micros = 0;  // the stored total, then the running one
    std::int64_t limit_micros = 0;
    std::int64_t period_end_us = 0;
};

// In candidate order (the batch order): an accepted candidate with a cell stays accepted when
// used + quantity ≤ limit (the cell's total grows), else becomes rejected_limit (reason
// limit_exceeded). Other decisions are left as they are. `used_after[i]`: candidate i's cell
// total once i was decided (0 without a cell). A quantity of 0 always fits.
void decide_hard_limits(std::span<const LimitCheck> checks, std::span<LimitCell> cells,
                        std::span<Decision> decisions, std::span<std::int64_t> used_after);

}  // namespace ul
