// `usage-ledger bench ledger`: the ledger's store path — parse + validate + dedup (one MultiGet
// per batch) + append (one WriteBatch per batch, entries + dedup keys + offsets + counters) —
// on one thread, durable (fsync per batch) by default, beside the raw RocksDB write and read
// rates of the same machine in the same run (same value size, batch size and sync setting).
// Kafka consumption is not in this figure: it measures what the ledger adds on top of reading.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "ledger/ledger_store.h"
#include "ops/bench_commands.h"
#include "ops/cli.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct BenchLedgerArgs {
    std::uint64_t events = 1'000'000;
    std::size_t batch = 10'000;
    bool sync = true;
    double duplicate_percent = 5.0;
    std::uint64_t tenants = 10'000;
    std::uint64_t seed = 0;
    std::size_t block_cache_mib = 64;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

long max_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

std::string temp_dir(const char* name) {
    return (std::filesystem::temp_directory_path() /
            (std::string("usage-ledger-bench-") + name + "-" + std::to_string(::getpid())))
        .string();
}

int run_bench_ledger(BenchLedgerArgs args) {
    if (args.seed == 0) {
        args.seed = std::random_device{}();
    }
    std::mt19937_64 random(args.seed);
    const std::int64_t now_us = system_now_us();
    // ~200-byte events generated batch by batch (outside the timed region), so the process's
    // memory is the store's, not a list of every event; duplicate_percent of them repeat one of
    // the last 100,000 events exactly.
    spdlog::info("bench ledger: {} events over {} tenants (seed {})", args.events, args.tenants,
                 args.seed);
    constexpr std::size_t kRecent = 100'000;
    std::vector<std::string> recent;
    recent.reserve(kRecent);
    std::uint64_t generated = 0;
    std::size_t value_bytes = 0;
    auto next_value = [&](std::string& out) {
        const bool duplicate = !recent.empty() && static_cast<double>(random() % 10000) <
                                                      args.duplicate_percent * 100.0;
        if (duplicate) {
            out = recent[random() % recent.size()];
        } else {
            out = R"({"idempotency_key":"req-)" + std::to_string(generated) + "-" +
                  std::to_string(random() % 1'000'000'000) + R"(","tenant_id":"tenant-)" +
                  std::to_string(random() % args.tenants) +
                  R"(","subject":"user-42","meter":"tokens","quantity":1500,"timestamp":")" +
                  format_rfc3339(now_us - 60'000'000) + R"(","properties":{"model":"gpt-x"}})";
            if (recent.size() < kRecent) {
                recent.push_back(out);
            } else {
                recent[generated % kRecent] = out;
            }
        }
        ++generated;
        value_bytes += out.size();
    };

    // The ledger store path.
    const std::string ledger_path = temp_dir("ledger");
    std::filesystem::remove_all(ledger_path);
    double ledger_seconds = 0;
    OutcomeCounts counts;
    const long rss_before_ledger = max_rss_kib();
    {
        LedgerStoreOptions options;
        options.path = ledger_path;
        options.sync = args.sync;
        options.block_cache_bytes = args.block_cache_mib << 20U;
        auto store = LedgerStore::open(options, OpenMode::read_write);
        if (!store) {
            spdlog::error("bench ledger: {}", store.error());
            return kExitFailure;
        }
        std::vector<std::string> values(args.batch);
        std::vector<SourceMessage> batch;
        batch.reserve(args.batch);
        std::vector<std::int64_t> offsets(16, 0);
        auto last_report = std::chrono::steady_clock::now();
        for (std::uint64_t done = 0; done < args.events;) {
            const std::size_t size =
                static_cast<std::size_t>(std::min<std::uint64_t>(args.batch, args.events - done));
            batch.clear();
            for (std::size_t index = 0; index < size; ++index) {
                next_value(values[index]);
                const auto partition = static_cast<std::uint32_t>((done + index) % 16);
                batch.push_back(SourceMessage{partition, offsets[partition]++, "", values[index]});
            }
            const auto start = std::chrono::steady_clock::now();
            auto applied = (*store)->apply(batch, now_us);
            ledger_seconds += seconds_since(start);
            if (!applied) {
                spdlog::error("bench ledger: {}", applied.error());
                return kExitFailure;
            }
            done += size;
            if (seconds_since(last_report) > 2.0) {
                last_report = std::chrono::steady_clock::now();
                spdlog::info("bench ledger: {} of {} events, max RSS {} MiB", done, args.events,
                             max_rss_kib() / 1024);
            }
        }
        counts = (*store)->counts();
    }
    const std::size_t average_bytes = value_bytes / std::max<std::uint64_t>(generated, 1);
    const long rss_after_ledger = max_rss_kib();

    // Raw RocksDB: the same number of puts of values of the average size, random 12-byte keys,
    // the same batch size and sync setting; then random point reads of the keys written.
    const std::string raw_path = temp_dir("raw");
    std::filesystem::remove_all(raw_path);
    double raw_write_seconds = 0;
    double raw_read_seconds = 0;
    std::uint64_t raw_reads = std::min<std::uint64_t>(args.events, 1'000'000);
    {
        rocksdb::Options options;
        options.create_if_missing = true;
        options.IncreaseParallelism(2);
        rocksdb::DB* raw = nullptr;
        if (!rocksdb::DB::Open(options, raw_path, &raw).ok()) {
            spdlog::error("bench ledger: cannot open raw RocksDB at {}", raw_path);
            return kExitFailure;
        }
        std::unique_ptr<rocksdb::DB> db(raw);
        const std::string value(average_bytes, 'v');
        rocksdb::WriteOptions write_options;
        write_options.sync = args.sync;
        rocksdb::WriteBatch batch;
        std::mt19937_64 keys(args.seed);
        const auto start = std::chrono::steady_clock::now();
        for (std::uint64_t index = 0; index < args.events; ++index) {
            char key[12];
            const std::uint64_t bits = keys();
            std::memcpy(key, &bits, 8);
            std::memcpy(key + 8, &index, 4);
            batch.Put(rocksdb::Slice(key, 12), value);
            if (batch.Count() == static_cast<std::uint32_t>(args.batch) ||
                index + 1 == args.events) {
                (void)db->Write(write_options, &batch);
                batch.Clear();
            }
        }
        raw_write_seconds = seconds_since(start);
        std::mt19937_64 again(args.seed);
        std::vector<std::uint64_t> firsts;
        for (std::uint64_t index = 0; index < raw_reads; ++index) {
            firsts.push_back(again());
        }
        std::string out;
        const auto read_start = std::chrono::steady_clock::now();
        for (std::uint64_t read = 0; read < raw_reads; ++read) {
            const std::uint64_t index = (read * 7919) % raw_reads;
            char key[12];
            std::memcpy(key, &firsts[index], 8);
            std::memcpy(key + 8, &index, 4);
            (void)db->Get(rocksdb::ReadOptions(), rocksdb::Slice(key, 12), &out);
        }
        raw_read_seconds = seconds_since(read_start);
        (void)db->Close();
    }
    std::filesystem::remove_all(ledger_path);
    std::filesystem::remove_all(raw_path);

    const double ledger_rate = static_cast<double>(args.events) / ledger_seconds;
    const double raw_write_rate = static_cast<double>(args.events) / raw_write_seconds;
    const double raw_read_rate = static_cast<double>(raw_reads) / raw_read_seconds;
    std::printf(
        "{\"bench\":\"ledger\",\"events\":%llu,\"average_event_bytes\":%zu,\"batch\":%zu,"
        "\"sync\":%s,\"accepted\":%llu,\"duplicate\":%llu,\"seconds\":%.3f,"
        "\"ledger_events_per_second\":%.0f,\"raw_rocksdb_writes_per_second\":%.0f,"
        "\"raw_rocksdb_reads_per_second\":%.0f,\"ledger_vs_raw_write\":%.3f,"
        "\"max_rss_kib_before_ledger\":%ld,\"max_rss_kib_after_ledger\":%ld,\"seed\":%llu}\n",
        static_cast<unsigned long long>(args.events), average_bytes, args.batch,
        args.sync ? "true" : "false", static_cast<unsigned long long>(counts.accepted),
        static_cast<unsigned long long>(counts.duplicate), ledger_seconds, ledger_rate,
        raw_write_rate, raw_read_rate, ledger_rate / raw_write_rate, rss_before_ledger,
        rss_after_ledger, static_cast<unsigned long long>(args.seed));
    spdlog::info(
        "bench ledger: {:.0f} events/s through the ledger store, raw RocksDB {:.0f} "
        "writes/s and {:.0f} reads/s in the same run",
        ledger_rate, raw_write_rate, raw_read_rate);
    return kExitOk;
}

}  // namespace

