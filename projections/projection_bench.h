// The counters projection's throughput, for `usage-ledger bench projection`: encoded ledger
// entries (~200-byte events over many tenants, 4 meters, event times over the last 30 days)
// applied in batches through the same path as the consumer (EntryApplier → CellDeltas → one
// WriteBatch with the watermarks) into a fresh ProjectionStore in a temporary directory, on one
// thread; beside it, in the same run, the raw RocksDB write rate (plain WriteBatches of random
// 24-byte keys and 48-byte values, the same number of batches and the same sync setting) —
// three cell updates per entry, so the raw run writes 3 values per entry.
// Only the applying is timed, not generating the entries. Kafka is excluded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "schemas/result.h"

namespace ul {

struct ProjectionBenchOptions {
    std::uint64_t entries = 1'000'000;
    std::size_t batch = 10'000;
    bool sync = false;  // the projection store's default
    std::uint64_t tenants = 10'000;
    std::uint32_t partitions = 16;
    std::uint64_t seed = 0;                                      // 0: pick one (reported)
    std::function<void(std::uint64_t, std::uint64_t)> progress;  // every ~2 s
};

struct ProjectionBenchFigures {
    std::uint64_t entries = 0;
    std::uint64_t cells_written = 0;  // distinct cells per batch, summed
    std::size_t average_entry_bytes = 0;
    std::uint64_t seed = 0;
    bool sync = false;
    double seconds = 0;
    double entries_per_second = 0;
    double raw_writes_per_second = 0;            // values written per second by the raw run
    double raw_entry_equivalent_per_second = 0;  // raw writes / 3 (three cells per entry)
    double ratio = 0;  // entries_per_second / raw_entry_equivalent_per_second
};

Result<ProjectionBenchFigures, std::string> run_projection_bench(
    const ProjectionBenchOptions& options);
std::string projection_bench_json(const ProjectionBenchFigures& figures);

}  // namespace ul
