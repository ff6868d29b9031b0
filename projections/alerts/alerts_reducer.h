// The alerts projection: the counters reducer (counters/counters_reducer.h) plus the threshold
// crossings its cells reach. One reducer, so an alert is decided from the very cells the entry
// just changed, in the same WriteBatch as those cells, the watermark and the alert's outbox row.
//
// Rules in force for an entry (tenant, meter, event time):
//   - the plan's thresholds (plans file: per meter, else per plan, else 0.80 / 0.95 / 1.00), each
//     a fraction of the meter's monthly limit, over the billing month; none for an unlimited
//     meter. The plan is the one of the account version in force at the event's time (the
//     plans file's default plan without an account);
//   - the tenant's own rules (schemas/account.h AlertRule, in the same account version): a
//     fraction of the limit or an absolute amount (unlimited meters too), over the billing month
//     or the UTC day.
// A crossing's identity is (tenant, meter, period, period start, threshold, limit) — the limit
// is left out for an absolute amount. An entry raises every threshold of its period that the
// usage after it has reached (used ≥ fraction × limit, or ≥ amount) and whose identity was not
// raised before; that identity is then kept in the period's row (family `alert_periods`) and
// never raised again. So:
//   - repeats, restarts, rebalances and replays raise nothing twice (the row is written with the
//     watermark; a replay rebuilds the same rows and the same alert ids);
//   - a raised limit (an upgrade) is a new identity: 80 % of the new limit alerts again once
//     used reaches it;
//   - a lowered limit already exceeded raises the thresholds it now passes, once each, at the
//     tenant's next entry of that meter and period;
//   - a late entry counts in the period of its event time and alerts for that period.
// Alert records (family `alerts`, newest first per tenant) and outbox effects (kind "alert",
// id = the alert id) carry the JSON of alert_json(). Pure; an AlertsReducer is immutable.
// Billing: an entry billed to a Stripe meter (billing/billing_cells.h stripe_meter_for: the
// account in force has a Stripe customer, its plan's meter a stripe_event_name) also adds its
// quantity to its billing cell (family `billing`), in the same billing month the alerts use. The
// reports themselves are decided from the written cells by the billing reporter
// (billing/billing_reporter.h): they depend on the clock (the interval, the grace, Stripe's
// window), which a reducer may not read.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "projections/counters/counters_reducer.h"
#include "schemas/plans.h"
#include "schemas/wallet.h"

namespace ul {

// One threshold to watch for an entry.
struct AlertThreshold {
    bool daily = false;   // UTC day; else the billing month
    bool amount = false;  // an absolute amount; else a fraction of `limit`
    Decimal value;
    std::optional<Decimal> limit;  // the plan's monthly limit in force (nullopt: unlimited)
    std::string rule;              // "plan" or the tenant's rule id
    std::string identity;          // threshold_identity() (alert_thresholds fills it in)
};

// The thresholds in force for `meter` under `account` (null: no account, the default plan).
std::vector<AlertThreshold> alert_thresholds(const PlanBook& plans, const Account* account,
                                             std::string_view meter);
// True when `used` has reached the threshold. A fraction of an unlimited meter is never reached.
bool threshold_reached(const AlertThreshold& threshold, const DecimalSum& used);
// The identity text kept per period: "p<fraction>@<limit>" or "a<amount>" (canonical decimals).
std::string threshold_identity(const AlertThreshold& threshold);
// "al_" + 32 hex digits of XXH3-128 over the whole identity.
std::string alert_id(std::string_view tenant, std::string_view meter, bool daily,
                     std::int64_t period_start_us, std::string_view identity);

// Key of an alert record: tenant '\0' then ~sequence (8, BE) ~partition (4, BE) index (2, BE):
// a tenant's alerts newest first (a tenant's entries share a partition).
std::string alert_record_key(std::string_view tenant, std::uint32_t partition,
                             std::uint64_t sequence, std::uint16_t index);
std::string alert_record_prefix(std::string_view tenant);

struct AlertRecord {
    std::string id;
    std::string tenant_id;
    std::string meter;
    bool daily = false;
    Period period;
    AlertThreshold threshold;
    DecimalSum used;  // after the crossing entry
    std::int64_t crossed_at_us = 0;
    std::uint32_t partition = 0;
    std::uint64_t sequence = 0;
};
// {"id","tenant_id","meter","period":"month"|"day","period_start","period_end",
//  "threshold":{"percent":"0.8"}|{"amount":"5000"},"rule","limit":"1000"|null,"used",
//  "crossed_at","entry":{"partition","sequence"}}
std::string alert_json(const AlertRecord& record);

// Leases of concurrency meters (schemas/lease.h; decided by the ledger, ledger/limits.h): one row
// per (tenant, meter) in family `leases`, key tenant '\0' meter, holding the leases taken by
// accepted entries and not yet released, one line each, "id\tacquired_us\texpires_us\tslots_µ\n",
// in acquire order. An entry at event time T first drops the lines whose expiry is ≤ T (as the
// ledger does), then a release drops its lease's line and an acquire appends one.
std::string lease_row_key(std::string_view tenant, std::string_view meter);
struct LeaseLine {
    std::string_view id;
    std::int64_t acquired_us = 0;
    std::int64_t expires_us = 0;
    std::int64_t slots_micros = 0;
};
// The lines of a row; a damaged line ends the list (false).
bool parse_lease_row(std::string_view row, std::vector<LeaseLine>& out);
// Applies one accepted entry of a concurrency meter to its row. Pure.
void apply_lease_entry(const UsageEvent& event, std::string& row);

// One credits transaction as a JSON line (no newline): {"at","entry":{"partition","sequence"},
// "kind":"grant"|"burn","id","meter","amount","burned":[{"grant_id","amount"}],"uncovered",
// "expired","allowance","carried_over","balance"}.
std::string credit_transaction_json(const LedgerEntryRef& entry, const CreditOp& op,
                                    const WalletChange& change);

// The deltas: the counters' cells plus the alert rows changed since the last write, and the
// stored values read for them (a cache valid until the write: the writer is this projection).
class AlertDeltas final : public CounterDeltas {
  public:
    std::size_t size() const override {
        return cells.cells() + periods.size() + records.size() + billing.size() + leases.size() +
               wallets.size();
    }
    bool empty() const override {
        return cells.empty() && periods.empty() && records.empty() && billing.empty() &&
               leases.empty() && wallets.empty();
    }
    void clear() override;
    void write(StateWriter& out) const override;

