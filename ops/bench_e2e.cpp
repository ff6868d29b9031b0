// `usage-ledger bench projection` (the counters projection's apply rate beside raw RocksDB) and
// `usage-ledger bench e2e` (freshness: the whole system of `up` in this process — embedded
// broker, durable ledger, projection, query API — under a steady load; probe events of one
// tenant are sent at a fixed interval and the usage API is polled over HTTP until each probe is
// counted: the latency from handing the event to the producer to seeing it in the API).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "consumers/kafka.h"
#include "ledger/ledger_service.h"
#include "ops/bench_commands.h"
#include "ops/cli.h"
#include "ops/embedded.h"
#include "ops/project_commands.h"
#include "producers/usage_producer.h"
#include "projections/counters/projection_bench.h"
#include "projections/counters/projection_service.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct E2eArgs {
    std::uint64_t rate = 50'000;
    int seconds = 10;
    std::uint64_t tenants = 1'000;
    int probe_interval_ms = 20;
    int warmup_seconds = 1;  // load before the first probe (the pipeline's first use)
    int linger_ms = ProducerOptions{}.linger_ms;  // the load generator's, as an application's
    std::string data_dir;
    KafkaOptions kafka;  // a real cluster (topics created, usage.events empty); else embedded
};

// A kept-alive HTTP GET, enough for polling one URL.
class Poller {
  public:
    explicit Poller(const std::string& address) : address_(address) {}
    std::string get(const std::string& target, const std::string& key) {
        namespace beast = boost::beast;
        namespace http = beast::http;
        for (int attempt = 0; attempt < 2; ++attempt) {
            try {
                if (!stream_) {
                    stream_ = std::make_unique<beast::tcp_stream>(io_);
                    boost::asio::ip::tcp::resolver resolver(io_);
                    const auto colon = address_.rfind(':');
                    stream_->connect(
                        resolver.resolve(address_.substr(0, colon), address_.substr(colon + 1)));
                }
                http::request<http::empty_body> request{http::verb::get, target, 11};
                request.set(http::field::host, address_);
                request.set(http::field::authorization, "Bearer " + key);
                request.keep_alive(true);
                http::write(*stream_, request);
                beast::flat_buffer buffer;
                http::response<http::string_body> response;
                http::read(*stream_, buffer, response);
                return response.body();
            } catch (const std::exception&) {
                stream_.reset();
            }
        }
        return {};
    }

  private:
    std::string address_;
    boost::asio::io_context io_;
    std::unique_ptr<boost::beast::tcp_stream> stream_;
};

std::uint64_t probe_count(const std::string& body) {
    const auto meter = body.find("\"meter\":\"probe\"");
    if (meter == std::string::npos) {
        return 0;
    }
    const auto count = body.find("\"count\":", meter);
    return count == std::string::npos ? 0 : std::stoull(body.substr(count + 8));
}

double percentile(std::vector<double> values, double share) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(share * static_cast<double>(values.size() - 1));
    return values[index];
}

// A real cluster's usage.events must be empty: the bench's fresh ledger reads it from its start,
// and earlier runs' events (the same idempotency keys) would make the figures meaningless.
Result<bool, std::string> check_fresh_topics(const std::string& bootstrap,
                                             const kafka::Properties& settings) {
    auto config =
        kafka::make_config(kafka::with_settings({{"bootstrap.servers", bootstrap}}, settings));
    if (!config) {
        return unexpected(config.error());
    }
    auto handle = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(config).value());
    if (!handle) {
        return unexpected(handle.error());
    }
    auto metadata = kafka::wait_for_cluster(handle->get(), bootstrap, 30000);
    if (!metadata) {
        return unexpected(metadata.error());
    }
    const int partitions = kafka::partition_count(**metadata, "usage.events");
    if (partitions == 0) {
        return unexpected(
            std::string("usage.events does not exist: run `usage-ledger topics create` first"));
    }
    for (int partition = 0; partition < partitions; ++partition) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (rd_kafka_query_watermark_offsets(handle->get(), "usage.events", partition, &low, &high,
                                             10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return unexpected("cannot read the offsets of usage.events partition " +
                              std::to_string(partition));
        }
        if (high > 0) {
            return unexpected(
                std::string("usage.events already holds events: bench e2e needs fresh topics (e.g. "
                            "ops/kafka stop --dir D; rm -r D; ops/kafka start --nodes 3 --dir D; "
                            "usage-ledger topics create ...)"));
        }
    }
    return true;
}

