// `usage-ledger broker`: the embedded Kafka (librdkafka's mock cluster, the real protocol on
// loopback) in the foreground until SIGINT/SIGTERM. It keeps data in memory only: a buffer for a
// laptop, tests and CI, never a store.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "consumers/embedded_broker.h"
#include "ops/cli.h"
#include "ops/embedded.h"
#include "ops/signals.h"

namespace ul::ops {

void write_bootstrap_file(const std::string& path, const std::string& bootstrap) {
    const std::filesystem::path target(path);
    if (target.has_parent_path()) {
        std::filesystem::create_directories(target.parent_path());
    }
    const std::filesystem::path temporary = target.string() + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << bootstrap << '\n';
        if (!out.flush()) {
            throw std::runtime_error("cannot write " + temporary.string());
        }
    }
    std::filesystem::rename(temporary, target);  // readers never see a half-written file
}

std::unique_ptr<kafka::EmbeddedBroker> start_embedded_broker(int partitions) {
    kafka::EmbeddedBroker::Options options;
    for (auto& topic : options.topics) {
        topic.partitions = partitions;
    }
    auto started = kafka::EmbeddedBroker::start(options);
    if (!started) {
        throw std::runtime_error("cannot start the embedded broker: " + started.error());
    }
    return std::move(started).value();
}

namespace {

struct BrokerArgs {
    std::string bootstrap_file = "data/bootstrap";
    int partitions = 16;
    int rtt_ms = 0;
};

int run_broker(const BrokerArgs& args) {
    block_termination_signals();
    auto broker = start_embedded_broker(args.partitions);
    if (args.rtt_ms > 0) {
        if (const auto error =
                rd_kafka_mock_broker_set_rtt(broker->mock_cluster(), -1, args.rtt_ms);
            error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            spdlog::error("broker: cannot set the round-trip time: {}", rd_kafka_err2str(error));
            return kExitFailure;
        }
        spdlog::info("broker: every answer delayed by {} ms (--rtt-ms)", args.rtt_ms);
    }
    write_bootstrap_file(args.bootstrap_file, broker->bootstrap());
    spdlog::info("broker: embedded Kafka (librdkafka mock cluster) listening on {}",
                 broker->bootstrap());
    spdlog::info("broker: bootstrap address written to {}; topics have {} partitions",
                 args.bootstrap_file, args.partitions);
    spdlog::warn(
        "broker: the embedded broker keeps messages in memory only (at most ~5 MiB per "
        "partition, older ones dropped): run the ledger beside it; it is a buffer, not a store");
    std::printf("%s\n", broker->bootstrap().c_str());
    std::fflush(stdout);
    int taken = 0;
    while (taken == 0) {
        taken = wait_for_termination_signal(std::chrono::seconds(1));
    }
    spdlog::info("broker: signal {} taken, stopping", taken);
    std::error_code ignored;
    std::filesystem::remove(args.bootstrap_file, ignored);
    broker.reset();
    return kExitOk;
}

}  // namespace

void add_broker_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<BrokerArgs>();
    auto* command = app.add_subcommand(
        "broker",
        "Run the embedded Kafka (librdkafka's mock cluster: the real Kafka protocol on loopback)\n"
        "in the foreground until SIGINT/SIGTERM. Creates usage.events, usage.events.dlq,\n"
        "usage.ledger, usage.alerts and usage.accounts, prints the bootstrap address and writes\n"
        "it to --bootstrap-file. Data is kept in memory only: a buffer, not a store.");
    command
        ->add_option("--bootstrap-file", args->bootstrap_file,
                     "Where to write the bootstrap address (removed on clean exit)")
        ->capture_default_str();
    command->add_option("--partitions", args->partitions, "Partitions per topic")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    command
        ->add_option("--rtt-ms", args->rtt_ms,
                     "Delay every answer by this many ms, as a slow network would (to try "
                     "clients and crash recovery with requests in flight)")
        ->check(CLI::Range(0, 60'000))
        ->capture_default_str();
    command->callback([args, &run] { run = [args] { return run_broker(*args); }; });
}

}  // namespace ul::ops
