// ProjectionRunner: the one runner of every projection. Feeds a pure reducer (reducer.h) the
// entries of usage.ledger (group usage-ledger-projections, or every partition with assign_all)
// with the account version in force at each entry's event time (account_history.h, from
// usage.accounts: the compacted account table, always read from its start), applies each entry
// to in-memory deltas at once, and writes the deltas of many poll batches to the ProjectionStore in
// one WriteBatch with the per-partition watermarks and the effects as outbox rows (FlushPolicy: at
// most every second, at 250,000 cells, and when idle). A projection's reads
// (counters/projection_service.h) answer the store *plus* the deltas not yet written (read_view),
// so an entry is visible as soon as it is applied; a crash loses only deltas whose watermark was
// not written either, and they are read again from usage.ledger. Positions come from the store,
// never from Kafka's committed offsets. Ledger sequences are dense: an entry below the watermark is
// a repeat (skipped), an entry above it means entries were lost in usage.ledger — the partition
// stops (paused, recorded, logged, in the metrics and /readyz) and is never skipped; with
// `heal_from_ledger` the missing entries are read from the ledger store (<data_dir>/ledger,
// secondary open) and applied, and the partition resumes. Threading: run() on one thread;
// request_stop(), metrics(), read_view() and account() from any thread. read_view() holds a shared
// lock and a store snapshot; run() takes the lock exclusively only to apply one message and to hand
// the deltas to a write (not during the write itself: a read then sees the deltas being written
// exactly when its snapshot does not).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "consumers/disk_space.h"
#include "consumers/kafka.h"
#include "consumers/positioned_consumer.h"
#include "ledger/ledger_store.h"
#include "projections/runner/account_history.h"
#include "projections/runner/entry_applier.h"
#include "projections/runner/projection_metrics.h"
#include "projections/runner/projection_store.h"
#include "projections/runner/reducer.h"
#include "schemas/account.h"
#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

struct ProjectionRunnerOptions {
    std::string bootstrap;
    std::string data_dir;  // the store lives in <data_dir>/projections
    std::string ledger_topic = "usage.ledger";
    std::string accounts_topic = "usage.accounts";
    std::string group = "usage-ledger-projections";
    bool assign_all = false;
    std::size_t max_batch = 10'000;  // messages per poll batch
    FlushPolicy flush;
    bool sync = false;
    // The ledger store at <data_dir>/ledger is readable here (secondary open): at start, once
    // usage.accounts is read to its end (so entries are placed with the account versions replay
    // uses), the projection applies every committed entry it has not applied yet from it (a crash
    // can leave the projection behind entries that usage.ledger will not carry again), a jump in
    // usage.ledger is healed from it, and readiness compares the applied sequences with the
    // ledger's committed ones.
    bool heal_from_ledger = false;
    // usage.ledger's offsets from an earlier run mean nothing (the embedded broker starts empty
    // each run): read it from its start; ledger sequences decide what is new.
    bool fresh_broker = false;
    kafka::Properties kafka_settings;  // connection settings (SASL, TLS)
    // Stop consuming (and writing) while the store's disk has less free space than this.
    MinFreeDisk min_free_disk;
    std::chrono::steady_clock::duration status_interval = std::chrono::seconds(10);
    // The control-plane secret (ops/control_secret.h): records of accounts_topic count only when
    // signed with it (schemas/account.h); an empty secret accepts none.
    std::string control_secret;
    // Tests only: sleep this long just before and just after each store write, widening the
    // moments where a read must take the deltas being written from memory, then from the store.
    std::chrono::milliseconds test_write_pause{0};
};

class ProjectionRunner {
  public:
    // `reducer` is the projection (shared: replay, reconcile and reads use it too).
    static Result<std::unique_ptr<ProjectionRunner>, std::string> start(
        ProjectionRunnerOptions options, std::shared_ptr<const Reducer> reducer);
    ~ProjectionRunner();
    ProjectionRunner(const ProjectionRunner&) = delete;
    ProjectionRunner& operator=(const ProjectionRunner&) = delete;

    Result<bool, std::string> run();  // until request_stop(); finishes the batch in hand
    void request_stop() { stop_.store(true); }

    // What a read sees (any thread): a store snapshot and the reducer deltas to add to it — the
    // pending ones, and the ones being written when the snapshot does not hold them yet. Holds
    // a shared lock while it lives: keep it short.
    struct ReadView {
        std::shared_lock<std::shared_mutex> lock;
        StoreSnapshot snapshot;
        std::vector<const ReducerDeltas*> deltas;
    };
    ReadView read_view() const;

    const ProjectionRunnerOptions& options() const { return options_; }
    const Reducer& reducer() const { return *reducer_; }
    ProjectionStore& store() { return *store_; }
    const ProjectionStore& store() const { return *store_; }
    const ProjectionMetrics& metrics() const { return metrics_; }
    std::optional<Account> account(std::string_view tenant_id) const;
    std::vector<Account> accounts() const;
    // Every account version held (a copy): what places entries by their event time.
    AccountHistory account_history() const;
    // Calls `visit` with the account version in force for `tenant` at `time_us`, under the
    // accounts' shared lock (no copy: the ledger's hard limits ask this for every event).
    template <class Visit>
    auto with_account_at(std::string_view tenant, std::int64_t time_us, Visit&& visit) const {
        std::shared_lock lock(accounts_mutex_);
        return visit(history_.at(tenant, time_us));
    }
    // The billing calendar of the version in force for `tenant` at `time_us` (reads place a
    // time in the same month the entries of that time were counted in).
    BillingCalendar calendar_at(std::string_view tenant, std::int64_t time_us) const;
    // Changes whenever an account is added, changed or deleted.
    std::uint64_t accounts_version() const { return accounts_version_.load(); }
    // Ledger positions applied so far, partition → next sequence (for `as_of`).
    std::map<std::uint32_t, std::uint64_t> positions() const;

