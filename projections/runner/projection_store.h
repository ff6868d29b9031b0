// A projection's RocksDB store (<data-dir>/projections): the runner's column families
//   meta       "p" + partition u32 BE → next ledger sequence u64 BE + next usage.ledger offset
//              i64 BE (the watermark); "s" + partition → a stall (expected, got) when entries
//              were missing
//   accounts   tenant → account JSON (schemas/account.h), as last read from usage.accounts;
//              a deleted account's row is deleted, and "~deleted~" + tenant → deleted_at i64 BE
//              remembers when (so older records of the tenant, read again, stay stale);
//              "~version~" + tenant + NUL + effective-at + updated-at (both i64 BE, sign bit
//              flipped) → the account JSON of that version (empty: deleted), the history the
//              reducers place entries with (account_history.h)
//   outbox     u64 BE outbox sequence → the effects reducers decided (reducer.h), performed and
//              deleted by workers; meta "o" holds the next outbox sequence
// and the reducer's state families (ProjectionStoreOptions::families; by default the counters
// schema: `counters` and `breakdown`, cells merged by summing). The counters' reads (cell,
// for_each_*, tenants, meters) are here too and need that schema.
// One write (the deltas of every entry applied since the last, ProjectionBatch) → one WriteBatch
// holding the cell deltas (Merge, no read; in key order) and the watermarks, so a crash between
// any two instructions neither loses nor double-applies an entry, and a repeated entry (sequence
// below the watermark) is a no-op.
// Durability: sync off by default — the WAL is written per batch (a killed process loses
// nothing), and what an OS crash loses is a consistent suffix that is re-read from usage.ledger.
// Reads (cells, export) are safe from any thread while a writer runs; a second process reads
// through open(…, secondary) + catch_up().
#pragma once

#include <rocksdb/db.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "consumers/rocks_db.h"
#include "projections/counters/cells.h"
#include "projections/counters/counters_reducer.h"
#include "projections/runner/account_history.h"
#include "projections/runner/reducer.h"
#include "schemas/result.h"

namespace ul {

struct ProjectionStoreOptions {
    std::string path;
    bool sync = false;
    std::size_t block_cache_bytes = 64U << 20U;
    std::size_t write_buffer_bytes = 32U << 20U;
    // The reducer's state schema (Reducer::families()).
    std::vector<StateFamily> families = CountersReducer::schema();
};

using ProjectionOpenMode = StoreMode;  // consumers/rocks_db.h

struct ProjectionPartition {
    std::uint64_t next_sequence = 0;  // next ledger sequence to apply
    std::int64_t next_offset = -1;    // next usage.ledger offset to read; -1: from the start
    // A jump was seen: entries [next_sequence, stalled_at) never arrived. The partition is not
    // applied past next_sequence until they are supplied (never skipped).
    std::optional<std::uint64_t> stalled_at;
};

// An account record taken: the new current JSON of the tenant (empty: deleted at
// deleted_at_us) and the version it adds to the history.
struct AccountChange {
    std::string tenant;
    std::string json;
    std::int64_t deleted_at_us = 0;
    std::int64_t effective_at_us = 0;  // the version's: effective_from(), or deleted_at
    std::int64_t updated_at_us = 0;    // orders versions with the same effective time
    bool add_version = true;           // false: the current account only (replay's copy)
};

// What one write changes: the deltas and effects of every entry applied since the last write.
struct ProjectionBatch {
    explicit ProjectionBatch(const Reducer& reducer) : deltas(reducer.make_deltas()) {}
    std::unique_ptr<ReducerDeltas> deltas;
    std::vector<Effect> effects;                              // in the order decided
    std::map<std::uint32_t, ProjectionPartition> partitions;  // new states of touched partitions
    std::vector<AccountChange> accounts;                      // in the order read
    std::uint64_t applied = 0;                                // entries applied
    std::uint64_t repeats = 0;                                // entries seen again, skipped
    bool empty() const { return partitions.empty() && accounts.empty() && effects.empty(); }
    void clear();
};

// An effect waiting in the outbox, with its place there.
struct OutboxRow {
    std::uint64_t sequence = 0;
    Effect effect;
};

// When the consumer writes what it has applied (ProjectionService; `bench projection` follows
// the same rule): once `interval` has passed since the first delta, or once the deltas hold
// `max_cells` cells (the memory bound), whichever comes first; and whenever it is idle.
// Writing less often lets the entries of many poll batches share each cell's write.
struct FlushPolicy {
    std::chrono::milliseconds interval{1000};
    std::size_t max_cells = 250'000;
    bool due(const ProjectionBatch& pending, std::chrono::steady_clock::duration age) const {
        return pending.deltas->size() >= max_cells || age >= interval;
    }
};

enum class CellFamily : std::uint8_t { counters, breakdown };

// A cell's new value (nullopt: the cell goes), by its stored key.
struct CellReplacement {
    CellFamily family = CellFamily::counters;
    std::string key;
    std::optional<Cell> cell;
};

// A consistent read point of the store (a RocksDB snapshot), released when the last copy goes.
using StoreSnapshot = std::shared_ptr<const rocksdb::Snapshot>;

class ProjectionStore final : public StateReader {
  public:
    static Result<std::unique_ptr<ProjectionStore>, std::string> open(
        const ProjectionStoreOptions& options, ProjectionOpenMode mode);
    ~ProjectionStore() override;
    ProjectionStore(const ProjectionStore&) = delete;
    ProjectionStore& operator=(const ProjectionStore&) = delete;

