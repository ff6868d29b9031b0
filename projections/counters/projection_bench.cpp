#include "projections/counters/projection_bench.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "projections/counters/counters_reducer.h"
#include "projections/runner/entry_applier.h"
#include "projections/runner/projection_store.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::filesystem::path temp_dir(const char* name) {
    return std::filesystem::temp_directory_path() /
           (std::string("usage-ledger-bench-") + name + "-" + std::to_string(::getpid()));
}

}  // namespace

Result<ProjectionBenchFigures, std::string> run_projection_bench(
    const ProjectionBenchOptions& options) {
    ProjectionBenchFigures figures;
    figures.seed = options.seed != 0 ? options.seed : std::random_device{}();
    figures.sync = options.sync;
    figures.entries = options.entries;
    figures.late_percent = options.late_percent;
    std::mt19937_64 random(figures.seed);
    static const char* const kMeters[] = {"api_calls", "tokens", "audio_minutes", "resume_scans"};
    static const char* const kModels[] = {"gpt-x", "claude-z", "llama-q"};
    const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    constexpr std::int64_t kThirtyDays = 30LL * 86'400'000'000LL;
    constexpr std::int64_t kOneMinute = 60'000'000LL;

    const auto path = temp_dir("projection");
    std::filesystem::remove_all(path);
    std::vector<std::uint64_t> next_sequence(options.partitions, 0);
    std::uint64_t total_bytes = 0;
    {
        ProjectionStoreOptions store_options;
        store_options.path = path.string();
        store_options.sync = options.sync;
        auto store = ProjectionStore::open(store_options, ProjectionOpenMode::read_write);
        if (!store) {
            return unexpected(store.error());
        }
        const CountersReducer reducer(GroupBy{{"tokens", {"model"}}});
        const AccountHistory accounts;  // no accounts: calendar months in UTC
        EntryApplier applier(reducer, accounts);
        std::vector<std::string> entries(options.batch);
        std::vector<std::uint32_t> partitions(options.batch);
        ProjectionBatch batch(reducer);
        double pending_seconds = 0;  // applying time since the last write
        std::string event;
        auto last_progress = std::chrono::steady_clock::now();
        for (std::uint64_t done = 0; done < options.entries;) {
            const std::size_t size = static_cast<std::size_t>(
                std::min<std::uint64_t>(options.batch, options.entries - done));
            // Generate (not timed): canonical entries, as the ledger writes them.
            for (std::size_t index = 0; index < size; ++index) {
                const auto partition = static_cast<std::uint32_t>(random() % options.partitions);
                event.clear();
                event += R"({"idempotency_key":"req-)" + std::to_string(done + index) +
                         R"(","tenant_id":"tenant-)" + std::to_string(random() % options.tenants) +
                         R"(","subject":"user-42","meter":")" + kMeters[random() % 4] +
                         R"(","quantity":")" + std::to_string(1 + random() % 5000) +
                         R"(","timestamp":")" +
                         format_rfc3339(now - static_cast<std::int64_t>(
                                                  random() % (random() % 100 < options.late_percent
                                                                  ? kThirtyDays
                                                                  : kOneMinute))) +
                         R"(","properties":{"model":")" + kModels[random() % 3] + R"("}})";
                LedgerEntryHeader header;
                header.partition = partition;
                header.sequence = next_sequence[partition]++;
                header.source_offset = static_cast<std::int64_t>(header.sequence);
                entries[index].clear();
                append_ledger_entry_canonical(header, event, entries[index]);
                partitions[index] = partition;
                total_bytes += entries[index].size();
            }
            const auto start = std::chrono::steady_clock::now();
            for (std::size_t index = 0; index < size; ++index) {
                auto [slot, inserted] = batch.partitions.try_emplace(partitions[index]);
                if (inserted) {
                    slot->second = (*store)->partition(partitions[index]);
                }
                auto applied =
                    applier.apply(entries[index], partitions[index], slot->second, batch);
                if (!applied) {
                    return unexpected(applied.error());
                }
            }
            // Written as the consumer writes: when the flush policy says so, and at the end.
            pending_seconds += seconds_since(start);
            if (done + size == options.entries ||
                options.flush.due(batch,
                                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(pending_seconds)))) {
                figures.cells_written += batch.deltas->size();
                ++figures.writes;
                const auto write_start = std::chrono::steady_clock::now();
                auto written = (*store)->apply(batch);
                if (!written) {
                    return unexpected(written.error());
                }
                figures.write_seconds += seconds_since(write_start);
                batch.clear();
                pending_seconds = 0;
            }
            figures.seconds += seconds_since(start);
            done += size;
            if (options.progress && seconds_since(last_progress) > 2.0) {
                last_progress = std::chrono::steady_clock::now();
                options.progress(done, options.entries);
            }
        }
    }
    std::filesystem::remove_all(path);
    figures.average_entry_bytes =
        static_cast<std::size_t>(total_bytes / std::max<std::uint64_t>(options.entries, 1));
    figures.entries_per_second = static_cast<double>(options.entries) / figures.seconds;

    // Raw RocksDB: three 48-byte values per entry under random 24-byte keys, same batches.
    const auto raw_path = temp_dir("projection-raw");
    std::filesystem::remove_all(raw_path);
    {
        rocksdb::Options db_options;
        db_options.create_if_missing = true;
        db_options.IncreaseParallelism(2);
        rocksdb::DB* raw = nullptr;
        if (!rocksdb::DB::Open(db_options, raw_path.string(), &raw).ok()) {
            return unexpected("cannot open a raw RocksDB at " + raw_path.string());
        }
        std::unique_ptr<rocksdb::DB> db(raw);
        rocksdb::WriteOptions write_options;
        write_options.sync = options.sync;
        const std::string value(48, 'v');
        std::mt19937_64 keys(figures.seed);
        rocksdb::WriteBatch write;
        const std::uint64_t writes = options.entries * 3;
        const auto start = std::chrono::steady_clock::now();
        for (std::uint64_t index = 0; index < writes; ++index) {
            char key[24];
            const std::uint64_t parts[3] = {keys(), keys(), index};
            std::memcpy(key, parts, sizeof key);
            write.Put(rocksdb::Slice(key, sizeof key), value);
            if (write.Count() == static_cast<std::uint32_t>(options.batch * 3) ||
                index + 1 == writes) {
                if (!db->Write(write_options, &write).ok()) {
                    return unexpected(std::string("raw RocksDB write failed"));
                }
                write.Clear();
            }
        }
        const double raw_seconds = seconds_since(start);
        figures.raw_writes_per_second = static_cast<double>(writes) / raw_seconds;
        figures.raw_entry_equivalent_per_second = figures.raw_writes_per_second / 3;
        (void)db->Close();
    }
    std::filesystem::remove_all(raw_path);
    figures.ratio = figures.entries_per_second / figures.raw_entry_equivalent_per_second;
    return figures;
}

std::string projection_bench_json(const ProjectionBenchFigures& figures) {
    char text[1024];
    std::snprintf(text, sizeof text,
                  "{\"bench\":\"projection\",\"entries\":%llu,\"average_entry_bytes\":%zu,"
                  "\"sync\":%s,\"late_percent\":%u,\"writes\":%llu,\"cells_written\":%llu,"
                  "\"seconds\":%.3f,\"write_seconds\":%.3f,"
                  "\"projection_entries_per_second\":%.0f,\"raw_rocksdb_writes_per_second\":%.0f,"
                  "\"raw_rocksdb_entry_equivalent_per_second\":%.0f,\"projection_vs_raw\":%.3f,"
                  "\"seed\":%llu}",
                  static_cast<unsigned long long>(figures.entries), figures.average_entry_bytes,
                  figures.sync ? "true" : "false", figures.late_percent,
                  static_cast<unsigned long long>(figures.writes),
                  static_cast<unsigned long long>(figures.cells_written), figures.seconds,
                  figures.write_seconds, figures.entries_per_second, figures.raw_writes_per_second,
                  figures.raw_entry_equivalent_per_second, figures.ratio,
                  static_cast<unsigned long long>(figures.seed));
    return text;
}

}  // namespace ul
