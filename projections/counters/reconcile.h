// Reconcile: one tenant's counters recomputed from the ledger store and compared with the live
// projection, cell by cell, and (with fix) repaired in one atomic write while the projection
// runs.
// How it stays exact beside a running projection: the comparison reads the live store at a
// snapshot and rebuilds up to the watermarks written in that same snapshot (cells and
// watermarks are written in one batch), so both sides stand for the same entries. A repair runs
// on the projection's own thread with nothing pending (projection_service.h), continues the
// rebuild up to the watermarks of that moment — only the entries since the snapshot — compares
// again and replaces exactly the differing cells.
// The rebuild scans every entry of the ledger (entries of other tenants are passed over without
// parsing their events); it holds the tenant's cells in memory.
// Threading: a TenantRebuild belongs to one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ledger/ledger_store.h"
#include "projections/counters/counters_reducer.h"
#include "projections/counters/replay.h"
#include "projections/runner/entry_applier.h"
#include "projections/runner/projection_store.h"
#include "schemas/result.h"

namespace ul {

struct ReconcileOptions {
    std::string tenant;
    GroupBy group_by;
    AccountHistory accounts;  // the account versions the live projection holds
    std::chrono::milliseconds progress_interval{2000};
    std::function<void(const ReplayProgress&)> progress;  // at most every interval
    const std::atomic<bool>* cancel = nullptr;            // true: stop with "cancelled"
};

class TenantRebuild {
  public:
    explicit TenantRebuild(ReconcileOptions options);
    // Applies the tenant's entries of each partition up to `up_to` (exclusive; a partition not
    // named: none), continuing where the last call stopped.
    Result<bool, std::string> advance(const LedgerStore& ledger,
                                      const std::map<std::uint32_t, std::uint64_t>& up_to);
    // The rebuilt cells of `family`, in key order.
    std::vector<std::pair<std::string, Cell>> cells(CellFamily family) const;
    std::uint64_t entries_read() const { return entries_read_; }
    std::uint64_t tenant_entries() const { return batch_.applied; }
    const std::string& tenant() const { return options_.tenant; }

  private:
    ReconcileOptions options_;
    CountersReducer reducer_;
    EntryApplier applier_;
    ProjectionBatch batch_;
    std::map<std::uint32_t, ProjectionPartition> states_;
    std::uint64_t entries_read_ = 0;
};

struct ReconcileReport {
    std::string tenant;
    std::uint64_t entries_read = 0;    // ledger entries scanned
    std::uint64_t tenant_entries = 0;  // of them, the tenant's
    StoreComparison comparison;        // live (before any repair) against rebuilt
    bool repaired = false;
    std::map<std::uint32_t, std::uint64_t> positions;  // the watermarks compared at
};

// The positions (partition → next sequence) of a store's watermarks.
std::map<std::uint32_t, std::uint64_t> positions_of(
    const std::map<std::uint32_t, ProjectionPartition>& partitions);

// Compares the tenant's live cells at `snapshot` with a rebuild up to that snapshot's watermarks.
Result<ReconcileReport, std::string> compare_tenant(const LedgerStore& ledger,
                                                    const ProjectionStore& live,
                                                    const StoreSnapshot& snapshot,
                                                    TenantRebuild& rebuild);
// The writer's thread, nothing pending: continues `rebuild` to the store's current watermarks,
// compares, and replaces every differing cell in one write. `report` gets the differences found
// (and replaced) now and repaired = true.
Result<bool, std::string> repair_tenant(const LedgerStore& ledger, ProjectionStore& live,
                                        TenantRebuild& rebuild, ReconcileReport& report);

// {"tenant_id", "entries_read", "tenant_entries", "cells_compared", "differences", "cells": [
// {family, key fields, live, rebuilt}…], "repaired", "positions"}
std::string reconcile_json(const ReconcileReport& report);

}  // namespace ul
