#include "projections/alerts/alerts_reducer.h"

#include "projections/billing/billing_cells.h"

#include <algorithm>

#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

void append_be(std::string& out, std::uint64_t value, int bytes) {
    for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((value >> static_cast<unsigned>(shift)) & 0xffU));
    }
}

bool holds(std::string_view row, std::string_view identity) {
    std::size_t at = 0;
    while (at < row.size()) {
        const std::size_t end = row.find('\n', at);
        if (row.substr(at, end - at) == identity) {
            return true;
        }
        at = end == std::string_view::npos ? row.size() : end + 1;
    }
    return false;
}

// The usage of a counter cell after the entry: its stored sum (read once per write) plus the
// deltas pending, this entry's included.
Result<DecimalSum, std::string> used_after(const std::string& key, const StateReader& state,
                                           AlertDeltas& deltas) {
    auto stored = deltas.stored_used.find(key);
    if (stored == deltas.stored_used.end()) {
        auto value = state.get(CountersReducer::kCountersFamily, key);
        if (!value) {
            return unexpected(value.error());
        }
        DecimalSum sum;
        if (*value) {
            auto cell = decode_cell(**value);
            if (!cell) {
                return unexpected("a damaged counter cell: " + cell.error());
            }
            sum = cell->sum;
        }
        stored = deltas.stored_used.emplace(key, sum).first;
    }
    DecimalSum used = stored->second;
    if (const Cell* pending = deltas.cells.counters().find(key)) {
        if (!used.add(pending->sum)) {
            return unexpected(std::string("a counter would overflow"));
        }
    }
    return used;
}

Result<AlertDeltas::PeriodRow*, std::string> period_row(const std::string& key,
                                                        const StateReader& state,
                                                        AlertDeltas& deltas) {
    auto found = deltas.periods.find(key);
    if (found == deltas.periods.end()) {
        auto value = state.get(AlertsReducer::kPeriodsFamily, key);
        if (!value) {
            return unexpected(value.error());
        }
        found =
            deltas.periods.emplace(key, AlertDeltas::PeriodRow{value->value_or(""), false}).first;
    }
    return &found->second;
}

}  // namespace

std::vector<AlertThreshold> alert_thresholds(const PlanBook& plans, const Account* account,
                                             std::string_view meter) {
    std::vector<AlertThreshold> thresholds;
    const Plan* plan = plans.find(account != nullptr ? account->plan : plans.default_plan);
    const MeterPlan* meter_plan = plan != nullptr ? plan->find(meter) : nullptr;
    std::optional<Decimal> limit;
    if (meter_plan != nullptr) {
        limit = meter_plan->limit;
        if (limit) {
            for (const Decimal fraction : meter_plan->thresholds) {
                thresholds.push_back({false, false, fraction, limit, "plan", ""});
            }
        }
    }
    if (account != nullptr) {
        for (const auto& rule : account->alert_rules) {
            if (rule.meter == meter) {
                thresholds.push_back({rule.daily, rule.amount, rule.value, limit, rule.id, ""});
            }
        }
    }
    for (auto& threshold : thresholds) {
        threshold.identity = threshold_identity(threshold);
    }
    return thresholds;
}

bool threshold_reached(const AlertThreshold& threshold, const DecimalSum& used) {
    if (threshold.amount) {
        return used.micros() >= threshold.value.micros();
    }
    if (!threshold.limit) {
        return false;
    }
    // used ≥ fraction × limit, exactly: used·10⁶ ≥ fraction_µ·limit_µ ⇔ used ≥ ⌈product / 10⁶⌉
    // (the product is at most 10⁷ · 10¹⁸, well inside 128 bits).
    const __int128 product = static_cast<__int128>(threshold.value.micros()) *
                             static_cast<__int128>(threshold.limit->micros());
    const __int128 need = (product + Decimal::kMicrosPerUnit - 1) / Decimal::kMicrosPerUnit;
    return used.micros() >= need;
}

std::string threshold_identity(const AlertThreshold& threshold) {
    if (threshold.amount) {
        return "a" + threshold.value.to_string();
    }
    return "p" + threshold.value.to_string() + "@" +
           (threshold.limit ? threshold.limit->to_string() : std::string("unlimited"));
}

