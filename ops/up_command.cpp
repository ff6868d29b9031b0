// `usage-ledger up`: the whole system on one machine, on the embedded broker. For now: the
// embedded broker; the ledger, projections and query API join it as their issues land.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>

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
    std::error_code ignored;
    const std::string binary = std::filesystem::read_symlink("/proc/self/exe", ignored).string();
    std::printf(
        "usage-ledger is up.\n"
        "  embedded Kafka: %s (bootstrap written to %s)\n"
        "  send events:    %s emit --bootstrap-file %s --tenant acme --meter tokens "
        "--quantity 1500\n"
        "  or a file:      %s emit --bootstrap-file %s --file events.jsonl\n"
        "Stop with Ctrl-C.\n",
        broker->bootstrap().c_str(), bootstrap_file.c_str(), binary.c_str(), bootstrap_file.c_str(),
        binary.c_str(), bootstrap_file.c_str());
    std::fflush(stdout);
    spdlog::warn(
        "up: the ledger consumer is not part of this build yet; the embedded broker keeps at "
        "most ~5 MiB per partition in memory");
    int taken = 0;
    while (taken == 0) {
        taken = wait_for_termination_signal(std::chrono::seconds(1));
    }
    spdlog::info("up: signal {} taken, stopping", taken);
    std::filesystem::remove(bootstrap_file, ignored);
    return kExitOk;
}

}  // namespace

void add_up_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<UpArgs>();
    auto* command = app.add_subcommand(
        "up",
        "Run the whole system on one machine on the embedded broker until Ctrl-C, and print how\n"
        "to send it events. (This build: the embedded broker; the ledger, projections and\n"
        "dashboard arrive with their issues.)");
    command->add_option("--data-dir", args->data_dir, "Directory for state and the bootstrap file")
        ->capture_default_str();
    command->add_option("--partitions", args->partitions, "Partitions per topic")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    command->callback([args, &run] { run = [args] { return run_up(*args); }; });
}

}  // namespace ul::ops
