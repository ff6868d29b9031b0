#include "projections/alerts/alerts_reducer.h"

#include "projections/billing/billing_cells.h"
#include "projections/runner/limit_policy.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "schemas/canonical.h"
#include "schemas/lease.h"
#include "schemas/text.h"
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

std::string lease_row_key(std::string_view tenant, std::string_view meter) {
    std::string key(tenant);
    key.push_back('\0');
    key.append(meter);
    return key;
}

bool parse_lease_row(std::string_view row, std::vector<LeaseLine>& out) {
    out.clear();
    while (!row.empty()) {
        const auto end = row.find('\n');
        if (end == std::string_view::npos) {
            return false;
        }
        std::string_view line = row.substr(0, end);
        row.remove_prefix(end + 1);
        std::array<std::string_view, 4> fields;
        if (!split_exact(line, '\t', fields)) {
            return false;
        }
        LeaseLine lease{fields[0]};
        if (!parse_integer(fields[1], lease.acquired_us) ||
            !parse_integer(fields[2], lease.expires_us) ||
            !parse_integer(fields[3], lease.slots_micros)) {
            return false;
        }
        out.push_back(lease);
    }
    return true;
}

void apply_lease_entry(const UsageEvent& event, std::string& row) {
    std::vector<LeaseLine> leases;
    parse_lease_row(row, leases);  // a damaged tail is dropped: the ledger decides, this lists
    const auto released = lease_release_of(event);
    std::string next;
    for (const LeaseLine& lease : leases) {
        if (lease.expires_us <= event.timestamp_us || (released && lease.id == *released)) {
            continue;
        }
        next.append(lease.id).push_back('\t');
        next.append(std::to_string(lease.acquired_us)).push_back('\t');
        next.append(std::to_string(lease.expires_us)).push_back('\t');
        next.append(std::to_string(lease.slots_micros)).push_back('\n');
    }
    if (!released) {
        next.append(event.idempotency_key).push_back('\t');
        next.append(std::to_string(event.timestamp_us)).push_back('\t');
        next.append(std::to_string(event.timestamp_us + lease_ttl_us_of(event))).push_back('\t');
        next.append(std::to_string(event.quantity.micros())).push_back('\n');
    }
    row = std::move(next);
}

std::string credit_transaction_json(const LedgerEntryRef& entry, const CreditOp& op,
                                    const WalletChange& change) {
    auto decimal = [](std::int64_t micros) {
        return "\"" + Decimal::from_micros(micros).to_string() + "\"";
    };
    std::string out = "{\"at\":\"" + format_rfc3339(entry.event.timestamp_us) +
                      "\",\"entry\":{\"partition\":" + std::to_string(entry.partition) +
                      ",\"sequence\":" + std::to_string(entry.sequence) + "},\"kind\":";
    out += op.grant ? "\"grant\"" : "\"burn\"";
    out += ",\"id\":";
    append_json_string(out, op.id);
    out += ",\"meter\":";
    append_json_string(out, entry.event.meter);
    out += ",\"amount\":" + decimal(op.micros) + ",\"burned\":[";
    for (std::size_t index = 0; index < change.burned.size(); ++index) {
        out += index == 0 ? "{\"grant_id\":" : ",{\"grant_id\":";
        append_json_string(out, change.burned[index].grant_id);
        out += ",\"amount\":" + decimal(change.burned[index].micros) + "}";
    }
    out += "],\"uncovered\":" + decimal(change.uncovered_micros) +
           ",\"expired\":" + decimal(change.expired_micros) +
           ",\"allowance\":" + decimal(change.allowance_micros) +
           ",\"carried_over\":" + decimal(change.carried_over_micros) +
           ",\"balance\":" + decimal(change.balance_after_micros) + "}";
    return out;
}

