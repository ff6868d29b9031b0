// usage-ledger: one binary, one subcommand per capability (DESIGN.md, "Command line").
// Exit status: 0 success, 1 failure, 2 bad usage. Bad usage prints one line, never a trace.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "ops/cli.h"
#include "ops/ledger_commands.h"
#include "ops/logging.h"
#include "ops/project_commands.h"

int main(int argc, char** argv) {
    using namespace ul::ops;
    CLI::App app{
        "usage-ledger: an event-sourced usage-metering ledger (Kafka + RocksDB).\n"
        "Every event is recorded exactly once; counters, alerts and billing derive from it.",
        "usage-ledger"};
    app.require_subcommand(1);
    app.fallthrough();
    app.set_version_flag("--version", "usage-ledger 0.1.0");
    LogOptions log_options;
    app.add_option("--log-format", log_options.format, "Log format on stderr")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    app.add_option("--log-level", log_options.level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->capture_default_str();

    CommandRunner run;
    add_up_command(app, run);
    add_broker_command(app, run);
    add_emit_command(app, run);
    add_ledger_commands(app, run);
    add_project_commands(app, run);  // after the ledger's: adds `export counters`
    add_account_command(app, run);
    add_replay_command(app, run);
    add_reconcile_command(app, run);
    add_bench_command(app, run);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        if (error.get_exit_code() == 0) {  // --help, --help-all, --version: print to stdout
            return app.exit(error);
        }
        std::fprintf(stderr, "usage-ledger: %s (see usage-ledger --help)\n", error.what());
        return kExitUsage;
    }

    try {
        configure_logging(log_options);
        return run ? run() : kExitUsage;
    } catch (const UsageError& error) {
        std::fprintf(stderr, "usage-ledger: %s\n", error.what());
        return kExitUsage;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "usage-ledger: error: %s\n", error.what());
        return kExitFailure;
    }
}
