// The counters projection's RocksDB store (<data-dir>/projections): column families
//   counters   counter cells (projections/cells.h keys), merged by a RocksDB merge operator
//   breakdown  per-day property breakdown cells, same merge
//   meta       "p" + partition u32 BE → next ledger sequence u64 BE + next usage.ledger offset
//              i64 BE (the watermark); "s" + partition → a stall (expected, got) when entries
//              were missing
//   accounts   tenant → account JSON (schemas/account.h), as last read from usage.accounts;
//              a deleted account's row is deleted, and "~deleted~" + tenant → deleted_at i64 BE
//              remembers when (so older records of the tenant, read again, stay stale)
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
#include "projections/cell_deltas.h"
#include "projections/cells.h"
#include "schemas/result.h"

namespace ul {

struct ProjectionStoreOptions {
    std::string path;
    bool sync = false;
    std::size_t block_cache_bytes = 64U << 20U;
    std::size_t write_buffer_bytes = 32U << 20U;
};

using ProjectionOpenMode = StoreMode;  // consumers/rocks_db.h

struct ProjectionPartition {
    std::uint64_t next_sequence = 0;  // next ledger sequence to apply
    std::int64_t next_offset = -1;    // next usage.ledger offset to read; -1: from the start
    // A jump was seen: entries [next_sequence, stalled_at) never arrived. The partition is not
    // applied past next_sequence until they are supplied (never skipped).
    std::optional<std::uint64_t> stalled_at;
};

// What one write changes: the deltas of every entry applied since the last write.
struct ProjectionBatch {
    CellDeltas deltas;
    std::map<std::uint32_t, ProjectionPartition> partitions;  // new states of touched partitions
    // tenant → account JSON, in the order read; an empty JSON deletes the account (deleted at
    // the third element, µs).
    std::vector<std::tuple<std::string, std::string, std::int64_t>> accounts;
    std::uint64_t applied = 0;  // entries applied
    std::uint64_t repeats = 0;  // entries seen again, skipped
    void clear();
};

// When the consumer writes what it has applied (ProjectionService; `bench projection` follows
// the same rule): once `interval` has passed since the first delta, or once the deltas hold
// `max_cells` cells (the memory bound), whichever comes first; and whenever it is idle.
// Writing less often lets the entries of many poll batches share each cell's write.
struct FlushPolicy {
    std::chrono::milliseconds interval{1000};
    std::size_t max_cells = 250'000;
    bool due(const ProjectionBatch& pending, std::chrono::steady_clock::duration age) const {
        return pending.deltas.cells() >= max_cells || age >= interval;
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

class ProjectionStore {
  public:
    static Result<std::unique_ptr<ProjectionStore>, std::string> open(
        const ProjectionStoreOptions& options, ProjectionOpenMode mode);
    ~ProjectionStore();
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

    // For tests that prove a damaged cell is found (replay --verify).
    rocksdb::DB* raw_db() { return db_->get(); }
    rocksdb::ColumnFamilyHandle* counters_family() { return counters_; }

  private:
    ProjectionStore() = default;
    Result<bool, std::string> load_meta();
    Result<bool, std::string> read_meta(const rocksdb::Snapshot* snapshot,
                                        std::map<std::uint32_t, ProjectionPartition>& partitions,
                                        std::uint64_t* applied, std::uint64_t* repeats) const;

    ProjectionStoreOptions options_;
    ProjectionOpenMode mode_ = ProjectionOpenMode::read_write;
    std::unique_ptr<RocksDb> db_;
    rocksdb::ColumnFamilyHandle* counters_ = nullptr;
    rocksdb::ColumnFamilyHandle* breakdown_ = nullptr;
    rocksdb::ColumnFamilyHandle* meta_ = nullptr;
    rocksdb::ColumnFamilyHandle* accounts_ = nullptr;
    std::map<std::uint32_t, ProjectionPartition> partitions_;
    std::uint64_t applied_total_ = 0;
    std::uint64_t repeats_total_ = 0;
};

}  // namespace ul
