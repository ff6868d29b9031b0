// `usage-ledger ledger` (the consumer), `stats`, `verify` and `export ledger`.
// stats, verify and export open the store as a RocksDB secondary: they work on a stopped store
// and beside a running ledger.
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

#include "ledger/ledger_service.h"
#include "ledger/ledger_store.h"
#include "ops/cli.h"
#include "ops/ledger_commands.h"
#include "ops/logging.h"
#include "ops/signals.h"

namespace ul::ops {
namespace {

struct LedgerArgs {
    KafkaOptions kafka;
    std::string data_dir = "data";
    bool sync = true;
    bool lenient = false;
    std::int64_t max_event_age_us = ValidationOptions{}.max_event_age_us;
    std::size_t batch_size = 10'000;
    bool assign_all = false;
    MinFreeDisk min_free_disk;
};

std::unique_ptr<LedgerStore> open_for_reading(const std::string& data_dir) {
    LedgerStoreOptions options;
    options.path = data_dir + "/ledger";
    auto store = LedgerStore::open(options, OpenMode::secondary);
    if (!store) {
        throw UsageError(store.error() + " (is --data-dir right?)");
    }
    return std::move(store).value();
}

int run_ledger(const LedgerArgs& args) {
    block_termination_signals();
    LedgerServiceOptions options;
    options.bootstrap = resolve_bootstrap_or_throw(args.kafka);
    options.kafka_settings = kafka_settings_or_throw(args.kafka);
    options.data_dir = args.data_dir;
    options.sync = args.sync;
    options.max_batch = args.batch_size;
    options.assign_all = args.assign_all;
    options.validation.strict = !args.lenient;
    options.validation.max_event_age_us = args.max_event_age_us;
    options.now_us = system_now_us;
    options.min_free_disk = args.min_free_disk;
    auto service = LedgerService::start(options);
    if (!service) {
        spdlog::error("ledger: {}", service.error());
        return kExitFailure;
    }
    spdlog::info("ledger: consuming {} from {} into {}/ledger (sync per batch: {})",
                 options.events_topic, options.bootstrap, args.data_dir, args.sync);
    std::atomic<bool> finished{false};
    std::thread signal_waiter([&service, &finished] {
        while (!finished.load()) {
            if (const int taken = wait_for_termination_signal(std::chrono::milliseconds(200))) {
                spdlog::info("ledger: signal {} taken, finishing the batch in hand", taken);
                (*service)->request_stop();
                return;
            }
        }
    });
    auto ran = (*service)->run();
    finished.store(true);
    signal_waiter.join();
    if (!ran) {
        spdlog::error("ledger: {}", ran.error());
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace

std::string stats_json(const LedgerStore& store) {
    const auto& counts = store.counts();
    std::string out = "{\"consumed\":" + std::to_string(counts.consumed());
    out += ",\"accepted\":" + std::to_string(counts.accepted);
    out += ",\"duplicate\":" + std::to_string(counts.duplicate);
    out += ",\"conflict\":" + std::to_string(counts.conflict);
    out += ",\"dead_lettered\":" + std::to_string(counts.dead_lettered);
    out += ",\"dead_lettered_by_reason\":{";
    bool first = true;
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        if (counts.dead_lettered_by_reason[index] == 0) {
            continue;
        }
        out += first ? "\"" : ",\"";
        first = false;
        out += reason_code(static_cast<Reason>(index));
        out += "\":" + std::to_string(counts.dead_lettered_by_reason[index]);
    }
    out += "},\"gaps\":[";
    first = true;
    for (const auto& gap : store.gaps()) {
        if (gap.reset()) {
            continue;  // listed under log_resets
        }
        out += first ? "{" : ",{";
        first = false;
        out += "\"partition\":" + std::to_string(gap.partition) +
               ",\"from\":" + std::to_string(gap.from) + ",\"to\":" + std::to_string(gap.to) +
               ",\"count\":" + std::to_string(gap.to > gap.from ? gap.to - gap.from : 0) + "}";
    }
    out += "],\"log_resets\":[";
    first = true;
    for (const auto& gap : store.gaps()) {
        if (!gap.reset()) {
            continue;
        }
        out += first ? "{" : ",{";
        first = false;
        out += "\"partition\":" + std::to_string(gap.partition) +
               ",\"stored_offset\":" + std::to_string(gap.from) +
               ",\"continued_at\":" + std::to_string(gap.to) + "}";
    }
    out += "],\"partitions\":{";
    first = true;
    for (const auto& [partition, state] : store.partitions()) {
        out += first ? "\"" : ",\"";
        first = false;
        out += std::to_string(partition) +
               "\":{\"next_offset\":" + std::to_string(state.next_offset) +
               ",\"next_sequence\":" + std::to_string(state.next_sequence) +
               ",\"outbox_next\":" + std::to_string(state.outbox_next) +
               ",\"dead_letters\":" + std::to_string(state.dlq_next) +
               ",\"dlq_outbox_next\":" + std::to_string(state.dlq_outbox_next) + "}";
    }
    out += "}}";
    return out;
}

void add_ledger_commands(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<LedgerArgs>();
    auto* ledger = app.add_subcommand(
        "ledger",
        "Run the ledger consumer until SIGINT/SIGTERM: usage.events → dedup → RocksDB\n"
        "(<data-dir>/ledger), invalid events → usage.events.dlq, accepted entries → usage.ledger.\n"
        "Positions live in RocksDB; a crash at any moment neither loses nor repeats an event.");
    add_kafka_options(*ledger, args->kafka);
    ledger->add_option("--data-dir", args->data_dir, "State directory")->capture_default_str();
    ledger
        ->add_option("--sync", args->sync,
                     "fsync every batch (true: durable; false: faster, a machine crash may "
                     "lose the last batches)")
        ->capture_default_str();
    ledger->add_flag("--lenient", args->lenient, "Accept unknown top-level fields");
    add_max_event_age_option(*ledger, args->max_event_age_us);
    ledger->add_option("--batch-size", args->batch_size, "Most events per poll batch")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    ledger->add_flag("--assign-all", args->assign_all,
                     "Take every partition without joining the consumer group (a single "
                     "instance; restarts resume at once)");
    add_min_free_disk_option(*ledger, args->min_free_disk);
    ledger->callback([args, &run] { run = [args] { return run_ledger(*args); }; });

    auto data_dir = std::make_shared<std::string>("data");
    auto* stats = app.add_subcommand(
        "stats",
        "The ledger's counts as JSON: consumed, accepted, duplicate, conflict, dead_lettered (by\n"
        "reason), gaps and per-partition positions. Works beside a running ledger.");
    stats->add_option("--data-dir", *data_dir, "State directory")->capture_default_str();
    stats->callback([data_dir, &run] {
        run = [data_dir] {
            auto store = open_for_reading(*data_dir);
            std::printf("%s\n", stats_json(*store).c_str());
            return kExitOk;
        };
    });

    auto* verify = app.add_subcommand(
        "verify",
        "Check the ledger: hash chain intact, sequences dense, dedup keys and entries agree.\n"
        "Exit 1 naming the first bad position. Works beside a running ledger.");
    verify->add_option("--data-dir", *data_dir, "State directory")->capture_default_str();
    verify->callback([data_dir, &run] {
        run = [data_dir] {
            auto store = open_for_reading(*data_dir);
            const auto report = store->verify();
            if (!report.ok) {
                std::fprintf(stderr, "verify: FAILED at partition %u sequence %llu: %s\n",
                             report.partition, static_cast<unsigned long long>(report.sequence),
                             report.problem.c_str());
                return kExitFailure;
            }
            std::printf("{\"ok\":true,\"entries\":%llu,\"dedup_keys\":%llu,\"partitions\":%zu}\n",
                        static_cast<unsigned long long>(report.entries),
                        static_cast<unsigned long long>(report.dedup_keys),
                        store->partitions().size());
            return kExitOk;
        };
    });

    auto* export_command = app.add_subcommand("export", "Export state as JSON lines");
    export_command->require_subcommand(1);
    auto* export_ledger = export_command->add_subcommand(
        "ledger", "Canonical ledger entries in (partition, sequence) order, one per line");
    export_ledger->add_option("--data-dir", *data_dir, "State directory")->capture_default_str();
    export_ledger->callback([data_dir, &run] {
        run = [data_dir] {
            auto store = open_for_reading(*data_dir);
            auto exported = store->for_each_entry([](std::string_view entry) {
                std::fwrite(entry.data(), 1, entry.size(), stdout);
                std::fputc('\n', stdout);
            });
            if (!exported) {
                spdlog::error("export: {}", exported.error());
                return kExitFailure;
            }
            return kExitOk;
        };
    });
}

}  // namespace ul::ops
