// `usage-ledger up`: the whole system on one machine, on the embedded broker: the broker and the
// ledger consumer; projections and the query API join them with their issue.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "ledger/ledger_service.h"
#include "ops/cli.h"
#include "ops/embedded.h"
#include "ops/signals.h"

namespace ul::ops {
namespace {

struct UpArgs {
    std::string data_dir = "data";
    int partitions = 16;
};

int run_up(const UpArgs& args) {
    block_termination_signals();
    std::filesystem::create_directories(args.data_dir);
    auto broker = start_embedded_broker(args.partitions);
    const std::string bootstrap_file =
        (std::filesystem::path(args.data_dir) / "bootstrap").string();
    write_bootstrap_file(bootstrap_file, broker->bootstrap());
    LedgerServiceOptions ledger_options;
    ledger_options.bootstrap = broker->bootstrap();
    ledger_options.data_dir = args.data_dir;
    ledger_options.assign_all = true;  // one machine, one ledger: no group session to wait out
    ledger_options.now_us = system_now_us;
    auto ledger = LedgerService::start(ledger_options);
    if (!ledger) {
        spdlog::error("up: {}", ledger.error());
        return kExitFailure;
    }
    Result<bool, std::string> ledger_result = true;
    std::thread ledger_thread([&] { ledger_result = (*ledger)->run(); });

    std::error_code ignored;
    const std::string binary = std::filesystem::read_symlink("/proc/self/exe", ignored).string();
    std::printf(
        "usage-ledger is up.\n"
        "  embedded Kafka: %s (bootstrap written to %s)\n"
        "  ledger:         %s/ledger (RocksDB), consuming usage.events\n"
        "  send events:    %s emit --bootstrap-file %s --tenant acme --meter tokens "
        "--quantity 1500\n"
        "  or a file:      %s emit --bootstrap-file %s --file events.jsonl\n"
        "  see the counts: %s stats --data-dir %s\n"
        "Stop with Ctrl-C.\n",
        broker->bootstrap().c_str(), bootstrap_file.c_str(), args.data_dir.c_str(), binary.c_str(),
        bootstrap_file.c_str(), binary.c_str(), bootstrap_file.c_str(), binary.c_str(),
        args.data_dir.c_str());
    std::fflush(stdout);
    spdlog::info(
        "up: the embedded broker keeps at most ~5 MiB per partition in memory; the ledger "
        "drains it continuously into RocksDB");
    int taken = 0;
    while (taken == 0) {
        taken = wait_for_termination_signal(std::chrono::seconds(1));
    }
    spdlog::info("up: signal {} taken, stopping", taken);
    (*ledger)->request_stop();
    ledger_thread.join();
    if (!ledger_result) {
        spdlog::error("up: ledger: {}", ledger_result.error());
    }
    std::filesystem::remove(bootstrap_file, ignored);
    return kExitOk;
}

}  // namespace

void add_up_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<UpArgs>();
    auto* command = app.add_subcommand(
        "up",
        "Run the whole system on one machine until Ctrl-C: the embedded broker and the ledger\n"
        "(state in --data-dir), and print how to send it events. (Projections, query API and\n"
        "dashboard arrive with their issue.)");
    command->add_option("--data-dir", args->data_dir, "Directory for state and the bootstrap file")
        ->capture_default_str();
    command->add_option("--partitions", args->partitions, "Partitions per topic")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    command->callback([args, &run] { run = [args] { return run_up(*args); }; });
}

}  // namespace ul::ops