std::string alert_id(std::string_view tenant, std::string_view meter, bool daily,
                     std::int64_t period_start_us, std::string_view identity) {
    std::string text;
    text.append(tenant).push_back('\0');
    text.append(meter).push_back('\0');
    text.push_back(daily ? 'd' : 'm');
    append_be(text, static_cast<std::uint64_t>(period_start_us), 8);
    text.append(identity);
    return "al_" + to_hex(hash_bytes(text));
}

std::string alert_record_prefix(std::string_view tenant) {
    std::string key(tenant);
    key.push_back('\0');
    return key;
}

std::string alert_record_key(std::string_view tenant, std::uint32_t partition,
                             std::uint64_t sequence, std::uint16_t index) {
    std::string key = alert_record_prefix(tenant);
    append_be(key, ~sequence, 8);
    append_be(key, ~partition, 4);
    append_be(key, index, 2);
    return key;
}

std::string alert_json(const AlertRecord& record) {
    std::string out = "{\"id\":";
    append_json_string(out, record.id);
    out += ",\"tenant_id\":";
    append_json_string(out, record.tenant_id);
    out += ",\"meter\":";
    append_json_string(out, record.meter);
    out += record.daily ? ",\"period\":\"day\"" : ",\"period\":\"month\"";
    out += ",\"period_start\":\"" + format_rfc3339(record.period.start_us) + "\"";
    out += ",\"period_end\":\"" + format_rfc3339(record.period.end_us) + "\"";
    out += record.threshold.amount ? ",\"threshold\":{\"amount\":\""
                                   : ",\"threshold\":{\"percent\":\"";
    out += record.threshold.value.to_string() + "\"}";
    out += ",\"rule\":";
    append_json_string(out, record.threshold.rule);
    out += ",\"limit\":";
    out += record.threshold.limit ? "\"" + record.threshold.limit->to_string() + "\"" : "null";
    out += ",\"used\":\"" + record.used.to_string() + "\"";
    out += ",\"crossed_at\":\"" + format_rfc3339(record.crossed_at_us) + "\"";
    out += ",\"entry\":{\"partition\":" + std::to_string(record.partition) +
           ",\"sequence\":" + std::to_string(record.sequence) + "}}";
    return out;
}

void AlertDeltas::clear() {
    CounterDeltas::clear();
    periods.clear();
    records.clear();
    billing.clear();
    stored_used.clear();
}

void AlertDeltas::write(StateWriter& out) const {
    CounterDeltas::write(out);
    for (const auto& [key, row] : periods) {
        if (row.changed) {
            out.put(AlertsReducer::kPeriodsFamily, key, row.value);
        }
    }
    for (const auto& [key, json] : records) {
        out.put(AlertsReducer::kAlertsFamily, key, json);
    }
    char value[kCellBytes];
    for (const auto& [key, cell] : billing) {
        encode_cell(cell, value);
        out.merge(AlertsReducer::kBillingFamily, key, std::string_view(value, kCellBytes));
    }
}

AlertsReducer::AlertsReducer(GroupBy group_by, PlanBook plans)
    : counters_(std::move(group_by)), plans_(std::move(plans)) {
    for (const auto& plan : plans_.plans) {
        Account on_plan;
        on_plan.plan = plan.id;
        auto& meters = plan_thresholds_[plan.id];
        for (const auto& meter : plan.meters) {
            meters[meter.meter] = alert_thresholds(plans_, &on_plan, meter.meter);
        }
    }
}

const std::vector<StateFamily>& AlertsReducer::schema() {
    static const std::vector<StateFamily> families = [] {
        std::vector<StateFamily> all = CountersReducer::schema();
        all.push_back({"alert_periods", nullptr});
        all.push_back({"alerts", nullptr});
        all.push_back({"billing", all[CountersReducer::kCountersFamily].merge});
        return all;
    }();
    return families;
}

// A tenant's events mostly fall in one month: the last month made is kept (the same calendar, a
// time inside it) instead of asking date/tz again.
Period AlertsReducer::billing_month(const UsageEvent& event, const AccountInForce& account,
                                    AlertDeltas& deltas) {
    auto& cached = deltas.last_month;
    if (!(cached.anchor_day == account.calendar.anchor_day &&
          cached.zone == account.calendar.zone && cached.period.start_us <= event.timestamp_us &&
          event.timestamp_us < cached.period.end_us)) {
        cached = {account.calendar.anchor_day, account.calendar.zone,
                  month_period(account.calendar, event.timestamp_us)};
    }
    return cached.period;
}

