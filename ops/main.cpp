// usage-ledger: one binary, one subcommand per capability (DESIGN.md, "Command line").
// Exit status: 0 success, 1 failure, 2 bad usage. Bad usage prints one line, never a trace.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/cli.h"
#include "ops/ledger_commands.h"
#include "ops/logging.h"
#include "ops/project_commands.h"

namespace {

// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) {
        d[i][0] = i;
    }
    for (std::size_t j = 0; j <= b.size(); ++j) {
        d[0][j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t substitute = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitute});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

// The first word of the command line that is not a global option or its value: the command.
std::optional<std::string> command_word(int argc, char** argv) {
    for (int index = 1; index < argc; ++index) {
        const std::string_view word = argv[index];
        if (word == "--") {
            return std::nullopt;
        }
        if (word == "--log-format" || word == "--log-level") {
            ++index;  // its value
            continue;
        }
        if (!word.starts_with('-')) {
            return std::string(word);
        }
    }
    return std::nullopt;
}

// "unknown command 'upp'; did you mean 'up'?" when `word` names no subcommand of `app`.
std::optional<std::string> unknown_command_message(const CLI::App& app, const std::string& word) {
    const auto commands = app.get_subcommands([](const CLI::App*) { return true; });
    std::string closest;
    std::size_t closest_distance = 3;  // a near miss: at most 2 edits
    for (const CLI::App* command : commands) {
        if (command->check_name(word)) {
            return std::nullopt;
        }
        const std::size_t distance = edit_distance(word, command->get_name());
        if (distance < closest_distance && distance < command->get_name().size()) {
            closest = command->get_name();
            closest_distance = distance;
        }
    }
    std::string message = "unknown command '" + word + "'";
    if (!closest.empty()) {
        message += "; did you mean '" + closest + "'?";
    }
    return message;
}

// "usage-ledger emit" or "usage-ledger account set": the deepest subcommand the parser reached.
std::string command_path(const CLI::App& app) {
    std::string path = "usage-ledger";
    const CLI::App* current = &app;
    while (!current->get_subcommands().empty()) {
        current = current->get_subcommands().back();
        path += " " + current->get_name();
    }
    return path;
}

}  // namespace

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
    add_billing_command(app, run);
    add_topics_command(app, run);
    add_dlq_command(app, run);
    add_bench_command(app, run);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        if (error.get_exit_code() == 0) {  // --help, --help-all, --version: print to stdout
            return app.exit(error);
        }
        if (app.get_subcommands().empty()) {
            if (const auto word = command_word(argc, argv)) {
                if (const auto unknown = unknown_command_message(app, *word)) {
                    std::fprintf(stderr, "usage-ledger: %s (see usage-ledger --help)\n",
                                 unknown->c_str());
                    return kExitUsage;
                }
            }
        }
        std::fprintf(stderr, "usage-ledger: %s (see %s --help)\n", error.what(),
                     command_path(app).c_str());
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