    // Writer only. One WriteBatch; the in-memory partition states follow on success.
    Result<bool, std::string> apply(const ProjectionBatch& batch);
    // Writer only: sets each cell to the given value (nullopt: deletes it), in one synced
    // WriteBatch — reconcile's repair. The caller makes sure no delta of these cells is in flight.
    Result<bool, std::string> replace_cells(const std::vector<CellReplacement>& replacements);
    // Secondary only: follow the writer.
    Result<bool, std::string> catch_up();

    // Writer's thread (or a secondary after catch_up).
    const std::map<std::uint32_t, ProjectionPartition>& partitions() const { return partitions_; }
    ProjectionPartition partition(std::uint32_t partition) const;
    std::uint64_t applied_total() const { return applied_total_; }
    // The watermarks as of `snapshot` (any thread): the positions its cells are exact for.
    Result<std::map<std::uint32_t, ProjectionPartition>, std::string> partitions_at(
        const rocksdb::Snapshot* snapshot) const;
    std::uint64_t repeats_total() const { return repeats_total_; }

    // Any thread. The read methods read at `snapshot` when given, else at the latest write.
    StoreSnapshot snapshot() const;
    // RocksDB's sequence numbers (one per key written): the last one a snapshot sees, and the
    // last one written so far.
    static std::uint64_t sequence_of(const StoreSnapshot& snapshot);
    std::uint64_t latest_sequence() const;
    Result<std::optional<Cell>, std::string> cell(
        const CounterKey& key, const rocksdb::Snapshot* snapshot = nullptr) const;
    // Cells of `family` from key `from` (inclusive) to `to` (exclusive; empty: no end), with
    // their key bytes as stored, in key order; `visit` returns false to stop.
    Result<bool, std::string> for_each_cell(
        CellFamily family, std::string_view from, std::string_view to,
        const std::function<bool(std::string_view key, const Cell&)>& visit,
        const rocksdb::Snapshot* snapshot = nullptr) const;
    // Cells whose key starts with `prefix`, in key order; `visit` returns false to stop.
    Result<bool, std::string> for_each_counter(
        std::string_view prefix, const std::function<bool(const CounterKey&, const Cell&)>& visit,
        const rocksdb::Snapshot* snapshot = nullptr) const;
    // The same, from `from` (inclusive) to `to` (exclusive) keys.
    Result<bool, std::string> for_each_counter_range(
        std::string_view from, std::string_view to,
        const std::function<bool(const CounterKey&, const Cell&)>& visit,
        const rocksdb::Snapshot* snapshot = nullptr) const;
    Result<bool, std::string> for_each_breakdown(
        std::string_view prefix, const std::function<bool(const BreakdownKey&, const Cell&)>& visit,
        const rocksdb::Snapshot* snapshot = nullptr) const;
    // Distinct tenants with counters (skip-scan: one seek per tenant), in order.
    Result<std::vector<std::string>, std::string> tenants(
        const rocksdb::Snapshot* snapshot = nullptr) const;
    // Distinct meters a tenant has counters for, in order.
    Result<std::vector<std::string>, std::string> meters(
        std::string_view tenant_id, const rocksdb::Snapshot* snapshot = nullptr) const;
    // Every stored account JSON, tenant → JSON.
    Result<std::map<std::string, std::string>, std::string> accounts() const;
    // Every deleted account still remembered, tenant → deleted_at (µs).
    Result<std::map<std::string, std::int64_t>, std::string> account_deletions() const;
    // Every account version, by tenant then effective time (account_history.h). A store written
    // before versions were kept has none: its current accounts stand in, each from the start.
    Result<std::vector<AccountVersionRecord>, std::string> account_versions() const;
    // The history those versions make.
    Result<AccountHistory, std::string> account_history() const;

