// BillingReporter: reports the billing cells (billing_cells.h, written by the projection's
// reducer) to Stripe as meter events, exactly once, from an outbox of its own.
//
// Its own RocksDB store (<data-dir>/billing, written with sync):
//   totals   billing cell key → decided units, reports made (n), units sent, units unreportable
//   reports  tenant '\0' ~seq (8, BE) → one report (newest first per tenant): the report log
//   pending  seq (8, BE) → the report's key in `reports`: the outbox, oldest first
//   default  "next_seq"
// Decide (every `interval`): for each billing cell, target = floor(used / unit); when it exceeds
// the cell's decided units (decide_report: also the grace after a period closes and Stripe's
// 35-day window), ONE WriteBatch writes the report (status pending, or unreportable), its
// pending row and the cell's new totals. Only then is it sent. Send (every tick): pending
// reports oldest first, each with its deterministic identifier and Idempotency-Key, so a report
// re-sent after a crash, a timeout or a lost answer is the same meter event to Stripe. ok →
// sent; a retry verdict → attempts + 1, next attempt after stripe_backoff_delay (at least
// Retry-After), the breaker told; permanent → failed, with Stripe's error body. Each outcome is
// written (report + totals) in one batch.
// Why decided here and not in the reducer: a report depends on the clock (interval, grace,
// Stripe's window), which reducers may not read; and because the totals live in this store, a
// projection rebuilt or replayed from the ledger never bills again what was reported.
// Limits: Stripe keeps identifiers and idempotency keys ~24 h, so a report whose first answer was
// lost and that is retried only after that (a breaker open for a day) could be counted twice by
// Stripe; `billing reconcile` finds such a cell. One reporter per set of billing cells: run it in
// a process that holds every partition (`up`, or `project --assign-all`).
// Threading: start() spawns the worker unless options.worker is false (tests call run_once with
// a fake clock). Every public method is thread-safe (one mutex serializes run_once; the breaker
// has its own, never held across a request, so reads never wait on Stripe).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "consumers/rocks_db.h"
#include "projections/billing/billing_cells.h"
#include "projections/billing/stripe_client.h"
#include "projections/counters/cells.h"
#include "schemas/result.h"

