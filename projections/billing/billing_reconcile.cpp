#include "projections/billing/billing_reconcile.h"

#include <algorithm>
#include <set>
#include <utility>

#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
    std::int64_t quotient = value / divisor;
    if (value % divisor != 0 && value < 0) {
        --quotient;
    }
    return quotient;
}

std::int64_t ceil_div(std::int64_t value, std::int64_t divisor) {
    return -floor_div(-value, divisor);
}

bool selected(const BillingCellKey& key, const BillingReconcileOptions& options) {
    if (!options.tenant.empty() && key.tenant_id != options.tenant) {
        return false;
    }
    if (options.period_us &&
        (*options.period_us < key.period.start_us || *options.period_us >= key.period.end_us)) {
        return false;
    }
    return true;
}

StripeSummaryKey summary_key(const BillingCellKey& key) {
    const StripeWindow window = stripe_summary_window(key.period);
    return {key.customer, key.event_name, window.start_s, window.end_s};
}

BillingDifference difference_of(BillingDifference::Kind kind, const BillingCellKey& key) {
    BillingDifference difference;
    difference.kind = kind;
    difference.tenant_id = key.tenant_id;
    difference.meter = key.meter;
    difference.customer = key.customer;
    difference.event_name = key.event_name;
    difference.period = key.period;
    return difference;
}

// The reporter waits while the period is open, ahead of the clock, or in its grace.
bool still_pending(const Period& period, const BillingReconcileOptions& options) {
    const std::int64_t last_s = floor_div(period.end_us - 1, 1'000'000);
    return options.now_s < last_s + 1 + options.grace_s;
}

void check_counters(const BillingCellState& cell, const BillingReconcileOptions& options,
                    BillingReconcileReport& report) {
    const BillingTotals totals = cell.totals.value_or(BillingTotals{});
    auto target = stripe_units(cell.usage, cell.key.unit);
    if (!target) {
        auto difference = difference_of(BillingDifference::Kind::counters, cell.key);
        difference.ours = totals.decided;
        difference.message = "usage " + cell.usage.to_string() + " has no Stripe units (" +
                             target.error() + "); decided " + std::to_string(totals.decided);
        report.differences.push_back(std::move(difference));
        return;
    }
    if (*target != totals.decided) {
        const std::int64_t missing = *target - totals.decided;
        const bool pending =
            missing > 0 && !options.strict && still_pending(cell.key.period, options);
        auto difference = difference_of(
            pending ? BillingDifference::Kind::pending : BillingDifference::Kind::counters,
            cell.key);
        difference.ours = pending ? missing : totals.decided;
        difference.theirs = *target;
        if (pending) {
            difference.message = "pending " + std::to_string(missing) +
                                 " (period open or in its grace; usage " + cell.usage.to_string() +
                                 " = " + std::to_string(*target) + " units, decided " +
                                 std::to_string(totals.decided) + ")";
            report.pending.push_back(std::move(difference));
        } else {
            difference.message =
                "usage " + cell.usage.to_string() + " / unit " + cell.key.unit.to_string() + " = " +
                std::to_string(*target) + " units, but " + std::to_string(totals.decided) +
                " decided" +
                (cell.in_projection ? "" : " (no billing cell in the projection store)");
            report.differences.push_back(std::move(difference));
        }
    }
    if (totals.failed > 0) {
        auto difference = difference_of(BillingDifference::Kind::failed, cell.key);
        difference.ours = totals.failed;
        difference.message = std::to_string(totals.failed) + " units failed: not billed";
        report.differences.push_back(std::move(difference));
    }
    if (totals.unreportable > 0) {
        auto difference = difference_of(BillingDifference::Kind::unreportable, cell.key);
        difference.ours = totals.unreportable;
        difference.message =
            std::to_string(totals.unreportable) + " units unreportable: not billed";
        report.differences.push_back(std::move(difference));
    }
}

