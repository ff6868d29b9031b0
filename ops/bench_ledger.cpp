// `usage-ledger bench ledger`: the command line over ledger/ledger_bench.h (the measurement
// itself: the store path on one thread beside the raw RocksDB rates of the same run). This file
// adds the flags, progress and the process's max RSS before and after, for the memory bound.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstdio>
#include <memory>
#include <string>

#include "ledger/ledger_bench.h"
#include "ops/bench_commands.h"
#include "ops/cli.h"

namespace ul::ops {
namespace {

struct BenchLedgerArgs {
    LedgerBenchOptions options;
    std::size_t block_cache_mib = 64;
};

long max_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

int run_bench_ledger(BenchLedgerArgs args) {
    args.options.block_cache_bytes = args.block_cache_mib << 20U;
    args.options.progress = [](std::uint64_t done, std::uint64_t total) {
        spdlog::info("bench ledger: {} of {} events, max RSS {} MiB", done, total,
                     max_rss_kib() / 1024);
    };
    const long rss_before = max_rss_kib();
    auto figures = run_ledger_bench(args.options);
    if (!figures) {
        spdlog::error("bench ledger: {}", figures.error());
        return kExitFailure;
    }
    std::string json = ledger_bench_json(*figures);
    json.pop_back();  // the closing brace: append the memory figures
    json += ",\"max_rss_kib_before_ledger\":" + std::to_string(rss_before) +
            ",\"max_rss_kib_after_ledger\":" + std::to_string(max_rss_kib()) + "}\n";
    std::fwrite(json.data(), 1, json.size(), stdout);
    spdlog::info(
        "bench ledger: {:.0f} events/s through the ledger store, raw RocksDB {:.0f} "
        "writes/s and {:.0f} reads/s in the same run",
        figures->ledger_events_per_second, figures->raw_writes_per_second,
        figures->raw_reads_per_second);
    return kExitOk;
}

}  // namespace

void add_bench_ledger(CLI::App& bench, CommandRunner& run) {
    auto args = std::make_shared<BenchLedgerArgs>();
    LedgerBenchOptions& options = args->options;
    auto* ledger = bench.add_subcommand(
        "ledger",
        "The ledger store path (validate + dedup + append, one WriteBatch per batch) on one\n"
        "thread, beside the raw RocksDB write and read rates of the same run. Kafka excluded.");
    ledger->add_option("--events", options.events, "Events to apply")
        ->check(CLI::Range(1ULL, 100'000'000ULL))
        ->capture_default_str();
    ledger->add_option("--batch-size,--batch", options.batch, "Events per batch (one WriteBatch)")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    ledger->add_option("--sync", options.sync, "fsync every batch")->capture_default_str();
    ledger->add_option("--duplicate-percent", options.duplicate_percent, "Share of duplicates")
        ->check(CLI::Range(0.0, 100.0))
        ->capture_default_str();
    ledger->add_option("--tenants", options.tenants, "Distinct tenants")
        ->check(CLI::Range(1ULL, 10'000'000ULL))
        ->capture_default_str();
    ledger->add_option("--block-cache-mib", args->block_cache_mib, "RocksDB block cache")
        ->capture_default_str();
    ledger->add_option("--seed", options.seed, "Generator seed (default: random, reported)");
    ledger
        ->add_option("--hard-limit", options.hard_limit_units,
                     "Hard-limit every (tenant, meter) at this many units (0: soft, no limits): "
                     "the figure then includes the ledger's limit totals")
        ->check(CLI::Range(0LL, 1'000'000'000'000LL))
        ->capture_default_str();
    ledger->callback([args, &run] { run = [args] { return run_bench_ledger(*args); }; });
}

}  // namespace ul::ops