    // The reducer's state (StateReader; any thread): the value of `key` in state family
    // `family` (Reducer::families() index), at the latest write.
    Result<std::optional<std::string>, std::string> get(std::size_t family,
                                                        std::string_view key) const override;
    std::size_t state_families() const { return state_.size(); }
    // Rows of state family `family` from `from` (inclusive) to `to` (exclusive; empty: no end)
    // in key order; `visit` returns false to stop.
    Result<bool, std::string> for_each_state(
        std::size_t family, std::string_view from, std::string_view to,
        const std::function<bool(std::string_view key, std::string_view value)>& visit,
        const rocksdb::Snapshot* snapshot = nullptr) const;

    // The outbox: up to `max` effects from outbox sequence `from`, in order (any thread); and,
    // once performed, their removal (writer only).
    Result<std::vector<OutboxRow>, std::string> outbox(std::uint64_t from, std::size_t max) const;
    Result<bool, std::string> remove_from_outbox(const std::vector<std::uint64_t>& sequences);
    std::uint64_t next_outbox_sequence() const { return next_outbox_; }

    // For tests that prove a damaged cell is found (replay --verify).
    rocksdb::DB* raw_db() { return db_->get(); }
    rocksdb::ColumnFamilyHandle* counters_family() { return counters_; }

  private:
    ProjectionStore() = default;
    Result<bool, std::string> load_meta();
    // With `applied` (load_meta) the totals and the next outbox sequence too.
    Result<bool, std::string> read_meta(const rocksdb::Snapshot* snapshot,
                                        std::map<std::uint32_t, ProjectionPartition>& partitions,
                                        std::uint64_t* applied, std::uint64_t* repeats,
                                        std::uint64_t* next_outbox = nullptr) const;

    ProjectionStoreOptions options_;
    ProjectionOpenMode mode_ = ProjectionOpenMode::read_write;
    std::unique_ptr<RocksDb> db_;
    rocksdb::ColumnFamilyHandle* counters_ = nullptr;
    rocksdb::ColumnFamilyHandle* breakdown_ = nullptr;
    rocksdb::ColumnFamilyHandle* meta_ = nullptr;
    rocksdb::ColumnFamilyHandle* accounts_ = nullptr;
    rocksdb::ColumnFamilyHandle* outbox_ = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> state_;  // the reducer's families, in order
    std::uint64_t next_outbox_ = 0;
    std::map<std::uint32_t, ProjectionPartition> partitions_;
    std::uint64_t applied_total_ = 0;
    std::uint64_t repeats_total_ = 0;
};

}  // namespace ul
