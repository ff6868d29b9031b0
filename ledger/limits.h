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

#include <vector>

#include "ledger/admission.h"
#include "schemas/lease.h"
#include "schemas/wallet.h"

namespace ul {

struct HardLimit {
    std::int64_t limit_micros = 0;
    std::int64_t period_start_us = 0;  // the billing period the event's time falls in
    std::int64_t period_end_us = 0;    // exclusive: when the total starts again from 0
    // A concurrency meter (leases, see decide_leases): limit_micros is the slots × 10^6 a tenant
    // may hold at once, and the period fields are unused.
    bool concurrency = false;
    friend bool operator==(const HardLimit&, const HardLimit&) = default;
};

class LimitPolicy {
  public:
    virtual ~LimitPolicy() = default;
    // The hard limit of `meter` for `tenant` at the event time; nullopt: not hard-limited.
    // Called on the ledger thread for every valid event while any plan has a hard meter.
    virtual std::optional<HardLimit> hard_limit(std::string_view tenant, std::string_view meter,
                                                std::int64_t event_time_us) const = 0;
    // What the plan in force says about credits for this event (schemas/wallet.h): a grant
    // (meter credits.grant) or a burn; nullopt: the event does not touch the tenant's wallet.
    virtual std::optional<CreditRule> credit_rule(std::string_view /*tenant*/,
                                                  std::string_view /*meter*/,
                                                  std::int64_t /*event_time_us*/) const {
        return std::nullopt;
    }
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

// Leases (concurrency meters; what an event asks for: schemas/lease.h). The ledger keeps, per
// (tenant, meter), the leases it holds (lease id hash, expiry, slots) in one meta row, written in
// the same WriteBatch as the entries. Deciding an operation at event time T first drops the
// leases whose expiry is ≤ T, so expiry is a function of event times and ledger order only (a
// lease's slots are free once an event past its expiry has been decided); a release is an entry
// whatever it finds; an acquire that does not fit is rejected_limit. The projection
// (projections/alerts, family leases) lists the leases from the same entries.
struct LeaseOp {
    bool release = false;
    DedupKey lease;  // dedup_key(tenant, lease id): the acquire's own key, or the released one
    std::int64_t expires_us = 0;  // acquire: event time + TTL
};
// The operation an event of a concurrency meter is; `own_key`: the event's dedup key.
LeaseOp lease_op_of(const UsageEvent& event, const DedupKey& own_key);

// The store key of a (tenant, meter)'s lease row (meta family): 'q' + XXH3-128 as above.
inline constexpr std::size_t kLeaseCellKeyBytes = 17;
using LeaseCellKey = std::array<char, kLeaseCellKeyBytes>;
LeaseCellKey lease_cell_key(std::string_view tenant, std::string_view meter);

struct LeaseRecord {
    DedupKey lease;
    std::int64_t expires_us = 0;
    std::int64_t slots_micros = 0;
    friend bool operator==(const LeaseRecord&, const LeaseRecord&) = default;
};
struct LeaseCell {
    std::vector<LeaseRecord> held;  // in acquire order
    std::int64_t limit_micros = 0;
};
// 32 bytes per lease: key high, key low, expiry, slots (each u64 BE). Decoding fails (nullopt)
// on a length that is not a multiple of 32.
std::string encode_lease_cell(const std::vector<LeaseRecord>& held);
std::optional<std::vector<LeaseRecord>> decode_lease_cell(std::string_view value);

struct LeaseCheck {
    std::uint32_t candidate = 0;  // index into decisions
    std::uint32_t cell = 0;       // index into cells
    LeaseOp op;
    std::int64_t time_us = 0;       // the event's time
    std::int64_t slots_micros = 0;  // the event's quantity
};
struct LeaseResult {
    std::int64_t held_micros = 0;  // slots held once the operation was decided
    // accepted acquire: its expiry; refused acquire: the earliest expiry among the held leases
    // (when a slot may free up); release: 0.
    std::int64_t expires_us = 0;
    bool released = false;  // release: the lease was held and is now freed
};
// In check order (the batch order): as described above; only accepted candidates change the
// cells; an acquire that does not fit becomes rejected_limit (reason limit_exceeded).
void decide_leases(std::span<const LeaseCheck> checks, std::span<LeaseCell> cells,
                   std::span<Decision> decisions, std::span<LeaseResult> results);

// Credits (schemas/wallet.h): the ledger keeps each tenant's wallet in one meta row ('w' +
// XXH3-128 of the tenant id, 17 bytes; the wallet's text form), applies every accepted grant and
// burn to it in batch order (apply_wallet) in the same WriteBatch as the entries, and turns a
// burn of a hard-enforced meter that the wallet cannot cover into rejected_limit.
inline constexpr std::size_t kWalletKeyBytes = 17;
using WalletKey = std::array<char, kWalletKeyBytes>;
WalletKey wallet_key(std::string_view tenant);

}  // namespace ul