    struct PeriodRow {
        std::string value;  // identities raised, each followed by '\n'
        bool changed = false;
    };
    std::map<std::string, PeriodRow, std::less<>> periods;    // alert_periods key → row
    std::map<std::string, std::string, std::less<>> records;  // alerts key → JSON
    // Billing cells (billing/billing_cells.h) → what the entries added to them since the write.
    std::map<std::string, Cell, std::less<>> billing;
    // Lease rows (lease_row_key → lease_row text) read or changed since the write; an empty
    // changed row is erased.
    std::map<std::string, PeriodRow, std::less<>> leases;
    // Credits (schemas/wallet.h): per tenant its wallet and its recent transactions (JSON lines,
    // the last kCreditTransactionsKept), read or changed since the write.
    struct WalletRow {
        Wallet wallet;
        std::string transactions;
        bool changed = false;
    };
    std::map<std::string, WalletRow, std::less<>> wallets;
    // Counter key → its stored sum (hashed: looked up for every entry with thresholds).
    struct KeyHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view key) const {
            return std::hash<std::string_view>{}(key);
        }
    };
    std::unordered_map<std::string, DecimalSum, KeyHash, std::equal_to<>> stored_used;
    std::string key_scratch;  // the entry's counter key (no allocation per entry)
    struct Month {
        int anchor_day = 0;
        const date::time_zone* zone = nullptr;
        Period period;
    };
    Month last_month;  // the billing month made last (a cache; not state)
};

class AlertsReducer final : public Reducer {
  public:
    static constexpr std::size_t kPeriodsFamily = 2;
    static constexpr std::size_t kAlertsFamily = 3;
    static constexpr std::size_t kBillingFamily = 4;
    static constexpr std::size_t kLeasesFamily = 5;
    static constexpr std::size_t kCreditsFamily = 6;
    static constexpr std::size_t kCreditTransactionsFamily = 7;
    static constexpr std::size_t kCreditTransactionsKept = 50;
    AlertsReducer(GroupBy group_by, PlanBook plans);
    // counters, breakdown (the counters schema), alert_periods, alerts, billing (the Stripe
    // billing cells: billing/billing_cells.h; merged like counter cells), leases (lease rows),
    // credits (tenant → its wallet, schemas/wallet.h text), credit_transactions (tenant → its
    // last transactions, credit_transaction_json lines).
    static const std::vector<StateFamily>& schema();

    std::string_view name() const override { return "alerts"; }
    const std::vector<StateFamily>& families() const override { return schema(); }
    std::unique_ptr<ReducerDeltas> make_deltas() const override {
        return std::make_unique<AlertDeltas>();
    }
    Result<bool, std::string> reduce(const LedgerEntryRef& entry, const AccountInForce& account,
                                     const StateReader& state, ReducerDeltas& deltas,
                                     std::vector<Effect>& effects) const override;
    const GroupBy& group_by() const { return counters_.group_by(); }
    const PlanBook& plans() const { return plans_; }

  private:
    static Period billing_month(const UsageEvent& event, const AccountInForce& account,
                                AlertDeltas& deltas);
    Result<bool, std::string> bill(const UsageEvent& event, const AccountInForce& account,
                                   AlertDeltas& deltas) const;
    Result<bool, std::string> move_credits(const LedgerEntryRef& entry,
                                           const AccountInForce& account, const StateReader& state,
                                           AlertDeltas& deltas) const;
    bool has_credits_ = false;
    CountersReducer counters_;
    PlanBook plans_;
    // plan id → meter → the plan's thresholds (what alert_thresholds gives without own rules).
    std::map<std::string, std::map<std::string, std::vector<AlertThreshold>, std::less<>>,
             std::less<>>
        plan_thresholds_;
};

}  // namespace ul
