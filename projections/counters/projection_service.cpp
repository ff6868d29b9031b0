#include "projections/counters/projection_service.h"
#include "projections/alerts/alerts_reducer.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <set>

namespace ul {

Result<std::unique_ptr<ProjectionService>, std::string> ProjectionService::start(
    ProjectionServiceOptions options) {
    std::unique_ptr<ProjectionService> service(new ProjectionService());
    service->reducer_ = std::make_shared<const AlertsReducer>(options.group_by, options.plans);
    auto runner = ProjectionRunner::start(std::move(options), service->reducer_);
    if (!runner) {
        return unexpected(runner.error());
    }
    service->runner_ = std::move(runner).value();
    return service;
}

Result<std::optional<Cell>, std::string> ProjectionService::cell(const CounterKey& key) const {
    const auto view = runner_->read_view();
    auto stored = store().cell(key, view.snapshot.get());
    if (!stored || view.deltas.empty()) {
        return stored;
    }
    std::string encoded;
    append_counter_key(key, encoded);
    std::optional<Cell> out = *stored;
    for (const ReducerDeltas* deltas : view.deltas) {
        if (const Cell* delta = cell_deltas(*deltas).counters().find(encoded)) {
            if (!out) {
                out = Cell{};
            }
            if (!merge_cell(*out, *delta)) {
                return unexpected(std::string("a counter would overflow"));
            }
        }
    }
    return out;
}

namespace {

// Cells of `family` in key order: the stored ones at `snapshot` plus every delta, merged,
// whose key is in [from, to) (to empty: no end) and starts with `prefix`; decoded and visited.
template <class Decode, class Visit>
Result<bool, std::string> read_with_deltas(const ProjectionStore& store,
                                           const rocksdb::Snapshot* snapshot,
                                           const std::vector<const ReducerDeltas*>& deltas,
                                           CellFamily family, std::string_view from,
                                           std::string_view to, std::string_view prefix,
                                           Decode&& decode, Visit&& visit) {
    auto in_range = [&](std::string_view key) {
        return key >= from && (to.empty() || key < to) && key.starts_with(prefix);
    };
    std::map<std::string, Cell, std::less<>> cells;
    auto read = store.for_each_cell(
        family, from, to,
        [&](std::string_view key, const Cell& cell) {
            if (!in_range(key)) {
                return false;  // past the prefix: keys sort, nothing further matches
            }
            cells.emplace(key, cell);
            return true;
        },
        snapshot);
    if (!read) {
        return read;
    }
    bool overflow = false;
    for (const ReducerDeltas* batch : deltas) {
        const CellDeltas& held = cell_deltas(*batch);
        const CellMap& of = family == CellFamily::counters ? held.counters() : held.breakdowns();
        of.for_each([&](std::string_view key, const Cell& delta) {
            if (!in_range(key)) {
                return;
            }
            auto [slot, inserted] = cells.try_emplace(std::string(key), delta);
            overflow = overflow || (!inserted && !merge_cell(slot->second, delta));
        });
    }
    if (overflow) {
        return unexpected(std::string("a counter would overflow"));
    }
    for (const auto& [key, cell] : cells) {
        auto decoded = decode(key);
        if (!decoded) {
            return unexpected("a damaged key in the projection's deltas: " + decoded.error());
        }
        if (!visit(*decoded, cell)) {
            break;
        }
    }
    return true;
}

}  // namespace

Result<bool, std::string> ProjectionService::for_each_counter_range(
    std::string_view from, std::string_view to,
    const std::function<bool(const CounterKey&, const Cell&)>& visit) const {
    const auto view = runner_->read_view();
    if (view.deltas.empty()) {
        return store().for_each_counter_range(from, to, visit, view.snapshot.get());
    }
    return read_with_deltas(store(), view.snapshot.get(), view.deltas, CellFamily::counters, from,
                            to, "", decode_counter_key, visit);
}

Result<bool, std::string> ProjectionService::for_each_breakdown(
    std::string_view prefix,
    const std::function<bool(const BreakdownKey&, const Cell&)>& visit) const {
    const auto view = runner_->read_view();
    if (view.deltas.empty()) {
        return store().for_each_breakdown(prefix, visit, view.snapshot.get());
    }
    return read_with_deltas(store(), view.snapshot.get(), view.deltas, CellFamily::breakdown,
                            prefix, "", prefix, decode_breakdown_key, visit);
}

Result<std::vector<std::string>, std::string> ProjectionService::tenants() const {
    const auto view = runner_->read_view();
    auto stored = store().tenants(view.snapshot.get());
    if (!stored || view.deltas.empty()) {
        return stored;
    }
    std::set<std::string> all(stored->begin(), stored->end());
    for (const ReducerDeltas* deltas : view.deltas) {
        for (const auto& [tenant, meters] : cell_deltas(*deltas).meters()) {
            all.insert(tenant);
        }
    }
    return std::vector<std::string>(all.begin(), all.end());
}

Result<std::vector<std::string>, std::string> ProjectionService::meters(
    std::string_view tenant_id) const {
    const auto view = runner_->read_view();
    auto stored = store().meters(tenant_id, view.snapshot.get());
    if (!stored || view.deltas.empty()) {
        return stored;
    }
    std::set<std::string> all(stored->begin(), stored->end());
    for (const ReducerDeltas* deltas : view.deltas) {
        const auto& meters = cell_deltas(*deltas).meters();
        const auto found = meters.find(tenant_id);
        if (found != meters.end()) {
            all.insert(found->second.begin(), found->second.end());
        }
    }
    return std::vector<std::string>(all.begin(), all.end());
}

Result<std::vector<ProjectionService::AlertRow>, std::string> ProjectionService::alerts(
    std::string_view tenant, const AlertQuery& query) const {
    // Records are written by alert_json in one field order, so a filter is an exact substring.
    std::string meter_field;
    if (!query.meter.empty()) {
        meter_field = ",\"meter\":";
        append_json_string(meter_field, query.meter);
        meter_field += ",";
    }
    const std::string period_field =
        query.period_start.empty() ? "" : ",\"period_start\":\"" + query.period_start + "\"";
    auto matches = [&](std::string_view json) {
        return (meter_field.empty() || json.find(meter_field) != std::string_view::npos) &&
               (period_field.empty() || json.find(period_field) != std::string_view::npos);
    };
    const std::string prefix = alert_record_prefix(tenant);
    std::string end = prefix;
    end.back() = '\x01';  // the prefix is tenant '\0': every key of the tenant sorts before this
    std::string from = prefix;
    if (!query.after.empty()) {
        from = query.after;
        from.push_back('\0');  // the first key after it
    }
    // The first `limit` matching rows of the union of the store and the pending records (both
    // in key order, disjoint: a record is written once).
    std::map<std::string, std::string> rows;
    const auto view = runner_->read_view();
    auto stored = store().for_each_state(
        AlertsReducer::kAlertsFamily, from, end,
        [&](std::string_view key, std::string_view json) {
            if (matches(json)) {
                rows.emplace(std::string(key), std::string(json));
            }
            return rows.size() < query.limit;
        },
        view.snapshot.get());
    if (!stored) {
        return unexpected(stored.error());
    }
    for (const ReducerDeltas* deltas : view.deltas) {
        const auto& records = static_cast<const AlertDeltas&>(*deltas).records;
        for (auto it = records.lower_bound(from); it != records.end() && it->first < end; ++it) {
            if (matches(it->second)) {
                rows.emplace(it->first, it->second);
            }
        }
    }
    std::vector<AlertRow> page;
    for (auto& [key, json] : rows) {
        if (page.size() == query.limit) {
            break;
        }
        page.push_back({key, std::move(json)});
    }
    return page;
}

Result<std::map<std::string, std::string>, std::string> ProjectionService::lease_rows(
    std::string_view tenant) const {
    std::string prefix(tenant);
    prefix.push_back('\0');
    std::string end = prefix;
    end.back() = '\x01';
    std::map<std::string, std::string> rows;  // key → row
    const auto view = runner_->read_view();
    auto stored = store().for_each_state(
        AlertsReducer::kLeasesFamily, prefix, end,
        [&](std::string_view key, std::string_view row) {
            rows.emplace(std::string(key), std::string(row));
            return true;
        },
        view.snapshot.get());
    if (!stored) {
        return unexpected(stored.error());
    }
    for (const ReducerDeltas* deltas : view.deltas) {
        const auto& leases = static_cast<const AlertDeltas&>(*deltas).leases;
        for (auto it = leases.lower_bound(prefix); it != leases.end() && it->first < end; ++it) {
            if (it->second.changed) {
                rows.insert_or_assign(it->first, it->second.value);
            }
        }
    }
    std::map<std::string, std::string> by_meter;
    for (auto& [key, row] : rows) {
        if (!row.empty()) {
            by_meter.emplace(key.substr(prefix.size()), std::move(row));
        }
    }
    return by_meter;
}

Result<ProjectionService::CreditsView, std::string> ProjectionService::credits(
    std::string_view tenant) const {
    CreditsView view;
    const auto read = runner_->read_view();
    const std::string key(tenant);
    std::string end = key;
    end.push_back('\0');  // [key, key + '\0'): the one row
    std::optional<std::string> wallet_text;
    for (const std::size_t family :
         {AlertsReducer::kCreditsFamily, AlertsReducer::kCreditTransactionsFamily}) {
        auto stored = store().for_each_state(
            family, key, end,
            [&](std::string_view, std::string_view value) {
                if (family == AlertsReducer::kCreditsFamily) {
                    wallet_text = std::string(value);
                } else {
                    view.transactions = std::string(value);
                }
                return false;
            },
            read.snapshot.get());
        if (!stored) {
            return unexpected(stored.error());
        }
    }
    if (wallet_text) {
        auto wallet = decode_wallet(*wallet_text);
        if (!wallet) {
            return unexpected("the wallet of " + key + " in the projection store is damaged");
        }
        view.wallet = std::move(*wallet);
    }
    for (const ReducerDeltas* deltas : read.deltas) {
        const auto& wallets = static_cast<const AlertDeltas&>(*deltas).wallets;
        if (const auto found = wallets.find(key); found != wallets.end() && found->second.changed) {
            view.wallet = found->second.wallet;
            view.transactions = found->second.transactions;
        }
    }
    return view;
}

Result<bool, std::string> ProjectionService::for_each_billing_cell(
    const std::function<bool(std::string_view key, const Cell&)>& visit) const {
    std::string failure;
    auto visited = store().for_each_state(AlertsReducer::kBillingFamily, "", "",
                                          [&](std::string_view key, std::string_view value) {
                                              auto cell = decode_cell(value);
                                              if (!cell) {
                                                  failure = "billing cell: " + cell.error();
                                                  return false;
                                              }
                                              return visit(key, *cell);
                                          });
    if (!visited) {
        return visited;
    }
    if (!failure.empty()) {
        return unexpected(failure);
    }
    return true;
}

Result<ReconcileReport, std::string> ProjectionService::reconcile(
    const std::string& tenant, bool fix, const std::function<void(const ReplayProgress&)>& progress,
    const std::atomic<bool>* cancel) {
    if (auto needed = need_ledger_store(); !needed) {
        return unexpected(needed.error());
    }
    LedgerStoreOptions ledger_options;
    ledger_options.path = runner_->options().data_dir + "/ledger";
    auto ledger = LedgerStore::open(ledger_options, OpenMode::secondary);
    if (!ledger) {
        return unexpected("the ledger store: " + ledger.error());
    }
    ReconcileOptions reconcile_options;
    reconcile_options.tenant = tenant;
    reconcile_options.group_by = reducer_->group_by();
    reconcile_options.accounts = runner_->account_history();
    reconcile_options.progress = progress;
    reconcile_options.cancel = cancel;
    TenantRebuild rebuild(std::move(reconcile_options));
    // The snapshot's watermarks are at most the ledger's: the projection applies committed
    // entries only, and the secondary opened after the snapshot was taken.
    auto report = compare_tenant(**ledger, store(), store().snapshot(), rebuild);
    if (!report || !fix) {
        return report;
    }
    auto repaired = runner_->run_on_consumer_thread([&]() -> Result<bool, std::string> {
        if (auto flushed = runner_->flush(); !flushed) {
            return flushed;
        }
        if (auto caught = (*ledger)->catch_up(); !caught) {
            return caught;
        }
        return repair_tenant(**ledger, runner_->store(), rebuild, *report);
    });
    if (!repaired) {
        return unexpected(repaired.error());
    }
    spdlog::info("projections: reconcile {}: {} cells replaced", tenant, report->comparison.total);
    return report;
}

Result<bool, std::string> ProjectionService::need_ledger_store() const {
    if (!runner_->options().heal_from_ledger) {
        return unexpected(
            std::string("this needs the ledger store beside the projection (up, or project "
                        "--heal-from-ledger on the ledger's data dir)"));
    }
    return true;
}

Result<ReplayOptions, std::string> ProjectionService::replay_options(
    const std::string& out_dir, const std::function<void(const ReplayProgress&)>& progress,
    const std::atomic<bool>* cancel) const {
    auto accounts = store().accounts();
    if (!accounts) {
        return unexpected(accounts.error());
    }
    auto versions = store().account_versions();
    if (!versions) {
        return unexpected(versions.error());
    }
    ReplayOptions options;
    options.ledger_path = runner_->options().data_dir + "/ledger";
    options.out_path = out_dir;
    options.accounts = std::move(accounts).value();
    options.account_versions = std::move(versions).value();
    options.group_by = reducer_->group_by();
    options.plans = reducer_->plans();
    options.progress = progress;
    options.cancel = cancel;
    return options;
}

Result<ReplayReport, std::string> ProjectionService::replay_into(
    const std::string& out_dir, const std::function<void(const ReplayProgress&)>& progress,
    const std::atomic<bool>* cancel) {
    if (auto needed = need_ledger_store(); !needed) {
        return unexpected(needed.error());
    }
    auto options = replay_options(out_dir, progress, cancel);
    if (!options) {
        return unexpected(options.error());
    }
    return replay(*options);
}

Result<StoreComparison, std::string> ProjectionService::verify(
    const std::string& scratch_dir, const std::function<void(const ReplayProgress&)>& progress,
    const std::atomic<bool>* cancel) {
    if (auto needed = need_ledger_store(); !needed) {
        return unexpected(needed.error());
    }
    const StoreSnapshot snapshot = store().snapshot();
    auto partitions = store().partitions_at(snapshot.get());
    if (!partitions) {
        return unexpected(partitions.error());
    }
    auto made = replay_options(scratch_dir, progress, cancel);
    if (!made) {
        return unexpected(made.error());
    }
    ReplayOptions& options = *made;
    options.up_to = positions_of(*partitions);
    struct Scratch {  // the rebuilt store goes, whatever happens
        std::string path;
        ~Scratch() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    } scratch{scratch_dir};
    if (auto replayed = replay(options); !replayed) {
        return unexpected(replayed.error());
    }
    ProjectionStoreOptions rebuilt_options;
    rebuilt_options.families = AlertsReducer::schema();
    rebuilt_options.path = scratch_dir;
    auto rebuilt = ProjectionStore::open(rebuilt_options, ProjectionOpenMode::secondary);
    if (!rebuilt) {
        return unexpected(rebuilt.error());
    }
    auto cells = read_all_cells(**rebuilt);
    if (!cells) {
        return unexpected(cells.error());
    }
    return compare_cells(runner_->store(), snapshot.get(), "", "", (*cells)[0], (*cells)[1]);
}

}  // namespace ul