Result<bool, std::string> AlertsReducer::bill(const UsageEvent& event,
                                              const AccountInForce& account,
                                              AlertDeltas& deltas) const {
    const auto stripe = stripe_meter_for(plans_, account.account, event.meter);
    if (!stripe) {
        return true;
    }
    std::string& bytes = deltas.key_scratch;
    bytes.clear();
    append_billing_key(event.tenant_id, event.meter, stripe->customer, stripe->event_name,
                       stripe->unit, billing_month(event, account, deltas), bytes);
    const Cell added = cell_of(event.quantity, event.timestamp_us);
    auto found = deltas.billing.find(bytes);
    if (found == deltas.billing.end()) {
        deltas.billing.emplace(bytes, added);
        return true;
    }
    if (!merge_cell(found->second, added)) {
        return unexpected("billing cell of " + std::string(event.tenant_id) + "/" +
                          std::string(event.meter) + " overflows");
    }
    return true;
}

Result<bool, std::string> AlertsReducer::reduce(const LedgerEntryRef& entry,
                                                const AccountInForce& account,
                                                const StateReader& state, ReducerDeltas& deltas,
                                                std::vector<Effect>& effects) const {
    if (auto counted = counters_.reduce(entry, account, state, deltas, effects); !counted) {
        return counted;
    }
    const UsageEvent& event = entry.event;
    auto& alert_deltas = static_cast<AlertDeltas&>(deltas);
    if (auto billed = bill(event, account, alert_deltas); !billed) {
        return billed;
    }
    // The plan's thresholds come from a table made once; only a tenant with rules of its own for
    // this meter needs a list made for the entry.
    const Account* held = account.account;
    const std::vector<AlertThreshold>* thresholds = nullptr;
    const auto plan = plan_thresholds_.find(
        held != nullptr ? std::string_view(held->plan) : std::string_view(plans_.default_plan));
    if (plan != plan_thresholds_.end()) {
        const auto meter = plan->second.find(event.meter);
        thresholds = meter != plan->second.end() ? &meter->second : nullptr;
    }
    std::vector<AlertThreshold> with_rules;
    if (held != nullptr &&
        std::any_of(held->alert_rules.begin(), held->alert_rules.end(),
                    [&](const AlertRule& rule) { return rule.meter == event.meter; })) {
        with_rules = alert_thresholds(plans_, held, event.meter);
        thresholds = &with_rules;
    }
    if (thresholds == nullptr || thresholds->empty()) {
        return true;
    }
    std::uint16_t index = 0;
    for (const bool daily : {false, true}) {
        if (std::none_of(
                thresholds->begin(), thresholds->end(),
                [&](const AlertThreshold& threshold) { return threshold.daily == daily; })) {
            continue;
        }
        // A tenant's events mostly fall in one month: the last month made is kept (the same
        // calendar, a time inside it) instead of asking date/tz again.
        const Period period =
            daily ? day_period(event.timestamp_us) : billing_month(event, account, alert_deltas);
        std::string& key = alert_deltas.key_scratch;
        key.clear();
        append_counter_key({event.tenant_id, event.meter,
                            daily ? WindowKind::day : WindowKind::month, period.start_us},
                           key);
        std::optional<DecimalSum> used;
        AlertDeltas::PeriodRow* row = nullptr;
        for (const auto& threshold : *thresholds) {
            if (threshold.daily != daily) {
                continue;
            }
            if (!used) {
                auto sum = used_after(key, state, alert_deltas);
                if (!sum) {
                    return unexpected(sum.error());
                }
                used = *sum;
            }
            if (!threshold_reached(threshold, *used)) {
                continue;
            }
            if (row == nullptr) {
                auto found = period_row(key, state, alert_deltas);
                if (!found) {
                    return unexpected(found.error());
                }
                row = *found;
            }
            const std::string& identity = threshold.identity;
            if (holds(row->value, identity)) {
                continue;
            }
            row->value += identity;
            row->value.push_back('\n');
            row->changed = true;
            AlertRecord record{
                alert_id(event.tenant_id, event.meter, daily, period.start_us, identity),
                std::string(event.tenant_id),
                std::string(event.meter),
                daily,
                period,
                threshold,
                *used,
                event.timestamp_us,
                entry.partition,
                entry.sequence};
            std::string json = alert_json(record);
            alert_deltas.records[alert_record_key(event.tenant_id, entry.partition, entry.sequence,
                                                  index++)] = json;
            effects.push_back({"alert", std::move(record.id), std::move(json)});
        }
    }
    return true;
}

}  // namespace ul
