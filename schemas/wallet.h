// Prepaid credits: a tenant's wallet of grants and how entries move it. Pure; shared by the
// ledger, which decides with it (a hard-enforced meter is refused when the wallet cannot cover
// the event: ledger/limits.h), and the projection, which keeps the same wallet from the same
// entries for GET …/credits (projections/alerts, family credits). Same entries in the same
// order → the same wallet, byte for byte.
//
// Operations, at an entry's event time T (apply_wallet):
//   1. Allowance: when the plan gives `monthly_credits` and T's billing month starts after the
//      wallet's last allowance month, the allowance grant of the last month is replaced by one
//      of this month: monthly_credits + min(what the last one had left, rollover_cap) (0 when
//      it expired), priority 0, expiring at the month's end. An entry of an earlier month (a late
//      one) does not roll back.
//   2. Expiry: grants whose expiry is ≤ T are dropped (what they had left is `expired`).
//   3. A grant (meter "credits.grant") adds a grant; a burn (a meter with credits_per_unit)
//      takes quantity × credits_per_unit from the grants by priority (lower first), then
//      earliest expiry (none last), then oldest, then id. A burn the wallet cannot cover is, for
//      a hard-enforced meter, refused (the wallet is left as it was); for a soft one, it takes
//      everything there is and the rest is `uncovered` (never below zero).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

inline constexpr std::string_view kCreditGrantMeter = "credits.grant";
inline constexpr std::int64_t kNoExpiry = std::numeric_limits<std::int64_t>::max();

struct CreditGrant {
    std::string id;      // the grant's idempotency key; "allowance:<month start µs>"
    std::string source;  // free text without tabs or newlines ("admin", "stripe", "plan")
    std::int32_t priority = 0;
    std::int64_t granted_us = 0;
    std::int64_t expires_us = kNoExpiry;
    std::int64_t amount_micros = 0;
    std::int64_t remaining_micros = 0;
    bool allowance = false;
    friend bool operator==(const CreditGrant&, const CreditGrant&) = default;
};

struct Wallet {
    std::vector<CreditGrant> grants;  // in the order they were added
    std::int64_t allowance_month_us = std::numeric_limits<std::int64_t>::min();
    friend bool operator==(const Wallet&, const Wallet&) = default;
};

// What the plan in force says about credits for an event (projections/runner/limit_policy.h).
struct CreditRule {
    std::int64_t credits_per_unit_micros = 0;  // > 0: the meter burns credits
    bool hard = false;                         // refuse a burn the wallet cannot cover
    std::int64_t monthly_micros = 0;           // the plan's monthly allowance (0: none)
    std::int64_t rollover_cap_micros = 0;
    std::int64_t month_start_us = 0;  // the billing month of the event's time
    std::int64_t month_end_us = 0;
};

// One entry's part: a grant or a burn.
struct CreditOp {
    bool grant = false;
    std::string_view id;  // the event's idempotency key
    std::string_view source;
    std::int32_t priority = 10;
    std::int64_t expires_us = kNoExpiry;
    std::int64_t micros = 0;  // grant: the amount; burn: the cost
};
// The op an event is: a grant (meter credits.grant: quantity = amount, properties "priority"
// (whole number 0..1000, default 10), "expires_at" (RFC 3339), "source" (string)), or a burn of
// quantity × credits_per_unit (rounded half up to micro-units; an error past 10^12 credits).
Result<CreditOp, std::string> credit_op_of(const UsageEvent& event, const CreditRule& rule);

struct CreditMove {
    std::string grant_id;
    std::int64_t micros = 0;
    friend bool operator==(const CreditMove&, const CreditMove&) = default;
};
struct WalletChange {
    bool refused = false;
    std::int64_t expired_micros = 0;
    std::int64_t carried_over_micros = 0;  // a new allowance month: what rolled over
    std::int64_t allowance_micros = 0;     // a new allowance month: the new grant's amount
    std::vector<CreditMove> burned;        // a burn: from which grants
    std::int64_t uncovered_micros = 0;     // a soft burn: what the wallet could not cover
    std::int64_t balance_after_micros = 0;
};
// Applies one op at event time `time_us` (see above). Refused: `wallet` is unchanged.
WalletChange apply_wallet(Wallet& wallet, const CreditRule& rule, const CreditOp& op,
                          std::int64_t time_us);
// The balance at `time_us` without changing anything: the grants not expired by then (the
// allowance as it stands; a month not rolled yet is not counted).
std::int64_t wallet_balance(const Wallet& wallet, std::int64_t time_us);

// Text form (the ledger's row and the projection's state): "A<allowance month µs>\n" then per
// grant "id\tsource\tpriority\tgranted\texpires\tamount\tremaining\tallowance(0|1)\n".
std::string encode_wallet(const Wallet& wallet);
std::optional<Wallet> decode_wallet(std::string_view text);

}  // namespace ul