namespace ul {

class ProjectionService;

struct BillingReporterOptions {
    std::string path;  // <data-dir>/billing
    StripeConfig stripe;
    std::chrono::milliseconds interval{60'000};  // how often cells are read for new usage
    std::chrono::seconds grace{3'600};           // after a period closes, before its final report
    int breaker_failures = 5;
    std::chrono::seconds breaker_pause{900};
    StripeBackoff backoff;
    std::chrono::milliseconds tick{1'000};  // how often due sends are looked for
    std::function<std::int64_t()> now_us;   // default: the system clock
    std::uint64_t seed = 0;                 // the backoff's jitter (0: from the clock)
    bool worker = true;                     // false: no thread; the caller drives run_once
};

struct BillingReport {
    std::uint64_t seq = 0;
    std::string id;  // "br_" + the identifier's digits
    std::string tenant_id;
    std::string meter;
    std::string customer;
    std::string event_name;
    std::string cell;  // the billing cell key (bytes)
    Period period;
    std::uint64_t number = 0;  // n: the cell's report number
    std::int64_t value = 0;
    std::string identifier;
    std::string idempotency_key;
    std::int64_t timestamp_s = 0;
    std::string status;  // pending | sent | failed | unreportable
    std::uint32_t attempts = 0;
    std::string last_error;
    std::int64_t created_at_us = 0;
    std::int64_t sent_at_us = 0;
    std::int64_t next_at_us = 0;  // pending: the next attempt
};
// The API's JSON of a report: {"id","tenant_id","meter","customer","event_name","period_start",
// "period_end","report_number","value","identifier","idempotency_key","timestamp","status",
// "attempts","last_error","created_at","sent_at"}.
std::string billing_report_json(const BillingReport& report);

struct BillingTotals {
    std::int64_t decided = 0;  // units of every report made, any status
    std::uint64_t reports = 0;
    std::int64_t sent = 0;
    std::int64_t unreportable = 0;
    std::int64_t failed = 0;
};

struct BillingMetrics {
    std::atomic<std::uint64_t> reports_decided{0};
    std::atomic<std::uint64_t> reports_sent{0};
    std::atomic<std::uint64_t> units_sent{0};
    std::atomic<std::uint64_t> reports_unreportable{0};
    std::atomic<std::uint64_t> reports_failed{0};
    std::atomic<std::uint64_t> attempts_retried{0};
    std::atomic<std::int64_t> pending{0};
    std::atomic<std::uint64_t> breaker_opened{0};
    std::atomic<std::uint64_t> decide_errors{0};
};

// Where the billing cells are read from: calls `visit` with every written cell (key, usage) in
// key order; ProjectionService::for_each_billing_cell in a process.
using BillingCellVisitor = std::function<bool(std::string_view key, const Cell& usage)>;
using BillingCellSource = std::function<Result<bool, std::string>(const BillingCellVisitor&)>;

class BillingReporter {
  public:
    static Result<std::unique_ptr<BillingReporter>, std::string> start(
        BillingReporterOptions options, const ProjectionService& projections);
    static Result<std::unique_ptr<BillingReporter>, std::string> start(
        BillingReporterOptions options, BillingCellSource cells);
    ~BillingReporter();  // stops and joins the worker
    BillingReporter(const BillingReporter&) = delete;
    BillingReporter& operator=(const BillingReporter&) = delete;

    // One round at the clock's now: decides when the interval has passed since the last decision
    // (or `force_decide`), then sends the due pending reports until the breaker stops it.
    Result<bool, std::string> run_once(bool force_decide = false);

    // A tenant's reports, newest first; `after` is the last key of the previous page.
    struct Page {
        std::vector<BillingReport> reports;
        std::string next;  // the key to pass as `after`; empty: no more
    };
    Result<Page, std::string> reports(std::string_view tenant, std::string_view after,
                                      std::size_t limit) const;
    // Totals per billing cell of a tenant (every cell with a report), in key order.
    Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string> totals(
        std::string_view tenant) const;
    // Every cell's totals (reconcile).
    Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string> all_totals() const;
    // Every cell's totals of the billing store at `path` (<data-dir>/billing), read as a
    // secondary instance: works beside a running reporter (`billing reconcile`).
    static Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string>
    read_store_totals(const std::string& path);

    struct BreakerView {
        BreakerState state = BreakerState::closed;
        int consecutive_failures = 0;
        std::int64_t open_until_us = 0;
    };
    BreakerView breaker() const;
    // {"state","consecutive_failures","open_until"} for the API.
    std::string breaker_json() const;
    const BillingMetrics& metrics() const { return metrics_; }
    StripeClient& stripe() { return client_; }    // checkout and portal sessions
    void append_metrics(std::string& out) const;  // Prometheus text

  private:
    BillingReporter(BillingReporterOptions options, BillingCellSource cells);
    std::int64_t now_us() const { return options_.now_us(); }
    Result<bool, std::string> decide(std::int64_t now_us);
    Result<bool, std::string> send_due(std::int64_t now_us);
    Result<bool, std::string> send(BillingReport& report, const std::string& report_key,
                                   std::int64_t now_us);
    Result<BillingTotals, std::string> read_totals(std::string_view cell) const;
    Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string> scan_totals(
        const std::string& prefix) const;
    static std::vector<rocksdb::ColumnFamilyDescriptor> families();
    Result<bool, std::string> write_outcome(const BillingReport& report,
                                            const std::string& report_key,
                                            const BillingTotals* totals, bool done);
    void work();

    BillingReporterOptions options_;
    BillingCellSource cells_;
    std::unique_ptr<RocksDb> db_;
    StripeClient client_;
    BillingMetrics metrics_;
    mutable std::mutex mutex_;  // run_once (held across Stripe calls), next_seq_, last_decide_us_
    // Only for the breaker, held for no I/O: /metrics and the billing API read it while a
    // round is blocked on a slow Stripe.
    mutable std::mutex breaker_mutex_;
    CircuitBreaker breaker_;
    std::uint64_t next_seq_ = 1;
    std::int64_t last_decide_us_ = 0;
    std::uint64_t random_state_ = 0;
    std::atomic<bool> stop_{false};
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    std::thread worker_;
};

}  // namespace ul
