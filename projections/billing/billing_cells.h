// The billing projection's pure parts: which Stripe meter an entry is billed to, the billing
// cells the reducer keeps (alerts/alerts_reducer.h writes them in its `billing` family), and the
// reporter's decisions (how many whole Stripe units to report, when, with which timestamp and
// which deterministic identifier). No I/O, no clock: time is an argument.
//
// A billing cell is (tenant, meter, Stripe customer, Stripe event name, Stripe unit, billing
// period) → the usage summed as a counters Cell. Every part of the key is taken from the account
// and plan versions in force at the entry's event time, so a customer added mid-month bills only
// what came after, an upgrade that changes the unit starts a new cell, and a replay rebuilds the
// same cells byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "projections/runner/windows.h"
#include "schemas/account.h"
#include "schemas/decimal.h"
#include "schemas/plans.h"
#include "schemas/result.h"

namespace ul {

struct BillingCellKey {
    std::string tenant_id;
    std::string meter;
    std::string customer;    // the account's stripe_customer_id
    std::string event_name;  // the plan meter's stripe_event_name
    Decimal unit;            // the plan meter's stripe_unit (> 0)
    Period period;           // the billing month
    friend bool operator==(const BillingCellKey&, const BillingCellKey&) = default;
};

// tenant '\0' meter '\0' customer '\0' event_name '\0' unit '\0' start (8, BE, sign-flipped)
// end (8, BE, sign-flipped): a tenant's cells are one prefix, in meter then period order.
void append_billing_key(const BillingCellKey& key, std::string& out);
// The same from its parts (the reducer's path: no copy of the strings).
void append_billing_key(std::string_view tenant_id, std::string_view meter,
                        std::string_view customer, std::string_view event_name, Decimal unit,
                        const Period& period, std::string& out);
std::string billing_key(const BillingCellKey& key);
Result<BillingCellKey, std::string> decode_billing_key(std::string_view bytes);
std::string billing_prefix(std::string_view tenant_id);  // tenant '\0'

// The Stripe meter an entry of `meter` is billed to under `account` (its plan; null account: no
// customer, nothing billed): set only when the account has a stripe_customer_id and the plan's
// meter a stripe_event_name.
struct StripeMeterRef {
    std::string_view customer;
    std::string_view event_name;
    Decimal unit;
};
std::optional<StripeMeterRef> stripe_meter_for(const PlanBook& plans, const Account* account,
                                               std::string_view meter);

// floor(used / unit) whole Stripe units; an error when negative or above 2^63 - 1.
Result<std::int64_t, std::string> stripe_units(const DecimalSum& used, Decimal unit);

// Stripe takes a meter event whose timestamp is at most 35 days old and at most 5 minutes ahead.
inline constexpr std::int64_t kStripeMaxAgeSeconds = 35LL * 24 * 3600;

// What the reporter does with a cell now. `target` = stripe_units of the cell, `decided` = the
// units already decided (reported or found unreportable) for it.
struct ReportDecision {
    enum class Kind : std::uint8_t { none, report, unreportable };
    Kind kind = Kind::none;
    std::int64_t value = 0;        // target - decided
    std::int64_t timestamp_s = 0;  // inside the period and inside Stripe's window
    std::string reason;            // unreportable: why
};
// none: nothing new, or the period closed less than `grace_s` ago (late events of a closed period
// are gathered into one final report after the grace). report: the delta, timestamped `now`
// while the period is open, else the period's last second. unreportable: that timestamp is
// older than Stripe's window (a margin of `margin_s` kept for the send).
ReportDecision decide_report(std::int64_t target, std::int64_t decided, const Period& period,
                             std::int64_t now_s, std::int64_t grace_s,
                             std::int64_t margin_s = 3600);

// True when a decided report's timestamp is still inside Stripe's window at `now_s` (checked again
// before each send: a report that waited through an outage may have aged out).
bool inside_stripe_window(std::int64_t timestamp_s, std::int64_t now_s);

// The report number `n` (0-based) of a cell: its Stripe `identifier` ("ulb_" + 32 hex digits of
// XXH3-128 over the cell key and n) and its Idempotency-Key ("ul-billing-" + the same digits). A
// function of the cell and n only, so a report re-sent after a crash carries the same ones.
std::string report_identifier(std::string_view cell_key, std::uint64_t n);
std::string report_idempotency_key(std::string_view cell_key, std::uint64_t n);

}  // namespace ul