    // Runs `work` on run()'s thread between two polls (a repair: nothing is pending then, after
    // flush()), blocking the caller until it is done; fails with "the projection stopped" once
    // run() has ended.
    Result<bool, std::string> run_on_consumer_thread(
        std::function<Result<bool, std::string>()> work);
    // Writes the pending deltas (run()'s thread only). Positions in Kafka come from the store, so
    // this runs before any seek (rebalance, offset error) too.
    Result<bool, std::string> flush();

  private:
    ProjectionRunner(ProjectionRunnerOptions options, std::shared_ptr<const Reducer> reducer);
    // Work queued for run()'s thread: done at the top of the next loop.
    struct Task {
        std::function<Result<bool, std::string>()> work;
        std::promise<Result<bool, std::string>> done;
    };
    void run_tasks();
    void fail_tasks();
    void take_account(const rd_kafka_message_t& message, ProjectionBatch& batch);
    void take_tombstone(const rd_kafka_message_t& message, ProjectionBatch& batch);
    // True for a good signature; else counts and logs the rejection of this `kind` of message.
    bool signature_accepted(SignatureCheck check, const rd_kafka_message_t& message,
                            std::string_view kind);
    // Counts and logs (one error line) an account record that changes nothing.
    void reject_account(const rd_kafka_message_t& message, std::atomic<std::uint64_t>& counter,
                        std::string_view why) const;
    // The newest updated_at / deleted_at held for the tenant (under accounts_mutex_).
    std::optional<std::int64_t> account_version(std::string_view tenant_id) const;
    void take_entry(const rd_kafka_message_t& message, ProjectionBatch& batch);
    bool apply_entry(std::string_view encoded, std::uint32_t partition, ProjectionBatch& batch,
                     ProjectionPartition& state);
    Result<bool, std::string> heal(std::uint32_t partition, ProjectionBatch& batch);
    // Applies entries [state.next_sequence, to) of `partition` from the ledger store.
    Result<bool, std::string> apply_from_ledger(std::uint32_t partition, std::uint64_t to,
                                                ProjectionBatch& batch);
    // At start: every committed entry not applied yet, read from the ledger store and written.
    Result<bool, std::string> catch_up_with_ledger();
    // Ledger sequences committed and not applied, summed over partitions (at most once a second).
    void publish_ledger_lag(const std::map<std::uint32_t, ProjectionPartition>& current);
    Result<bool, std::string> handle_offset_error(const rd_kafka_message_t& message);
    // Once usage.accounts is read to its end: the ledger partitions not stopped at a gap resume.
    void resume_ledger_partitions();
    // Adds a version to history_ (under accounts_mutex_, exclusive).
    void add_version(const std::string& tenant, std::int64_t effective_at_us,
                     const std::optional<Account>& account);
    // Where usage.ledger is read from on assignment: the stored offset, or its start when the
    // offset is unknown or belongs to an earlier broker (fresh_broker).
    std::int64_t start_offset(const kafka::TopicPartition& partition) const;
    // After a (re)assignment: which ledger partitions are ours, account partitions to read to
    // their end again, stalled partitions paused.
    void on_assigned(const std::vector<kafka::TopicPartition>& partitions);
    Result<bool, std::string> consume();  // run()'s loop
    void publish_metrics();
    void log_status(double seconds, std::uint64_t applied) const;

    ProjectionRunnerOptions options_;
    std::shared_ptr<const Reducer> reducer_;
    std::unique_ptr<ProjectionStore> store_;
    // Deltas applied and not yet written, and the ones being written (visible to a read whose
    // snapshot is at or before flush_base_, the store's sequence before that write).
    mutable std::shared_mutex view_mutex_;
    ProjectionBatch pending_;
    ProjectionBatch flushing_;
    bool flushing_active_ = false;
    std::uint64_t flush_base_ = 0;
    std::optional<std::chrono::steady_clock::time_point> pending_since_;
    std::optional<std::string> failed_;  // a write that failed inside a Kafka callback
    std::unique_ptr<kafka::PositionedConsumer> consumer_;
    EntryApplier applier_;
    ProjectionMetrics metrics_;
    std::atomic<bool> stop_{false};
    std::unique_ptr<LedgerStore> ledger_;  // secondary; with heal_from_ledger only
    std::chrono::steady_clock::time_point ledger_checked_{};
    DiskGuard disk_guard_;
    // fresh_broker: partitions whose usage.ledger offsets were learned in this run.
    std::set<std::int32_t> offsets_known_;
    std::vector<std::int32_t> assigned_;                 // partitions of the ledger topic
    std::map<std::int32_t, std::int64_t> accounts_end_;  // accounts partition → end offset
    // Accounts: written by run(), read by queries.
    mutable std::shared_mutex accounts_mutex_;
    std::map<std::string, Account, std::less<>> accounts_;
    std::atomic<std::uint64_t> accounts_version_{0};
    // Under accounts_mutex_ too: deleted accounts' deletion times (newer records of the tenant
    // only), and which tenant holds each API key hash (a second tenant's claim is refused).
    std::map<std::string, std::int64_t, std::less<>> deleted_at_;
    std::map<std::string, std::string, std::less<>> tenant_by_key_hash_;
    // Every account version (under accounts_mutex_; run()'s thread reads it without the lock,
    // being its only writer).
    AccountHistory history_;
    std::mutex tasks_mutex_;
    std::vector<std::unique_ptr<Task>> tasks_;
    bool tasks_closed_ = false;  // run() ended: no task will run
    mutable std::shared_mutex positions_mutex_;
    std::map<std::uint32_t, std::uint64_t> positions_;
};

}  // namespace ul
