// `usage-ledger ledger` (the consumer), `stats`, `verify` and `export ledger`.
// stats, verify and export open the store as a RocksDB secondary: they work on a stopped store
// and beside a running ledger.
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <map>
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
    int session_timeout_s = 45;
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
    options.session_timeout_ms = args.session_timeout_s * 1000;
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

namespace {

void append_counts(std::string& out, const OutcomeCounts& counts) {
    out += "\"consumed\":" + std::to_string(counts.consumed());
    out += ",\"accepted\":" + std::to_string(counts.accepted);
    out += ",\"duplicate\":" + std::to_string(counts.duplicate);
    out += ",\"conflict\":" + std::to_string(counts.conflict);
    // rejected_limit (a hard limit refused the event) is its own outcome; the store keeps it
    // as a dead letter with reason limit_exceeded.
    out += ",\"rejected_limit\":" + std::to_string(counts.rejected_limit());
    out += ",\"dead_lettered\":" + std::to_string(counts.invalid());
    out += ",\"dead_lettered_by_reason\":{";
    bool first = true;
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        if (counts.dead_lettered_by_reason[index] == 0 ||
            static_cast<Reason>(index) == Reason::limit_exceeded) {
            continue;
        }
        out += first ? "\"" : ",\"";
        first = false;
        out += reason_code(static_cast<Reason>(index));
        out += "\":" + std::to_string(counts.dead_lettered_by_reason[index]);
    }
    out += "}";
}

void add_counts(OutcomeCounts& sum, const OutcomeCounts& add) {
    sum.accepted += add.accepted;
    sum.duplicate += add.duplicate;
    sum.conflict += add.conflict;
    sum.dead_lettered += add.dead_lettered;
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        sum.dead_lettered_by_reason[index] += add.dead_lettered_by_reason[index];
    }
}

}  // namespace

std::string summed_stats_json(const std::vector<std::string>& dirs,
                              const std::vector<std::unique_ptr<LedgerStore>>& stores) {
    // Per partition, the store furthest along the source (every instance's counts of a
    // partition are cumulative, carried over by the changelog's progress markers).
    std::map<std::uint32_t, std::size_t> furthest;
    for (std::size_t index = 0; index < stores.size(); ++index) {
        for (const auto& [partition, state] : stores[index]->partitions()) {
            const auto found = furthest.find(partition);
            if (found == furthest.end()) {
                furthest.emplace(partition, index);
                continue;
            }
            const PartitionState best = stores[found->second]->partition(partition);
            if (state.next_offset > best.next_offset ||
                (state.next_offset == best.next_offset &&
                 state.next_sequence > best.next_sequence)) {
                found->second = index;
            }
        }
    }
    OutcomeCounts sum;
    std::string partitions;
    for (const auto& [partition, index] : furthest) {
        const PartitionState state = stores[index]->partition(partition);
        add_counts(sum, state.counts);
        partitions += partitions.empty() ? "\"" : ",\"";
        partitions +=
            std::to_string(partition) + "\":{\"next_offset\":" + std::to_string(state.next_offset) +
            ",\"next_sequence\":" + std::to_string(state.next_sequence) +
            ",\"consumed\":" + std::to_string(state.counts.consumed()) + ",\"data_dir\":\"";
        append_json_escaped(partitions, dirs[index]);
        partitions += "\"}";
    }
    std::string out = "{\"stores\":" + std::to_string(stores.size()) + ",";
    append_counts(out, sum);
    out += ",\"partitions\":{" + partitions + "}}";
    return out;
}

std::string stats_json(const LedgerStore& store) {
    std::string out = "{";
    append_counts(out, store.counts());
    bool first = true;
    out += ",\"gaps\":[";
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
               ",\"dlq_outbox_next\":" + std::to_string(state.dlq_outbox_next) +
               ",\"consumed\":" + std::to_string(state.counts.consumed()) + "}";
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
    ledger
        ->add_option("--session-timeout", args->session_timeout_s,
                     "Seconds the consumer group waits for an instance that stopped answering "
                     "(kill -9, a lost machine) before its partitions move to the others "
                     "(Kafka's session.timeout.ms; within the broker's group.min/max.session."
                     "timeout.ms)")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    add_min_free_disk_option(*ledger, args->min_free_disk);
    ledger->callback([args, &run] { run = [args] { return run_ledger(*args); }; });

    auto data_dir = std::make_shared<std::string>("data");
    auto stats_dirs = std::make_shared<std::vector<std::string>>();
    auto* stats = app.add_subcommand(
        "stats",
        "The ledger's counts as JSON: consumed, accepted, duplicate, conflict, dead_lettered (by\n"
        "reason), gaps and per-partition positions. Works beside a running ledger.\n"
        "Several --data-dir (ledgers of one group, scale-out): per partition, the counts of the\n"
        "store furthest along that partition, summed over the partitions.");
    stats->add_option("--data-dir", *stats_dirs, "State directory (repeatable; default: data)");
    stats->callback([stats_dirs, &run] {
        run = [stats_dirs] {
            if (stats_dirs->size() <= 1) {
                auto store = open_for_reading(stats_dirs->empty() ? "data" : stats_dirs->front());
                std::printf("%s\n", stats_json(*store).c_str());
                return kExitOk;
            }
            std::vector<std::unique_ptr<LedgerStore>> stores;
            for (const auto& dir : *stats_dirs) {
                stores.push_back(open_for_reading(dir));
            }
            std::printf("%s\n", summed_stats_json(*stats_dirs, stores).c_str());
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
