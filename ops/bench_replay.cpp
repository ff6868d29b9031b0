// `usage-ledger bench replay`: builds a ledger store of N generated entries (the `bench ledger`
// generator: ~200-byte events, 5 % duplicates, 16 partitions, 10,000 tenants), then in the same
// run times (1) the raw RocksDB sequential read of those entries (an iterator over the entries
// column family, every value touched) and (2) `replay` of the same store into a fresh
// projection store: entries/s beside the raw read rate, so the ratio is what counts.
#include <rocksdb/db.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "ledger/ledger_bench.h"
#include "ledger/ledger_store.h"
#include "ops/bench_commands.h"
#include "ops/project_commands.h"
#include "projections/counters/replay.h"

namespace ul::ops {
namespace {

struct BenchReplayArgs {
    std::uint64_t entries = 1'000'000;
    std::uint64_t seed = 0;
    std::string directory;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Every entry of the store read in key order, as RocksDB gives it: (entries, seconds).
Result<std::pair<std::uint64_t, double>, std::string> raw_sequential_read(
    const std::string& ledger_path) {
    LedgerStoreOptions options;
    options.path = ledger_path;
    auto store = LedgerStore::open(options, OpenMode::secondary);
    if (!store) {
        return unexpected(store.error());
    }
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
    rocksdb::ReadOptions read_options;
    read_options.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(
        (*store)->raw_db()->NewIterator(read_options, (*store)->entries_family()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        bytes += it->value().size();
        ++entries;
    }
    if (!it->status().ok()) {
        return unexpected(it->status().ToString());
    }
    const double seconds = seconds_since(start);
    if (bytes == 0) {
        return unexpected(std::string("no entries read"));
    }
    return std::make_pair(entries, seconds);
}

int run_bench_replay(const BenchReplayArgs& args) {
    LedgerBenchOptions ledger;
    ledger.events = args.entries;
    ledger.seed = args.seed;
    ledger.sync = false;  // building the input, not measuring it
    ledger.keep_store = true;
    ledger.measure_raw = false;
    ledger.directory = args.directory;
    spdlog::info("bench replay: building a ledger store of {} events", args.entries);
    auto built = run_ledger_bench(ledger);
    if (!built) {
        spdlog::error("bench replay: {}", built.error());
        return kExitFailure;
    }
    const std::string ledger_path = built->ledger_path;
    auto raw = raw_sequential_read(ledger_path);
    if (!raw) {
        spdlog::error("bench replay: raw read: {}", raw.error());
        return kExitFailure;
    }
    const auto out = std::filesystem::path(ledger_path).parent_path() / "replay-out";
    std::filesystem::remove_all(out);
    ReplayOptions options;
    options.ledger_path = ledger_path;
    options.out_path = out.string();
    options.group_by = group_by_of(default_plan_book());
    options.plans = default_plan_book();  // the alerts are decided as live
    options.progress = [](const ReplayProgress& progress) {
        spdlog::info("bench replay: {} of {} entries", progress.entries_done,
                     progress.entries_total);
    };
    auto replayed = replay(options);
    std::error_code ignored;
    std::filesystem::remove_all(out, ignored);
    std::filesystem::remove_all(ledger_path, ignored);
    if (!replayed) {
        spdlog::error("bench replay: {}", replayed.error());
        return kExitFailure;
    }
    const double replay_rate = static_cast<double>(replayed->entries) / replayed->seconds;
    const double raw_rate = static_cast<double>(raw->first) / raw->second;
    std::printf(
        "{\"entries\":%llu,\"seed\":%llu,\"replay_seconds\":%.3f,\"replay_entries_per_second\":"
        "%.0f,\"replay_writes\":%llu,\"raw_sequential_read_entries\":%llu,"
        "\"raw_sequential_read_seconds\":%.3f,\"raw_sequential_reads_per_second\":%.0f,"
        "\"ratio_to_raw_read\":%.3f}\n",
        static_cast<unsigned long long>(replayed->entries),
        static_cast<unsigned long long>(built->seed), replayed->seconds, replay_rate,
        static_cast<unsigned long long>(replayed->writes),
        static_cast<unsigned long long>(raw->first), raw->second, raw_rate, replay_rate / raw_rate);
    return kExitOk;
}

}  // namespace

void add_bench_replay(CLI::App& bench, CommandRunner& run) {
    auto args = std::make_shared<BenchReplayArgs>();
    auto* command = bench.add_subcommand(
        "replay",
        "Replay of the counters projection from a ledger store of --entries generated events,\n"
        "on one thread, beside the raw RocksDB sequential read rate of the same entries.");
    command->add_option("--entries", args->entries, "Events in the ledger store to replay")
        ->check(CLI::Range(1ULL, 100'000'000ULL))
        ->capture_default_str();
    command->add_option("--seed", args->seed, "Generator seed (default: random, reported)");
    command->add_option("--dir", args->directory, "Where the temporary stores go");
    command->callback([args, &run] { run = [args] { return run_bench_replay(*args); }; });
}

}  // namespace ul::ops