int run_bench_e2e(const E2eArgs& args) {
    const std::string data_dir = args.data_dir.empty()
                                     ? (std::filesystem::temp_directory_path() /
                                        ("usage-ledger-bench-e2e-" + std::to_string(::getpid())))
                                           .string()
                                     : args.data_dir;
    std::filesystem::remove_all(data_dir);
    const bool external = !args.kafka.bootstrap.empty() || !args.kafka.bootstrap_file.empty();
    auto broker = external ? nullptr : start_embedded_broker(16);
    const std::string bootstrap =
        external ? resolve_bootstrap_or_throw(args.kafka) : broker->bootstrap();
    const auto kafka_settings = kafka_settings_or_throw(args.kafka);
    if (external) {
        if (auto fresh = check_fresh_topics(bootstrap, kafka_settings); !fresh) {
            spdlog::error("bench e2e: {}", fresh.error());
            return kExitFailure;
        }
    }
    LedgerServiceOptions ledger_options;
    ledger_options.bootstrap = bootstrap;
    ledger_options.kafka_settings = kafka_settings;
    ledger_options.data_dir = data_dir;
    ledger_options.assign_all = true;
    ledger_options.now_us = system_now_us;
    CommitWaiter commit_waiter;  // to time when the ledger committed each probe
    ledger_options.commit_waiter = &commit_waiter;
    auto ledger = LedgerService::start(ledger_options);
    if (!ledger) {
        spdlog::error("bench e2e: {}", ledger.error());
        return kExitFailure;
    }
    std::thread ledger_thread([&] { (void)(*ledger)->run(); });
    ProjectionServiceOptions projection_options;
    projection_options.bootstrap = bootstrap;
    projection_options.kafka_settings = kafka_settings;
    projection_options.data_dir = data_dir;
    projection_options.assign_all = true;
    projection_options.heal_from_ledger = true;  // as in `up`: ledger_lag from the ledger store
    projection_options.fresh_broker = !external;
    projection_options.group_by = group_by_of(default_plan_book());
    projection_options.plans = default_plan_book();
    auto projections = ProjectionService::start(projection_options);
    if (!projections) {
        spdlog::error("bench e2e: {}", projections.error());
        (*ledger)->request_stop();
        ledger_thread.join();
        return kExitFailure;
    }
    std::thread projection_thread([&] { (void)(*projections)->run(); });
    ApiArgs api_args;
    api_args.listen = "127.0.0.1:0";
    api_args.admin_keys = {"bench-admin"};
    api_args.requests_per_second = 1e9;
    api_args.burst = 1e9;
    IngestOptions ingest;
    ingest.bootstrap = bootstrap;
    ingest.kafka_settings = kafka_settings;
    auto api = start_api(api_args, default_plan_book(), **projections, nullptr, ingest);
    auto stop_all = [&] {
        if (api) {
            api->server->stop();
        }
        (*ledger)->request_stop();
        ledger_thread.join();
        (*projections)->request_stop();
        projection_thread.join();
    };
    if (!api) {
        spdlog::error("bench e2e: {}", api.error());
        stop_all();
        return kExitFailure;
    }

    // Measure a warm system: consumers assigned and caught up (GET /readyz says so).
    Poller poller(api->server->address());
    const auto ready_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (poller.get("/readyz", "").find("\"ready\":true") == std::string::npos &&
           std::chrono::steady_clock::now() < ready_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::uint64_t probes_total = static_cast<std::uint64_t>(args.seconds) * 1000 /
                                       static_cast<std::uint64_t>(args.probe_interval_ms);
    std::vector<std::chrono::steady_clock::time_point> probe_sent(probes_total);
    // When Kafka acknowledged each probe (the producer's part of the latency).
    std::vector<double> acked_ms(probes_total, -1);
    // When the ledger committed it (the ledger's part; the rest is relay + projection + API).
    std::vector<std::atomic<double>> committed_ms(probes_total);
    for (auto& value : committed_ms) {
        value.store(-1);
    }
    ProducerOptions producer_options;
    producer_options.bootstrap = bootstrap;
    producer_options.extra_config = kafka_settings;
    producer_options.linger_ms = args.linger_ms;
    producer_options.on_raw_delivery = [&](const DeliveryReport& report) {
        if (report.ok && report.token > 0 && report.token <= probes_total) {
            const std::size_t index = report.token - 1;
            acked_ms[index] = std::chrono::duration<double, std::milli>(
                                  std::chrono::steady_clock::now() - probe_sent[index])
                                  .count();
            commit_waiter.expect(static_cast<std::uint32_t>(report.partition), report.offset,
                                 [&, index](const CommitVerdict&) {
                                     committed_ms[index].store(
                                         std::chrono::duration<double, std::milli>(
                                             std::chrono::steady_clock::now() - probe_sent[index])
                                             .count());
                                 });
        }
    };
    auto producer = UsageProducer::create(producer_options);
    if (!producer) {
        spdlog::error("bench e2e: {}", producer.error());
        stop_all();
        return kExitFailure;
    }
    (void)(*producer)->wait_for_cluster();
    const std::uint64_t total =
        args.rate * static_cast<std::uint64_t>(args.seconds + args.warmup_seconds);
    std::atomic<std::uint64_t> probes_sent{0};
    std::atomic<std::uint64_t> sent{0};
    std::atomic<bool> load_done{false};
    spdlog::info("bench e2e: {} events/s for {} s over {} tenants, a probe every {} ms", args.rate,
                 args.seconds, args.tenants, args.probe_interval_ms);
    std::thread load([&] {
        const auto start = std::chrono::steady_clock::now();
        std::string line;
        std::uint64_t next_probe = 0;
        // Until the load and every probe are sent: under backpressure (a slow cluster) the load
        // lags its schedule, and the probes still go out on theirs.
        while (sent.load() < total || next_probe < probes_total) {
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            const auto due = std::min<std::uint64_t>(
                total, static_cast<std::uint64_t>(elapsed * static_cast<double>(args.rate)));
            const std::string now = format_rfc3339(system_now_us());
            while (sent.load() < due) {
                const std::uint64_t index = sent.load();
                const std::string tenant = "tenant-" + std::to_string(index % args.tenants);
                line = R"({"idempotency_key":"load-)" + std::to_string(index) +
                       R"(","tenant_id":")" + tenant +
                       R"(","subject":"user-42","meter":"tokens","quantity":1500,"timestamp":")" +
                       now + R"(","properties":{"model":"gpt-x"}})";
                if ((*producer)->produce_raw(tenant, line, 0)) {
                    sent.fetch_add(1);
                } else {
                    (*producer)->poll(1);
                }
            }
            while (next_probe < probes_total &&
                   elapsed * 1000 >=
                       1000.0 * args.warmup_seconds +
                           static_cast<double>(
                               next_probe * static_cast<std::uint64_t>(args.probe_interval_ms))) {
                line = R"({"idempotency_key":"probe-)" + std::to_string(next_probe) +
                       R"(","tenant_id":"bench-probe","meter":"probe","quantity":1,"timestamp":")" +
                       now + "\"}";
                probe_sent[next_probe] = std::chrono::steady_clock::now();
                while (!(*producer)->produce_raw("bench-probe", line, next_probe + 1)) {
                    (*producer)->poll(1);
                }
                ++next_probe;
                probes_sent.store(next_probe);
            }
            (*producer)->poll(0);
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        (void)(*producer)->flush(60'000);
        load_done.store(true);
    });

    std::vector<double> latencies_ms;
    std::uint64_t seen = 0;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::seconds(args.seconds + args.warmup_seconds + 120);
    while (seen < probes_total && std::chrono::steady_clock::now() < deadline) {
        const std::uint64_t count =
            probe_count(poller.get("/v1/tenants/bench-probe/usage?period=day", "bench-admin"));
        const auto now = std::chrono::steady_clock::now();
        for (; seen < std::min(count, probes_sent.load()); ++seen) {
            latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(now - probe_sent[seen]).count());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    load.join();
    // Everything sent must reach the ledger exactly once.
    const std::uint64_t expected = sent.load() + probes_total;
    const auto drained = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while ((*ledger)->metrics().accepted.load() < expected &&
           std::chrono::steady_clock::now() < drained) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    while ((*projections)->metrics().applied.load() < expected &&
           std::chrono::steady_clock::now() < drained) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::uint64_t accepted = (*ledger)->metrics().accepted.load();
    const std::uint64_t applied = (*projections)->metrics().applied.load();
    stop_all();
    std::filesystem::remove_all(data_dir);
    std::vector<double> acked;
    for (const double value : acked_ms) {
        if (value >= 0) {
            acked.push_back(value);
        }
    }
    std::vector<double> committed;
    for (const auto& value : committed_ms) {
        if (value.load() >= 0) {
            committed.push_back(value.load());
        }
    }
    std::printf(
        "{\"bench\":\"e2e\",\"rate\":%llu,\"seconds\":%d,\"warmup_seconds\":%d,"
        "\"linger_ms\":%d,\"sent\":%llu,\"probes\":%llu,"
        "\"probes_seen\":%llu,\"kafka_ack_ms_p50\":%.1f,\"kafka_ack_ms_p99\":%.1f,"
        "\"ledger_commit_ms_p50\":%.1f,\"ledger_commit_ms_p99\":%.1f,"
        "\"latency_ms_p50\":%.1f,\"latency_ms_p90\":%.1f,"
        "\"latency_ms_p99\":%.1f,\"latency_ms_max\":%.1f,\"ledger_accepted\":%llu,"
        "\"projection_applied\":%llu}\n",
        static_cast<unsigned long long>(args.rate), args.seconds, args.warmup_seconds,
        args.linger_ms, static_cast<unsigned long long>(sent.load()),
        static_cast<unsigned long long>(probes_total), static_cast<unsigned long long>(seen),
        percentile(acked, 0.5), percentile(acked, 0.99), percentile(committed, 0.5),
        percentile(committed, 0.99), percentile(latencies_ms, 0.5), percentile(latencies_ms, 0.9),
        percentile(latencies_ms, 0.99), percentile(latencies_ms, 1.0),
        static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(applied));
    if (seen < probes_total || accepted != expected || applied != expected) {
        spdlog::error(
            "bench e2e: {} of {} probes seen, ledger accepted {} and projection "
            "applied {} of {}",
            seen, probes_total, accepted, applied, expected);
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace

void add_bench_e2e(CLI::App& bench, CommandRunner& run) {
    auto projection_args = std::make_shared<ProjectionBenchOptions>();
    auto* projection = bench.add_subcommand(
        "projection",
        "The counters projection's apply path (entry → in-memory cell deltas → one WriteBatch\n"
        "per flush, as `project` does) on one thread, beside the raw RocksDB write rate of the\n"
        "same run. Kafka excluded.");
    projection->add_option("--entries", projection_args->entries, "Ledger entries to apply")
        ->check(CLI::Range(1ULL, 100'000'000ULL))
        ->capture_default_str();
    projection->add_option("--batch-size,--batch", projection_args->batch, "Entries per poll batch")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    add_flush_options(*projection, projection_args->flush);
    projection->add_option("--sync", projection_args->sync, "fsync every batch")
        ->capture_default_str();
    projection->add_option("--tenants", projection_args->tenants, "Distinct tenants")
        ->check(CLI::Range(1ULL, 10'000'000ULL))
        ->capture_default_str();
    projection
        ->add_option("--late-percent", projection_args->late_percent,
                     "Share of entries with event times anywhere in the last 30 days (the "
                     "rest: the last minute)")
        ->check(CLI::Range(0U, 100U))
        ->capture_default_str();
    projection->add_option("--seed", projection_args->seed, "Generator seed (default: random)");
    projection->callback([projection_args, &run] {
        run = [projection_args] {
            ProjectionBenchOptions options = *projection_args;
            options.progress = [](std::uint64_t done, std::uint64_t total) {
                spdlog::info("bench projection: {} of {} entries", done, total);
            };
            auto figures = run_projection_bench(options);
            if (!figures) {
                spdlog::error("bench projection: {}", figures.error());
                return kExitFailure;
            }
            std::printf("%s\n", projection_bench_json(*figures).c_str());
            spdlog::info(
                "bench projection: {:.0f} entries/s; raw RocksDB {:.0f} writes/s ({:.0f} "
                "entry-equivalents/s) in the same run",
                figures->entries_per_second, figures->raw_writes_per_second,
                figures->raw_entry_equivalent_per_second);
            return kExitOk;
        };
    });

    auto e2e_args = std::make_shared<E2eArgs>();
    auto* e2e = bench.add_subcommand(
        "e2e",
        "Freshness under load: broker, durable ledger, projection and API in this process;\n"
        "with --bootstrap a real cluster instead of the embedded broker (fresh topics made by\n"
        "`topics create`: the ledger reads usage.events from its start);\n"
        "--rate events/s for --seconds, and probe events whose latency from the producer to the\n"
        "usage API (HTTP) is measured. Prints p50/p90/p99/max; exit 1 if any event is lost.");
    e2e->add_option("--rate", e2e_args->rate, "Load in events per second")
        ->check(CLI::Range(1ULL, 10'000'000ULL))
        ->capture_default_str();
    e2e->add_option("--seconds", e2e_args->seconds, "Duration of the load")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    e2e->add_option("--tenants", e2e_args->tenants, "Tenants of the load")
        ->check(CLI::Range(1ULL, 10'000'000ULL))
        ->capture_default_str();
    e2e->add_option("--probe-interval-ms", e2e_args->probe_interval_ms, "Probe interval")
        ->check(CLI::Range(1, 10'000))
        ->capture_default_str();
    e2e->add_option("--warmup-seconds", e2e_args->warmup_seconds,
                    "Seconds of load before the first probe (the first use of each partition "
                    "after start is slower and is not what freshness is about)")
        ->check(CLI::Range(0, 600))
        ->capture_default_str();
    e2e->add_option("--linger-ms", e2e_args->linger_ms,
                    "The load generator's linger.ms (UsageProducer's default; larger means fewer, "
                    "larger message sets)")
        ->check(CLI::Range(0, 1000))
        ->capture_default_str();
    e2e->add_option("--data-dir", e2e_args->data_dir,
                    "State directory (default: a temporary one, removed afterwards)");
    add_kafka_options(*e2e, e2e_args->kafka);  // none: the embedded broker, 16 partitions
    e2e->callback([e2e_args, &run] { run = [e2e_args] { return run_bench_e2e(*e2e_args); }; });
}

}  // namespace ul::ops
