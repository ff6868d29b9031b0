#include "ledger/ledger_bench.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "ledger/ledger_store.h"
#include "schemas/time.h"

namespace ul {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double cpu_seconds(clockid_t clock) {
    timespec now{};
    clock_gettime(clock, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Time this thread has spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere): on a
// shared machine, the part of the wall time that the neighbours took.
double runqueue_wait_seconds() {
    std::ifstream schedstat("/proc/thread-self/schedstat");
    double on_cpu_ns = 0;
    double waiting_ns = 0;
    if (!(schedstat >> on_cpu_ns >> waiting_ns)) {
        return 0;
    }
    return waiting_ns * 1e-9;
}

Result<std::string, std::string> make_temp_dir(const LedgerBenchOptions& options,
                                               const char* name) {
    const std::filesystem::path base = options.directory.empty()
                                           ? std::filesystem::temp_directory_path()
                                           : std::filesystem::path(options.directory);
    std::string pattern = (base / (std::string("usage-ledger-bench-") + name + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) {
        return unexpected("cannot make a temporary directory under " + base.string());
    }
    return pattern;
}

// CPU seconds used so far by this process's threads, summed by thread name (RocksDB names its
// pools' threads "rocksdb:high" (flushes) and "rocksdb:low" (compactions)). Linux /proc only;
// empty elsewhere.
std::map<std::string, double> cpu_seconds_by_thread_name() {
    std::map<std::string, double> seconds;
    std::error_code error;
    const auto ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
    std::filesystem::directory_iterator tasks("/proc/self/task", error);
    for (; !error && tasks != std::filesystem::directory_iterator(); tasks.increment(error)) {
        const auto& task = *tasks;
        std::ifstream comm_file(task.path() / "comm");
        std::ifstream stat_file(task.path() / "stat");
        std::string name;
        std::string stat;
        if (!std::getline(comm_file, name) || !std::getline(stat_file, stat)) {
            continue;
        }
        // Fields after the ")" that closes the name: state is field 3, utime 14, stime 15.
        const auto close = stat.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream fields(stat.substr(close + 2));
        std::string field;
        double ticks = 0;
        for (int number = 3; number <= 15 && fields >> field; ++number) {
            if (number >= 14) {
                ticks += std::strtod(field.c_str(), nullptr);
            }
        }
        seconds[name] += ticks / ticks_per_second;
    }
    return seconds;
}

// ~200-byte valid events; `duplicate_percent` of them repeat one of the last kRecent events
// exactly (a producer retry), the rest are new. Deterministic for a seed.
class EventGenerator {
  public:
    EventGenerator(const LedgerBenchOptions& options, std::int64_t now_us)
        : options_(options), random_(options.seed) {
        // Event times spread over the last hour: valid for any late-arrival limit ≥ 1 h.
        for (std::size_t index = 0; index < timestamps_.size(); ++index) {
            timestamps_[index] =
                format_rfc3339(now_us - 3'600'000'000LL +
                               static_cast<std::int64_t>(index) * (3'000'000'000LL / 64));
        }
        recent_.reserve(kRecent);
    }

    void next(std::string& out) {
        const bool duplicate = !recent_.empty() && static_cast<double>(random_() % 10'000) <
                                                       options_.duplicate_percent * 100.0;
        if (duplicate) {
            out = recent_[random_() % recent_.size()];
        } else {
            out.clear();
            out += R"({"idempotency_key":"req-)";
            out += std::to_string(generated_);
            out += '-';
            out += std::to_string(random_() % 1'000'000'000);
            out += R"(","tenant_id":"tenant-)";
            out += std::to_string(random_() % options_.tenants);
            out += R"(","subject":"user-)";
            out += std::to_string(random_() % 100'000);
            out += R"(","meter":")";
            out += kMeters[random_() % kMeters.size()];
            out += R"(","quantity":)";
            out += std::to_string(1 + random_() % 5'000);
            out += R"(,"timestamp":")";
            out += timestamps_[random_() % timestamps_.size()];
            out += R"(","properties":{"model":"gpt-x","region":")";
            out += (random_() % 2 == 0) ? "eu" : "us";
            out += R"("}})";
            if (recent_.size() < kRecent) {
                recent_.push_back(out);
            } else {
                recent_[generated_ % kRecent] = out;
            }
        }
        ++generated_;
        bytes_ += out.size();
    }

    std::uint64_t generated() const { return generated_; }
    std::uint64_t bytes() const { return bytes_; }

  private:
    static constexpr std::size_t kRecent = 100'000;
    static constexpr std::array<std::string_view, 4> kMeters = {"tokens", "api_calls",
                                                                "audio_minutes", "resume_scans"};
    const LedgerBenchOptions& options_;
    std::mt19937_64 random_;
    std::array<std::string, 64> timestamps_;
    std::vector<std::string> recent_;
    std::uint64_t generated_ = 0;
    std::uint64_t bytes_ = 0;
};

struct LedgerRun {
    double seconds = 0;
    double thread_cpu_seconds = 0;
    double runqueue_wait_seconds = 0;
    double process_cpu_seconds = 0;
    double flush_cpu_seconds = 0;
    double compaction_cpu_seconds = 0;
    OutcomeCounts counts;
    std::size_t average_event_bytes = 0;
};

// --hard-limit: every (tenant, meter) limited the same, over one fixed period.
class EveryMeterLimited final : public LimitPolicy {
  public:
    explicit EveryMeterLimited(HardLimit limit) : limit_(limit) {}
    std::optional<HardLimit> hard_limit(std::string_view, std::string_view,
                                        std::int64_t) const override {
        return limit_;
    }
    bool ready() const override { return true; }

  private:
    HardLimit limit_;
};

Result<LedgerRun, std::string> measure_ledger(const LedgerBenchOptions& options,
                                              const std::string& path) {
    const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    LedgerStoreOptions store_options;
    store_options.path = path;
    store_options.sync = options.sync;
    store_options.block_cache_bytes = options.block_cache_bytes;
    const EveryMeterLimited limits(HardLimit{options.hard_limit_units * Decimal::kMicrosPerUnit, 0,
                                             std::numeric_limits<std::int64_t>::max()});
    if (options.hard_limit_units > 0) {
        store_options.limits = &limits;
    }
    auto store = LedgerStore::open(store_options, OpenMode::read_write);
    if (!store) {
        return unexpected(store.error());
    }
    EventGenerator generator(options, now_us);
    std::vector<std::string> values(options.batch);
    std::vector<SourceMessage> batch;
    batch.reserve(options.batch);
    std::vector<std::int64_t> offsets(options.partitions, 0);
    LedgerRun run;
    const double process_cpu_start = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    auto threads_before = cpu_seconds_by_thread_name();
    auto last_report = Clock::now();
    for (std::uint64_t done = 0; done < options.events;) {
        const auto size =
            static_cast<std::size_t>(std::min<std::uint64_t>(options.batch, options.events - done));
        batch.clear();
        for (std::size_t index = 0; index < size; ++index) {
            generator.next(values[index]);
            const auto partition = static_cast<std::uint32_t>((done + index) % options.partitions);
            batch.push_back(SourceMessage{partition, offsets[partition]++, "", values[index]});
        }
        const double thread_cpu_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
        const double waited_start = runqueue_wait_seconds();
        const auto start = Clock::now();
        auto applied = (*store)->apply(batch, now_us);
        run.seconds += seconds_since(start);
        run.thread_cpu_seconds += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - thread_cpu_start;
        run.runqueue_wait_seconds += runqueue_wait_seconds() - waited_start;
        if (!applied) {
            return unexpected(applied.error());
        }
        done += size;
        if (options.progress && seconds_since(last_report) > 2.0) {
            last_report = Clock::now();
            options.progress(done, options.events);
        }
    }
    run.counts = (*store)->counts();
    // Close first: the store waits for its running flushes and compactions.
    store->reset();
    run.process_cpu_seconds = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - process_cpu_start;
    auto threads_after = cpu_seconds_by_thread_name();
    run.flush_cpu_seconds = threads_after["rocksdb:high"] - threads_before["rocksdb:high"];
    run.compaction_cpu_seconds = threads_after["rocksdb:low"] - threads_before["rocksdb:low"];
    run.average_event_bytes = static_cast<std::size_t>(
        generator.bytes() / std::max<std::uint64_t>(generator.generated(), 1));
    return run;
}

struct RawRun {
    double write_seconds = 0;
    double write_thread_cpu_seconds = 0;
    double read_seconds = 0;
    std::uint64_t reads = 0;
};

// Plain RocksDB, configured like one of the store's families (write buffer, compression), one
// column family, one Put per event.
Result<RawRun, std::string> measure_raw(const LedgerBenchOptions& options, const std::string& path,
                                        std::size_t value_bytes) {
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.IncreaseParallelism(2);
    db_options.write_buffer_size = LedgerStoreOptions{}.write_buffer_bytes;
    db_options.max_write_buffer_number = 2;
    db_options.compression = rocksdb::kLZ4Compression;
    rocksdb::DB* raw = nullptr;
    const auto status = rocksdb::DB::Open(db_options, path, &raw);
    if (!status.ok()) {
        return unexpected("cannot open raw RocksDB at " + path + ": " + status.ToString());
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    RawRun run;
    std::mt19937_64 random(options.seed);
    std::string value(value_bytes, 'v');
    for (char& byte : value) {
        byte = static_cast<char>('a' + random() % 26);  // some entropy, as JSON has
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = options.sync;
    rocksdb::WriteBatch batch;
    const std::uint64_t key_seed = random();
    auto key_of = [key_seed](std::uint64_t index, char* key) {
        std::uint64_t bits = (index + 1) * 0x9E3779B97F4A7C15ULL ^ key_seed;
        std::memcpy(key, &bits, 8);
        const auto low = static_cast<std::uint32_t>(index);
        std::memcpy(key + 8, &low, 4);
    };
    const double thread_cpu_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    const auto write_start = Clock::now();
    for (std::uint64_t index = 0; index < options.events; ++index) {
        char key[12];
        key_of(index, key);
        batch.Put(rocksdb::Slice(key, sizeof key), value);
        if (batch.Count() == options.batch || index + 1 == options.events) {
            const auto written = db->Write(write_options, &batch);
            if (!written.ok()) {
                return unexpected("raw RocksDB write failed: " + written.ToString());
            }
            batch.Clear();
        }
    }
    run.write_seconds = seconds_since(write_start);
    run.write_thread_cpu_seconds = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - thread_cpu_start;

    run.reads = std::min<std::uint64_t>(options.events, 1'000'000);
    std::string out;
    std::uint64_t found = 0;
    const auto read_start = Clock::now();
    for (std::uint64_t read = 0; read < run.reads; ++read) {
        char key[12];
        key_of(random() % options.events, key);
        found += db->Get(rocksdb::ReadOptions(), rocksdb::Slice(key, sizeof key), &out).ok();
    }
    run.read_seconds = seconds_since(read_start);
    (void)db->Close();
    if (found != run.reads) {
        return unexpected(std::string("raw RocksDB lost keys it had written"));
    }
    return run;
}

}  // namespace

Result<LedgerBenchFigures, std::string> run_ledger_bench(const LedgerBenchOptions& given) {
    LedgerBenchOptions options = given;
    if (options.seed == 0) {
        options.seed = std::random_device{}();
    }
    if (options.events == 0 || options.batch == 0 || options.partitions == 0 ||
        options.tenants == 0) {
        return unexpected(std::string("events, batch, partitions and tenants must be positive"));
    }
    auto ledger_path = make_temp_dir(options, "ledger");
    if (!ledger_path) {
        return unexpected(ledger_path.error());
    }
    auto ledger = measure_ledger(options, *ledger_path);
    if (!options.keep_store || !ledger) {
        std::error_code ignored;
        std::filesystem::remove_all(*ledger_path, ignored);
    }
    if (!ledger) {
        return unexpected("bench ledger: " + ledger.error());
    }
    RawRun raw;
    if (options.measure_raw) {
        auto raw_path = make_temp_dir(options, "raw");
        if (!raw_path) {
            return unexpected(raw_path.error());
        }
        auto measured = measure_raw(options, *raw_path, ledger->average_event_bytes);
        std::error_code ignored;
        std::filesystem::remove_all(*raw_path, ignored);
        if (!measured) {
            return unexpected("bench ledger: " + measured.error());
        }
        raw = *measured;
    }

    LedgerBenchFigures figures;
    figures.events = options.events;
    figures.accepted = ledger->counts.accepted;
    figures.duplicate = ledger->counts.duplicate;
    figures.rejected_limit = ledger->counts.rejected_limit();
    figures.hard_limit_units = options.hard_limit_units;
    figures.average_event_bytes = ledger->average_event_bytes;
    figures.batch = options.batch;
    figures.sync = options.sync;
    figures.seed = options.seed;
    if (options.keep_store) {
        figures.ledger_path = *ledger_path;
    }
    const auto events = static_cast<double>(options.events);
    figures.ledger_seconds = ledger->seconds;
    figures.ledger_events_per_second = events / ledger->seconds;
    figures.ledger_thread_cpu_seconds = ledger->thread_cpu_seconds;
    figures.ledger_thread_runqueue_wait_seconds = ledger->runqueue_wait_seconds;
    figures.ledger_events_per_thread_cpu_second = events / ledger->thread_cpu_seconds;
    figures.ledger_process_cpu_seconds = ledger->process_cpu_seconds;
    figures.ledger_flush_cpu_seconds = ledger->flush_cpu_seconds;
    figures.ledger_compaction_cpu_seconds = ledger->compaction_cpu_seconds;
    if (options.measure_raw) {
        figures.raw_write_seconds = raw.write_seconds;
        figures.raw_writes_per_second = events / raw.write_seconds;
        figures.raw_writes_per_thread_cpu_second = events / raw.write_thread_cpu_seconds;
        figures.raw_reads = raw.reads;
        figures.raw_reads_per_second = static_cast<double>(raw.reads) / raw.read_seconds;
        figures.ledger_vs_raw_write =
            figures.ledger_events_per_second / figures.raw_writes_per_second;
    }
    return figures;
}

std::string ledger_bench_json(const LedgerBenchFigures& figures) {
    char buffer[1024];
    const int length = std::snprintf(
        buffer, sizeof buffer,
        "{\"bench\":\"ledger\",\"events\":%llu,\"average_event_bytes\":%zu,\"batch\":%zu,"
        "\"sync\":%s,\"hard_limit\":%lld,\"accepted\":%llu,\"duplicate\":%llu,"
        "\"rejected_limit\":%llu,\"seconds\":%.3f,"
        "\"ledger_events_per_second\":%.0f,\"ledger_thread_cpu_seconds\":%.3f,"
        "\"ledger_events_per_thread_cpu_second\":%.0f,\"ledger_thread_runqueue_wait_seconds\":%.3f,"
        "\"ledger_process_cpu_seconds\":%.3f,"
        "\"ledger_flush_cpu_seconds\":%.3f,\"ledger_compaction_cpu_seconds\":%.3f,"
        "\"raw_rocksdb_writes_per_second\":%.0f,\"raw_rocksdb_writes_per_thread_cpu_second\":%.0f,"
        "\"raw_rocksdb_reads_per_second\":%.0f,\"ledger_vs_raw_write\":%.3f,\"seed\":%llu}",
        static_cast<unsigned long long>(figures.events), figures.average_event_bytes, figures.batch,
        figures.sync ? "true" : "false", static_cast<long long>(figures.hard_limit_units),
        static_cast<unsigned long long>(figures.accepted),
        static_cast<unsigned long long>(figures.duplicate),
        static_cast<unsigned long long>(figures.rejected_limit), figures.ledger_seconds,
        figures.ledger_events_per_second, figures.ledger_thread_cpu_seconds,
        figures.ledger_events_per_thread_cpu_second, figures.ledger_thread_runqueue_wait_seconds,
        figures.ledger_process_cpu_seconds, figures.ledger_flush_cpu_seconds,
        figures.ledger_compaction_cpu_seconds, figures.raw_writes_per_second,
        figures.raw_writes_per_thread_cpu_second, figures.raw_reads_per_second,
        figures.ledger_vs_raw_write, static_cast<unsigned long long>(figures.seed));
    return {buffer, static_cast<std::size_t>(std::max(length, 0))};
}

}  // namespace ul
