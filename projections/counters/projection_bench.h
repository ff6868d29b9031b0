// The counters projection's throughput, for `usage-ledger bench projection`: encoded ledger
// entries (~200-byte events over many tenants, 4 meters, a group-by property; event times
// within the last minute except `late_percent` % anywhere in the last 30 days) applied in poll
// batches through the same path as the consumer (EntryApplier → CellDeltas, written with the
// watermarks in one WriteBatch whenever the consumer's FlushPolicy says so) into a fresh
// ProjectionStore in a temporary directory, on one thread. Beside it, in the same run, the raw
// RocksDB write rate: the naive way, three 48-byte values under random 24-byte keys per entry
// (one per cell), written per poll batch with the same sync setting.
// Only applying and writing are timed, not generating the entries. Kafka is excluded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "projections/runner/projection_store.h"
#include "schemas/result.h"

namespace ul {

struct ProjectionBenchOptions {
    std::uint64_t entries = 1'000'000;
    std::size_t batch = 10'000;  // entries per poll batch
    FlushPolicy flush;           // when the applied deltas are written (the consumer's rule)
    bool sync = false;           // the projection store's default
    std::uint64_t tenants = 10'000;
    std::uint32_t partitions = 16;
    // Share of entries whose event time is anywhere in the last 30 days (late events); the rest
    // happened within the last minute, as usage reported as it happens does.
    std::uint32_t late_percent = 5;
    std::uint64_t seed = 0;                                      // 0: pick one (reported)
    std::function<void(std::uint64_t, std::uint64_t)> progress;  // every ~2 s
};

struct ProjectionBenchFigures {
    std::uint64_t entries = 0;
    std::uint64_t writes = 0;         // WriteBatches written
    std::uint64_t cells_written = 0;  // distinct cells per write, summed
    std::size_t average_entry_bytes = 0;
    std::uint64_t seed = 0;
    bool sync = false;
    std::uint32_t late_percent = 0;
    double seconds = 0;        // applying and writing
    double write_seconds = 0;  // of which writing
    double entries_per_second = 0;
    double raw_writes_per_second = 0;            // values written per second by the raw run
    double raw_entry_equivalent_per_second = 0;  // raw writes / 3 (three cells per entry)
    double ratio = 0;  // entries_per_second / raw_entry_equivalent_per_second
};

Result<ProjectionBenchFigures, std::string> run_projection_bench(
    const ProjectionBenchOptions& options);
std::string projection_bench_json(const ProjectionBenchFigures& figures);

}  // namespace ul