void add_bench_ledger(CLI::App& bench, CommandRunner& run) {
    auto args = std::make_shared<BenchLedgerArgs>();
    auto* ledger = bench.add_subcommand(
        "ledger",
        "The ledger store path (validate + dedup + append, one WriteBatch per batch) on one\n"
        "thread, beside the raw RocksDB write and read rates of the same run. Kafka excluded.");
    ledger->add_option("--events", args->events, "Events to apply")
        ->check(CLI::Range(1ULL, 100'000'000ULL))
        ->capture_default_str();
    ledger->add_option("--batch", args->batch, "Events per batch (one WriteBatch)")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    ledger->add_option("--sync", args->sync, "fsync every batch")->capture_default_str();
    ledger->add_option("--duplicate-percent", args->duplicate_percent, "Share of duplicates")
        ->check(CLI::Range(0.0, 100.0))
        ->capture_default_str();
    ledger->add_option("--tenants", args->tenants, "Distinct tenants")
        ->check(CLI::Range(1ULL, 10'000'000ULL))
        ->capture_default_str();
    ledger->add_option("--block-cache-mib", args->block_cache_mib, "RocksDB block cache")
        ->capture_default_str();
    ledger->add_option("--seed", args->seed, "Generator seed (default: random, logged)");
    ledger->callback([args, &run] { run = [args] { return run_bench_ledger(*args); }; });
}

}  // namespace ul::ops