std::string joined(const std::set<std::string>& names) {
    std::string out;
    for (const auto& name : names) {
        out += (out.empty() ? "" : ",") + name;
    }
    return out;
}

void append_difference_json(std::string& out, const BillingDifference& difference) {
    out += "{\"kind\":";
    append_json_string(out, to_string(difference.kind));
    out += ",\"tenant_id\":";
    append_json_string(out, difference.tenant_id);
    out += ",\"meter\":";
    append_json_string(out, difference.meter);
    out += ",\"customer\":";
    append_json_string(out, difference.customer);
    out += ",\"event_name\":";
    append_json_string(out, difference.event_name);
    out += ",\"period_start\":";
    append_json_string(out, format_rfc3339(difference.period.start_us));
    out += ",\"period_end\":";
    append_json_string(out, format_rfc3339(difference.period.end_us));
    out += ",\"ours\":" + std::to_string(difference.ours);
    out += ",\"theirs\":" + std::to_string(difference.theirs);
    out += ",\"message\":";
    append_json_string(out, difference.message);
    out += ",\"line\":";
    append_json_string(out, describe(difference));
    out += "}";
}

}  // namespace

StripeWindow stripe_summary_window(const Period& period) {
    const std::int64_t start_s = floor_div(period.start_us, 1'000'000);
    const std::int64_t end_s = ceil_div(period.end_us, 1'000'000);
    return {floor_div(start_s, 60) * 60, ceil_div(end_s, 60) * 60};
}

std::string_view to_string(BillingDifference::Kind kind) {
    switch (kind) {
        case BillingDifference::Kind::stripe:
            return "stripe";
        case BillingDifference::Kind::counters:
            return "counters";
        case BillingDifference::Kind::failed:
            return "failed";
        case BillingDifference::Kind::unreportable:
            return "unreportable";
        case BillingDifference::Kind::no_meter:
            return "no_meter";
        case BillingDifference::Kind::pending:
            return "pending";
    }
    return "unknown";
}

std::string describe(const BillingDifference& difference) {
    return std::string(to_string(difference.kind)) + ": tenant=" + difference.tenant_id +
           " meter=" + difference.meter + " customer=" + difference.customer +
           " event_name=" + difference.event_name +
           " period_start=" + format_rfc3339(difference.period.start_us) + ": " +
           difference.message;
}

std::vector<StripeSummaryKey> stripe_summaries_needed(const std::vector<BillingCellState>& cells,
                                                      const StripeMeterIds& meters,
                                                      const BillingReconcileOptions& options) {
    std::set<StripeSummaryKey> needed;
    for (const auto& cell : cells) {
        if (selected(cell.key, options) && meters.contains(cell.key.event_name)) {
            needed.insert(summary_key(cell.key));
        }
    }
    return {needed.begin(), needed.end()};
}

