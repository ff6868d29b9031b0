// ProjectionService: the counters and alerts projection — the runner (projections/runner/runner.h)
// with the alerts reducer (alerts/alerts_reducer.h: the counters reducer plus threshold
// crossings), plus the counters' reads, the alerts' reads, reconcile and verify.
// Reads (cell, ranges, breakdowns, tenants, meters) answer the store *plus* the deltas the runner
// has not written yet (ProjectionRunner::read_view), so an entry is visible as soon as it is
// applied and never counted twice while its write is under way.
// Threading: run() on one thread; everything else from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "projections/alerts/alerts_reducer.h"
#include "projections/counters/cells.h"
#include "projections/counters/counters_reducer.h"
#include "projections/counters/reconcile.h"
#include "projections/counters/replay.h"
#include "projections/runner/runner.h"

namespace ul {

struct ProjectionServiceOptions : ProjectionRunnerOptions {
    GroupBy group_by;  // the plans file's group_by: breakdown cells per meter
    PlanBook plans;    // limits and alert thresholds (alerts/alerts_reducer.h)
};

class ProjectionService {
  public:
    static Result<std::unique_ptr<ProjectionService>, std::string> start(
        ProjectionServiceOptions options);

    Result<bool, std::string> run() { return runner_->run(); }
    void request_stop() { runner_->request_stop(); }

    // The counters as applied so far (the store plus the deltas not yet written).
    Result<std::optional<Cell>, std::string> cell(const CounterKey& key) const;
    // Counter cells from `from` (inclusive) to `to` (exclusive; empty: no end), in key order.
    Result<bool, std::string> for_each_counter_range(
        std::string_view from, std::string_view to,
        const std::function<bool(const CounterKey&, const Cell&)>& visit) const;
    Result<bool, std::string> for_each_breakdown(
        std::string_view prefix,
        const std::function<bool(const BreakdownKey&, const Cell&)>& visit) const;
    Result<std::vector<std::string>, std::string> tenants() const;
    Result<std::vector<std::string>, std::string> meters(std::string_view tenant_id) const;

    // A tenant's alerts (alerts/alerts_reducer.h), newest first: the store plus the deltas not
    // yet written. `meter` / `period_start` (RFC 3339 as the records write it) filter when not
    // empty; `after` is the key of the last alert of the previous page (empty: from the newest).
    struct AlertQuery {
        std::string meter;
        std::string period_start;
        std::size_t limit = 50;
        std::string after;
    };
    struct AlertRow {
        std::string key;
        std::string json;  // alert_json()
    };
    Result<std::vector<AlertRow>, std::string> alerts(std::string_view tenant,
                                                      const AlertQuery& query) const;

    // The tenant's lease rows (alerts_reducer.h family `leases`): meter → row text, the store
    // plus the deltas not yet written (a changed empty row: no leases).
    Result<std::map<std::string, std::string>, std::string> lease_rows(
        std::string_view tenant) const;

    // The tenant's wallet (schemas/wallet.h; empty when it has none) and its recent
    // transactions (JSON lines, oldest first): the store plus the deltas not yet written.
    struct CreditsView {
        Wallet wallet;
        std::string transactions;
    };
    Result<CreditsView, std::string> credits(std::string_view tenant) const;

    // Every written billing cell (alerts_reducer.h family `billing`; billing/billing_cells.h), in
    // key order, at a snapshot: only what is in the store (the billing reporter reports what is
    // durable, never the deltas not yet written).
    Result<bool, std::string> for_each_billing_cell(
        const std::function<bool(std::string_view key, const Cell&)>& visit) const;

    const ProjectionMetrics& metrics() const { return runner_->metrics(); }
    std::optional<Account> account(std::string_view tenant_id) const {
        return runner_->account(tenant_id);
    }
    std::vector<Account> accounts() const { return runner_->accounts(); }
    std::uint64_t accounts_version() const { return runner_->accounts_version(); }
    BillingCalendar calendar_at(std::string_view tenant, std::int64_t time_us) const {
        return runner_->calendar_at(tenant, time_us);
    }
    std::map<std::uint32_t, std::uint64_t> positions() const { return runner_->positions(); }
    ProjectionRunner& runner() { return *runner_; }

    // Reconcile one tenant (any thread; reconcile.h): its cells recomputed from the ledger store
    // with the account versions held and compared with this projection at a snapshot; with
    // `fix` the differing cells are then replaced on run()'s thread, with nothing pending, in one
    // write. Needs the ledger store (heal_from_ledger). Blocks until done; `cancel` stops it.
    Result<ReconcileReport, std::string> reconcile(
        const std::string& tenant, bool fix,
        const std::function<void(const ReplayProgress&)>& progress = {},
        const std::atomic<bool>* cancel = nullptr);

    // Verify (any thread): replays the ledger store up to the watermarks of a snapshot of this
    // projection into `scratch_dir` (a fresh store, removed afterwards) and compares every cell
    // with the snapshot. Needs the ledger store (heal_from_ledger).
    Result<StoreComparison, std::string> verify(
        const std::string& scratch_dir,
        const std::function<void(const ReplayProgress&)>& progress = {},
        const std::atomic<bool>* cancel = nullptr);

    // Replay (any thread): rebuilds the counters from every entry of the ledger store into
    // `out_dir` (a fresh store, kept), with this projection's account versions. Performs no
    // effect. Needs the ledger store (heal_from_ledger).
    Result<ReplayReport, std::string> replay_into(
        const std::string& out_dir, const std::function<void(const ReplayProgress&)>& progress = {},
        const std::atomic<bool>* cancel = nullptr);

  private:
    ProjectionService() = default;
    // What replay and verify share: the ledger beside this store, the accounts and their
    // versions, the group-by.
    Result<ReplayOptions, std::string> replay_options(
        const std::string& out_dir, const std::function<void(const ReplayProgress&)>& progress,
        const std::atomic<bool>* cancel) const;
    Result<bool, std::string> need_ledger_store() const;
    const ProjectionStore& store() const { return runner_->store(); }

    std::shared_ptr<const AlertsReducer> reducer_;
    std::unique_ptr<ProjectionRunner> runner_;
};

}  // namespace ul
