// `billing reconcile`: compares, per billing cell, what the projection counted (the cell's usage),
// what the reporter decided and sent (its BillingTotals in <data-dir>/billing), and what Stripe
// holds (its meter event summaries), and lists every difference.
//
// Pure part (reconcile_billing, stripe_summary_window, billing_reconcile_json): functions of their
// arguments, the clock passed in. I/O part (read_stripe_view): asks Stripe for its meters and one
// summary per (meter, customer, period window); blocking, through the caller's StripeClient.
//
// Rules (one difference per line, naming the cell or the cells of a Stripe group):
//   stripe    Stripe's summary total for (meter of event_name, customer, the period's window)
//             != the sum of `sent` over every cell sharing (customer, event_name, period).
//   counters  stripe_units(usage, unit) != decided. Fewer decided units while the period is open
//             or within `grace_s` after it closed is "pending N" (info), not a difference, unless
//             `strict`. More decided than counted is always a difference.
//   failed / unreportable  units of such reports: not billed.
//   no_meter  the cell's event_name has no Stripe meter.
// Limits: cells are grouped for Stripe by an exact (customer, event_name, period); two tenants
// sharing a customer under different billing anchors overlap in Stripe's windows and would be
// reported as differences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "projections/billing/billing_cells.h"
#include "projections/billing/billing_reporter.h"
#include "projections/billing/stripe_client.h"
#include "schemas/decimal.h"
#include "schemas/result.h"

namespace ul {

struct BillingCellState {
    BillingCellKey key;
    DecimalSum usage;                     // the projection's billing cell (0 when absent)
    bool in_projection = true;            // false: only the billing store knows this cell
    std::optional<BillingTotals> totals;  // nullopt: the reporter never decided anything for it
};

// Stripe's summary window of a period: [start rounded down, end rounded up] to whole minutes, in
// seconds (Stripe wants minute boundaries).
struct StripeWindow {
    std::int64_t start_s = 0;
    std::int64_t end_s = 0;
    friend bool operator==(const StripeWindow&, const StripeWindow&) = default;
};
StripeWindow stripe_summary_window(const Period& period);

// (customer, event_name, window start_s, window end_s) → Stripe's summary total.
using StripeSummaryKey = std::tuple<std::string, std::string, std::int64_t, std::int64_t>;
using StripeTotals = std::map<StripeSummaryKey, std::int64_t>;
using StripeMeterIds = std::map<std::string, std::string>;  // event_name → meter id

struct BillingReconcileOptions {
    std::int64_t now_s = 0;
    std::int64_t grace_s =
        3600;             // the reporter's grace after a period closes (`up --billing-grace`)
    bool strict = false;  // pending units are differences too
    std::string tenant;   // empty: every tenant
    std::optional<std::int64_t> period_us;  // only the cells whose period holds this instant
};

struct BillingDifference {
    enum class Kind : std::uint8_t { stripe, counters, failed, unreportable, no_meter, pending };
    Kind kind = Kind::counters;
    std::string tenant_id;  // a Stripe group of several cells: their tenants joined by ','
    std::string meter;      // likewise
    std::string customer;
    std::string event_name;
    Period period;
    std::int64_t ours = 0;    // stripe: our sent; counters: decided; failed/unreportable/pending: N
    std::int64_t theirs = 0;  // stripe: Stripe's total; counters: stripe_units(usage)
    std::string message;      // the one line, without the cell
};
std::string_view to_string(BillingDifference::Kind kind);
// "<kind>: tenant=… meter=… customer=… event_name=… period_start=<RFC 3339>: <message>"
std::string describe(const BillingDifference& difference);

struct BillingReconcileReport {
    std::size_t cells = 0;                       // cells compared (after the filters)
    std::vector<BillingDifference> differences;  // in cell key order, Stripe groups after cells
    std::vector<BillingDifference> pending;      // info: units not decided yet (not `strict`)
};

// The Stripe summaries reconcile_billing needs: one per (customer, event_name, window) of a cell
// that passes the filters and whose event_name has a meter.
std::vector<StripeSummaryKey> stripe_summaries_needed(const std::vector<BillingCellState>& cells,
                                                      const StripeMeterIds& meters,
                                                      const BillingReconcileOptions& options);

// `cells`: every billing cell (unfiltered: a Stripe group sums every cell in it, also another
// tenant's; the filters pick the groups and cells reported).
BillingReconcileReport reconcile_billing(const std::vector<BillingCellState>& cells,
                                         const StripeTotals& stripe, const StripeMeterIds& meters,
                                         const BillingReconcileOptions& options);

// {"cells":N,"differences":[{"kind","tenant_id","meter","customer","event_name","period_start",
// "period_end","ours","theirs","message","line"}],"pending":[same]}
std::string billing_reconcile_json(const BillingReconcileReport& report);

// Joins the projection's cells (key → usage) with the billing store's totals, in key order.
std::vector<BillingCellState> join_billing_cells(
    const std::vector<std::pair<BillingCellKey, DecimalSum>>& usage,
    const std::vector<std::pair<BillingCellKey, BillingTotals>>& totals);

// Stripe's meters and the summaries needed (I/O, blocking). An error is one line naming the call
// and Stripe's answer (never the key).
struct StripeView {
    StripeMeterIds meters;
    StripeTotals totals;
};
Result<StripeView, std::string> read_stripe_view(StripeClient& client,
                                                 const std::vector<BillingCellState>& cells,
                                                 const BillingReconcileOptions& options);

}  // namespace ul