void AlertDeltas::clear() {
    CounterDeltas::clear();
    periods.clear();
    leases.clear();
    wallets.clear();
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
    for (const auto& [key, row] : leases) {
        if (!row.changed) {
            continue;
        }
        if (row.value.empty()) {
            out.erase(AlertsReducer::kLeasesFamily, key);
        } else {
            out.put(AlertsReducer::kLeasesFamily, key, row.value);
        }
    }
    for (const auto& [key, row] : wallets) {
        if (row.changed) {
            out.put(AlertsReducer::kCreditsFamily, key, encode_wallet(row.wallet));
            out.put(AlertsReducer::kCreditTransactionsFamily, key, row.transactions);
        }
    }
    char value[kCellBytes];
    for (const auto& [key, cell] : billing) {
        encode_cell(cell, value);
        out.merge(AlertsReducer::kBillingFamily, key, std::string_view(value, kCellBytes));
    }
}

AlertsReducer::AlertsReducer(GroupBy group_by, PlanBook plans)
    : has_credits_(has_credits(plans)), counters_(std::move(group_by)), plans_(std::move(plans)) {
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
        all.push_back({"leases", nullptr});
        all.push_back({"credits", nullptr});
        all.push_back({"credit_transactions", nullptr});
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

Result<bool, std::string> AlertsReducer::move_credits(const LedgerEntryRef& entry,
                                                      const AccountInForce& account,
                                                      const StateReader& state,
                                                      AlertDeltas& deltas) const {
    const UsageEvent& event = entry.event;
    const auto rule = credit_rule_of(plans_, account, event.meter, event.timestamp_us);
    if (!rule) {
        return true;
    }
    const auto op = credit_op_of(event, *rule);
    if (!op) {
        return true;  // the ledger dead-lettered such an event: it is never an entry
    }
    auto found = deltas.wallets.find(event.tenant_id);
    if (found == deltas.wallets.end()) {
        AlertDeltas::WalletRow row;
        auto stored = state.get(kCreditsFamily, event.tenant_id);
        if (!stored) {
            return unexpected(stored.error());
        }
        if (*stored) {
            auto wallet = decode_wallet(**stored);
            if (!wallet) {
                return unexpected("the wallet of " + std::string(event.tenant_id) +
                                  " in the projection store is damaged");
            }
            row.wallet = std::move(*wallet);
        }
        auto transactions = state.get(kCreditTransactionsFamily, event.tenant_id);
        if (!transactions) {
            return unexpected(transactions.error());
        }
        row.transactions = transactions->value_or("");
        found = deltas.wallets.emplace(std::string(event.tenant_id), std::move(row)).first;
    }
    AlertDeltas::WalletRow& row = found->second;
    const WalletChange change = apply_wallet(row.wallet, *rule, *op, event.timestamp_us);
    if (change.refused) {
        return true;  // as the ledger decided: such an event is never an entry
    }
    row.transactions += credit_transaction_json(entry, *op, change);
    row.transactions.push_back('\n');
    std::size_t lines = std::count(row.transactions.begin(), row.transactions.end(), '\n');
    while (lines > kCreditTransactionsKept) {
        row.transactions.erase(0, row.transactions.find('\n') + 1);
        --lines;
    }
    row.changed = true;
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
    if (has_credits_) {
        if (auto moved = move_credits(entry, account, state, alert_deltas); !moved) {
            return moved;
        }
    }
    const Account* held = account.account;
    const Plan* plan_in_force =
        plans_.find(held != nullptr ? std::string_view(held->plan) : plans_.default_plan);
    const MeterPlan* meter_plan =
        plan_in_force != nullptr ? plan_in_force->find(event.meter) : nullptr;
    if (meter_plan != nullptr && meter_plan->concurrency) {
        const std::string key = lease_row_key(event.tenant_id, event.meter);
        auto found = alert_deltas.leases.find(key);
        if (found == alert_deltas.leases.end()) {
            auto value = state.get(kLeasesFamily, key);
            if (!value) {
                return unexpected(value.error());
            }
            found =
                alert_deltas.leases.emplace(key, AlertDeltas::PeriodRow{value->value_or(""), false})
                    .first;
        }
        apply_lease_entry(event, found->second.value);
        found->second.changed = true;
        return true;  // a concurrency meter has no thresholds
    }
    // The plan's thresholds come from a table made once; only a tenant with rules of its own for
    // this meter needs a list made for the entry.
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