BillingReconcileReport reconcile_billing(const std::vector<BillingCellState>& cells,
                                         const StripeTotals& stripe, const StripeMeterIds& meters,
                                         const BillingReconcileOptions& options) {
    BillingReconcileReport report;
    struct Group {
        std::int64_t sent = 0;
        bool selected = false;
        std::set<std::string> tenants;
        std::set<std::string> meters;
        Period period;
        std::size_t cells = 0;
    };
    std::map<StripeSummaryKey, Group> groups;
    for (const auto& cell : cells) {
        const bool chosen = selected(cell.key, options);
        if (chosen) {
            ++report.cells;
            if (!meters.contains(cell.key.event_name)) {
                auto difference = difference_of(BillingDifference::Kind::no_meter, cell.key);
                difference.message = "Stripe has no meter with event_name '" + cell.key.event_name +
                                     "': nothing of this cell can be billed";
                report.differences.push_back(std::move(difference));
            }
            check_counters(cell, options, report);
        }
        if (!meters.contains(cell.key.event_name)) {
            continue;
        }
        Group& group = groups[summary_key(cell.key)];
        group.sent += cell.totals ? cell.totals->sent : 0;
        group.selected = group.selected || chosen;
        group.tenants.insert(cell.key.tenant_id);
        group.meters.insert(cell.key.meter);
        group.period = cell.key.period;
        ++group.cells;
    }
    for (const auto& [key, group] : groups) {
        if (!group.selected) {
            continue;
        }
        const auto found = stripe.find(key);
        if (found != stripe.end() && found->second == group.sent) {
            continue;
        }
        BillingDifference difference;
        difference.kind = BillingDifference::Kind::stripe;
        difference.tenant_id = joined(group.tenants);
        difference.meter = joined(group.meters);
        difference.customer = std::get<0>(key);
        difference.event_name = std::get<1>(key);
        difference.period = group.period;
        difference.ours = group.sent;
        const std::string cells_text =
            group.cells > 1 ? " (summed over " + std::to_string(group.cells) + " cells)" : "";
        if (found == stripe.end()) {
            difference.message =
                "no Stripe summary was read; we sent " + std::to_string(group.sent) + cells_text;
        } else {
            difference.theirs = found->second;
            difference.message = "Stripe's summary total is " + std::to_string(found->second) +
                                 ", we sent " + std::to_string(group.sent) + cells_text;
        }
        report.differences.push_back(std::move(difference));
    }
    return report;
}

std::string billing_reconcile_json(const BillingReconcileReport& report) {
    std::string out = "{\"cells\":" + std::to_string(report.cells) + ",\"differences\":[";
    for (std::size_t index = 0; index < report.differences.size(); ++index) {
        out += index > 0 ? "," : "";
        append_difference_json(out, report.differences[index]);
    }
    out += "],\"pending\":[";
    for (std::size_t index = 0; index < report.pending.size(); ++index) {
        out += index > 0 ? "," : "";
        append_difference_json(out, report.pending[index]);
    }
    out += "]}";
    return out;
}

std::vector<BillingCellState> join_billing_cells(
    const std::vector<std::pair<BillingCellKey, DecimalSum>>& usage,
    const std::vector<std::pair<BillingCellKey, BillingTotals>>& totals) {
    std::map<std::string, BillingCellState> joined_cells;
    for (const auto& [key, sum] : usage) {
        BillingCellState& cell = joined_cells[billing_key(key)];
        cell.key = key;
        cell.usage = sum;
    }
    for (const auto& [key, cell_totals] : totals) {
        const std::string bytes = billing_key(key);
        auto found = joined_cells.find(bytes);
        if (found == joined_cells.end()) {
            BillingCellState cell;
            cell.key = key;
            cell.in_projection = false;
            found = joined_cells.emplace(bytes, std::move(cell)).first;
        }
        found->second.totals = cell_totals;
    }
    std::vector<BillingCellState> out;
    out.reserve(joined_cells.size());
    for (auto& [bytes, cell] : joined_cells) {
        out.push_back(std::move(cell));
    }
    return out;
}

Result<StripeView, std::string> read_stripe_view(StripeClient& client,
                                                 const std::vector<BillingCellState>& cells,
                                                 const BillingReconcileOptions& options) {
    StripeView view;
    auto meters = client.list_meters();
    if (!meters) {
        return unexpected("Stripe: listing meters: " + meters.error().describe());
    }
    for (const auto& meter : *meters) {
        view.meters.emplace(meter.event_name, meter.id);
    }
    for (const auto& key : stripe_summaries_needed(cells, view.meters, options)) {
        const auto& [customer, event_name, start_s, end_s] = key;
        const std::string& meter_id = view.meters.at(event_name);
        auto summaries = client.meter_event_summaries(meter_id, customer, start_s, end_s);
        if (!summaries) {
            return unexpected("Stripe: event summaries of meter " + meter_id + " for " + customer +
                              ": " + summaries.error().describe());
        }
        view.totals[key] = summaries->total;
    }
    return view;
}

}  // namespace ul
