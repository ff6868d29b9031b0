// The ledger store's throughput measurement, called by `usage-ledger bench ledger`.
// Generates ~200-byte valid events (a share of exact duplicates) spread over partitions, applies
// them in poll-sized batches to a fresh LedgerStore in a temporary directory, and in the same run
// measures the raw RocksDB write rate (plain WriteBatches of random 12-byte keys, same value size,
// batch size and sync setting) and random point-read rate, so the ratio can be read beside the
// absolute figure. Only LedgerStore::apply is timed; generating the events is not.
// Kafka is excluded: the figure is what the ledger adds on top of consuming.
// Single-threaded; not reentrant (it owns its temporary directories for the duration).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "schemas/result.h"

namespace ul {

struct LedgerBenchOptions {
    std::uint64_t events = 1'000'000;
    std::size_t batch = 10'000;  // events per apply(), one WriteBatch each
    bool sync = true;            // fsync every batch, the store's default
    double duplicate_percent = 5.0;
    std::uint32_t partitions = 16;
    std::uint64_t tenants = 10'000;
    std::uint64_t seed = 0;  // 0: pick one (reported in the figures)
    std::size_t block_cache_bytes = 64U << 20U;
    std::string directory;    // where the temporary stores go; empty: the system temp dir
    bool keep_store = false;  // leave the ledger store behind (for verify or inspection)
    bool measure_raw = true;  // false: the ledger figure only (profiling)
    // > 0: every (tenant, meter) is hard-limited at this many units for the run's month
    // (ledger/limits.h), so the figure includes the limit cells' reads and writes; 0: soft.
    std::int64_t hard_limit_units = 0;
    // Called every ~2 s with (events applied, events total).
    std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct LedgerBenchFigures {
    std::uint64_t events = 0;
    std::uint64_t accepted = 0;
    std::uint64_t duplicate = 0;
    std::uint64_t rejected_limit = 0;
    std::int64_t hard_limit_units = 0;
    std::size_t average_event_bytes = 0;
    std::size_t batch = 0;
    bool sync = true;
    std::uint64_t seed = 0;
    std::string ledger_path;    // set when keep_store
    double ledger_seconds = 0;  // wall time inside LedgerStore::apply
    double ledger_events_per_second = 0;
    // CPU time of the applying thread inside apply (excludes fsync waits and time other processes
    // took the core), and of the whole process over the ledger phase (adds RocksDB's flush and
    // compaction threads and the event generator): on a busy machine these say more than wall.
    double ledger_thread_cpu_seconds = 0;
    double ledger_events_per_thread_cpu_second = 0;
    // Time the applying thread was runnable inside apply but waited for a CPU (Linux only):
    // wall ≈ thread CPU + runqueue wait + I/O waits (fsync).
    double ledger_thread_runqueue_wait_seconds = 0;
    double ledger_process_cpu_seconds = 0;     // includes the store's close (waits for flushes)
    double ledger_flush_cpu_seconds = 0;       // RocksDB's flush threads, same phase
    double ledger_compaction_cpu_seconds = 0;  // RocksDB's compaction threads, same phase
    double raw_write_seconds = 0;
    double raw_writes_per_second = 0;
    double raw_writes_per_thread_cpu_second = 0;
    std::uint64_t raw_reads = 0;
    double raw_reads_per_second = 0;
    double ledger_vs_raw_write = 0;
};

[[nodiscard]] Result<LedgerBenchFigures, std::string> run_ledger_bench(
    const LedgerBenchOptions& options);

// The figures as one JSON object (no trailing newline).
std::string ledger_bench_json(const LedgerBenchFigures& figures);

}  // namespace ul
