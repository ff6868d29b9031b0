// Replay: rebuilds the counters projection from the ledger store into a fresh projection store,
// and compares two projection stores cell by cell.
// replay() reads the ledger store as a RocksDB secondary (it works beside a running ledger),
// applies every entry with the same EntryApplier and reducer the live runner uses, with the
// account version in force at each entry's event time, and writes the cells, watermarks and any
// effects (outbox rows, never performed) through ProjectionStore::apply in batches bounded by the
// flush policy's cell count. It performs no effect: nothing is sent anywhere. `up_to` limits each
// partition (exclusive), so a rebuild can stop exactly where a live store's watermarks are.
// compare_stores() walks both stores' counter and breakdown cells in key order (a merge join)
// and reports every cell whose value differs or that only one side has.
// Threading: one caller; progress is reported on the caller's thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "projections/runner/projection_store.h"
#include "schemas/plans.h"
#include "schemas/result.h"

namespace ul {

struct ReplayProgress {
    std::uint64_t entries_done = 0;
    std::uint64_t entries_total = 0;
    double seconds = 0;
};

struct ReplayOptions {
    std::string ledger_path;  // the ledger store (<data-dir>/ledger)
    std::string out_path;     // the new projection store; must not exist or be empty
    // Tenant → account JSON, as the live projection holds them (copied into the new store).
    std::map<std::string, std::string> accounts;
    // Every account version (ProjectionStore::account_versions, which gives a store's current
    // accounts as versions when it kept none): they place months by event time.
    std::vector<AccountVersionRecord> account_versions;
    GroupBy group_by;
    PlanBook plans;  // the alerts' limits and thresholds (alerts/alerts_reducer.h)
    // Per ledger partition, the sequence to stop before; partitions not named: all entries.
    std::optional<std::map<std::uint32_t, std::uint64_t>> up_to;
    std::size_t max_cells = 250'000;  // cells per write (the memory bound)
    std::chrono::milliseconds progress_interval{2000};
    std::function<void(const ReplayProgress&)> progress;  // called at most every interval
    const std::atomic<bool>* cancel = nullptr;            // true: stop with "cancelled"
};

struct ReplayReport {
    std::uint64_t entries = 0;
    std::uint64_t writes = 0;
    double seconds = 0;
    std::map<std::uint32_t, std::uint64_t> positions;  // partition → next sequence rebuilt
};

Result<ReplayReport, std::string> replay(const ReplayOptions& options);

struct CellDifference {
    CellFamily family = CellFamily::counters;
    std::string key;              // the stored key bytes
    std::optional<Cell> live;     // nullopt: only the rebuilt store has it
    std::optional<Cell> rebuilt;  // nullopt: only the live store has it
};

// Every differing cell (both families), in key order; at most `max_reported` are kept, the
// count of all is in `total`.
// Besides the cells, every row of the other state families (the alerts': alert_periods,
// alerts), byte for byte: `row_differences` describes up to `max_reported` of them; `total`
// counts cells and rows.
struct StoreComparison {
    std::vector<CellDifference> differences;
    std::uint64_t total = 0;
    std::uint64_t cells_compared = 0;
    std::uint64_t rows_compared = 0;
    std::vector<std::string> row_differences;
};
Result<StoreComparison, std::string> compare_stores(const ProjectionStore& live,
                                                    const ProjectionStore& rebuilt,
                                                    std::size_t max_reported = 1000);

// The live store's cells with keys in [from, to) (to empty: no end) at `snapshot` (null: now),
// both families, against `rebuilt` cells of the same range (per family, in key order).
using SortedCells = std::vector<std::pair<std::string, Cell>>;
Result<StoreComparison, std::string> compare_cells(const ProjectionStore& live,
                                                   const rocksdb::Snapshot* snapshot,
                                                   std::string_view from, std::string_view to,
                                                   const SortedCells& rebuilt_counters,
                                                   const SortedCells& rebuilt_breakdowns,
                                                   std::size_t max_reported = 1000);

// Every cell of a store, [counters, breakdowns], each in key order (a rebuilt store, read once).
Result<std::array<SortedCells, 2>, std::string> read_all_cells(const ProjectionStore& store);

// One line for a person: window, tenant, meter, period start (or the breakdown's property),
// live and rebuilt sum/count.
std::string describe(const CellDifference& difference);

}  // namespace ul
