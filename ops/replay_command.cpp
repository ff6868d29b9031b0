// `usage-ledger replay`: rebuilds the counters projection from the ledger store into a fresh
// directory, and with --verify compares it, cell by cell, with a live projection store up to
// that store's watermarks. Both stores are read as RocksDB secondaries: it works beside a
// running `up`, `ledger` or `project`. Replay performs no effect (it sends nothing).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "ops/cli.h"
#include "ops/project_commands.h"
#include "projections/alerts/alerts_reducer.h"
#include "projections/counters/reconcile.h"
#include "projections/counters/replay.h"
#include "schemas/account.h"
#include "schemas/canonical.h"

namespace ul::ops {
namespace {

struct ReplayArgs {
    std::string ledger_dir = "data";
    std::string out_dir;
    std::string projection = "counters";
    std::string verify_dir;
    std::string accounts_from;
    std::string config;
};

std::unique_ptr<ProjectionStore> open_live(const std::string& data_dir) {
    ProjectionStoreOptions options;
    options.families = AlertsReducer::schema();
    options.path = data_dir + "/projections";
    auto store = ProjectionStore::open(options, ProjectionOpenMode::secondary);
    if (!store) {
        throw UsageError(store.error() + " (is " + data_dir + " a data dir with projections/?)");
    }
    return std::move(store).value();
}

int run_replay(const ReplayArgs& args) {
    const PlanBook plans = load_plan_book_or_throw(args.config);
    ReplayOptions options;
    options.ledger_path = args.ledger_dir + "/ledger";
    if (!std::filesystem::exists(options.ledger_path)) {
        throw UsageError("no ledger store at " + options.ledger_path + " (is --ledger-dir right?)");
    }
    options.out_path = args.out_dir + "/projections";
    options.group_by = group_by_of(plans);
    options.plans = plans;
    // Accounts (their calendars place the months): from the live store being verified, else
    // --accounts-from, else the projection store beside the ledger when there is one.
    std::string accounts_dir = !args.verify_dir.empty() ? args.verify_dir : args.accounts_from;
    if (accounts_dir.empty() && std::filesystem::exists(args.ledger_dir + "/projections")) {
        accounts_dir = args.ledger_dir;
    }
    std::unique_ptr<ProjectionStore> live;
    if (!args.verify_dir.empty()) {
        live = open_live(args.verify_dir);
        options.up_to.emplace();
        for (const auto& [partition, state] : live->partitions()) {
            (*options.up_to)[partition] = state.next_sequence;
        }
    }
    if (!accounts_dir.empty()) {
        std::unique_ptr<ProjectionStore> other;
        if (!live || accounts_dir != args.verify_dir) {
            other = open_live(accounts_dir);
        }
        const ProjectionStore& source = other ? *other : *live;
        auto accounts = source.accounts();
        auto versions = source.account_versions();
        if (!accounts || !versions) {
            spdlog::error("replay: {}", !accounts ? accounts.error() : versions.error());
            return kExitFailure;
        }
        options.accounts = std::move(accounts).value();
        options.account_versions = std::move(versions).value();
    } else {
        spdlog::warn(
            "replay: no projection store to take accounts from: every month is a "
            "calendar month in UTC (give --accounts-from)");
    }
    options.progress = [](const ReplayProgress& progress) {
        const double rate = progress.seconds > 0 ? progress.entries_done / progress.seconds : 0;
        const double left = rate > 0 ? (progress.entries_total - progress.entries_done) / rate : 0;
        spdlog::info("replay: {} of {} entries ({:.0f}/s), about {:.0f} s left",
                     progress.entries_done, progress.entries_total, rate, left);
    };
    spdlog::info("replay: {} → {}{}", options.ledger_path, options.out_path,
                 live ? " (up to the live store's watermarks, then compared)" : "");
    auto report = replay(options);
    if (!report) {
        spdlog::error("replay: {}", report.error());
        return kExitFailure;
    }
    spdlog::info("replay: {} entries in {:.2f} s ({:.0f}/s), {} writes", report->entries,
                 report->seconds, report->seconds > 0 ? report->entries / report->seconds : 0,
                 report->writes);
    std::string out = "{\"entries\":" + std::to_string(report->entries) + ",\"positions\":{";
    bool first = true;
    for (const auto& [partition, next] : report->positions) {
        out += (first ? "\"" : ",\"") + std::to_string(partition) + "\":" + std::to_string(next);
        first = false;
    }
    out += "}";
    int status = kExitOk;
    if (live) {
        ProjectionStoreOptions rebuilt_options;
        rebuilt_options.families = AlertsReducer::schema();
        rebuilt_options.path = options.out_path;
        auto rebuilt = ProjectionStore::open(rebuilt_options, ProjectionOpenMode::secondary);
        if (!rebuilt) {
            spdlog::error("replay: {}", rebuilt.error());
            return kExitFailure;
        }
        auto comparison = compare_stores(*live, **rebuilt);
        if (!comparison) {
            spdlog::error("replay: {}", comparison.error());
            return kExitFailure;
        }
        out += ",\"verify\":{\"cells_compared\":" + std::to_string(comparison->cells_compared) +
               ",\"differences\":" + std::to_string(comparison->total) + ",\"cells\":[";
        for (std::size_t index = 0; index < comparison->differences.size(); ++index) {
            const std::string line = describe(comparison->differences[index]);
            spdlog::error("replay: differs: {}", line);
            if (index > 0) {
                out += ",";
            }
            append_json_string(out, line);
        }
        out += "],\"rows_compared\":" + std::to_string(comparison->rows_compared) + ",\"rows\":[";
        for (std::size_t index = 0; index < comparison->row_differences.size(); ++index) {
            spdlog::error("replay: differs: {}", comparison->row_differences[index]);
            out += index > 0 ? "," : "";
            append_json_string(out, comparison->row_differences[index]);
        }
        out += "]}";
        if (comparison->total > 0) {
            spdlog::error("replay: {} cells differ between {} and the rebuilt store",
                          comparison->total, args.verify_dir);
            status = kExitFailure;
        } else {
            spdlog::info("replay: the live store equals the rebuilt one ({} cells)",
                         comparison->cells_compared);
        }
    }
    out += "}\n";
    std::fputs(out.c_str(), stdout);
    return status;
}

struct ReconcileArgs {
    std::string data_dir = "data";
    std::string tenant;
    bool fix = false;
    std::string config;
};

int run_reconcile(const ReconcileArgs& args) {
    const PlanBook plans = load_plan_book_or_throw(args.config);
    const std::string ledger_path = args.data_dir + "/ledger";
    const std::string store_path = args.data_dir + "/projections";
    if (!std::filesystem::exists(ledger_path + "/CURRENT")) {
        throw UsageError("no ledger store at " + ledger_path + " (is --data-dir right?)");
    }
    if (!std::filesystem::exists(store_path + "/CURRENT")) {
        throw UsageError("no projection store at " + store_path + " (is --data-dir right?)");
    }
    ProjectionStoreOptions store_options;
    store_options.families = AlertsReducer::schema();
    store_options.path = store_path;
    auto store = ProjectionStore::open(store_options, ProjectionOpenMode::read_write);
    if (!store) {
        if (store.error().find("lock") != std::string::npos) {
            throw UsageError(
                "a running projection holds " + store_path +
                ": reconcile through it (it repairs while it runs): curl -X POST -H "
                "'Authorization: Bearer <admin key>' -d '{\"tenant_id\":\"" +
                args.tenant + "\",\"fix\":" + (args.fix ? "true" : "false") +
                "}' http://<its address>/v1/admin/reconcile, then GET the job it names");
        }
        spdlog::error("reconcile: {}", store.error());
        return kExitFailure;
    }
    LedgerStoreOptions ledger_options;
    ledger_options.path = ledger_path;
    auto ledger = LedgerStore::open(ledger_options, OpenMode::secondary);
    if (!ledger) {
        spdlog::error("reconcile: the ledger store: {}", ledger.error());
        return kExitFailure;
    }
    ReconcileOptions options;
    options.tenant = args.tenant;
    options.group_by = group_by_of(plans);
    auto history = (*store)->account_history();
    if (!history) {
        spdlog::error("reconcile: {}", history.error());
        return kExitFailure;
    }
    options.accounts = std::move(history).value();
    options.progress = [](const ReplayProgress& progress) {
        spdlog::info("reconcile: {} of {} ledger entries read", progress.entries_done,
                     progress.entries_total);
    };
    TenantRebuild rebuild(std::move(options));
    auto report = compare_tenant(**ledger, **store, (*store)->snapshot(), rebuild);
    if (!report) {
        spdlog::error("reconcile: {}", report.error());
        return kExitFailure;
    }
    for (const auto& difference : report->comparison.differences) {
        spdlog::warn("reconcile: drift: {}", describe(difference));
    }
    if (args.fix && report->comparison.total > 0) {
        // Nothing else writes this store (the lock above): the rebuild is at its watermarks.
        if (auto repaired = repair_tenant(**ledger, **store, rebuild, *report); !repaired) {
            spdlog::error("reconcile: {}", repaired.error());
            return kExitFailure;
        }
    }
    spdlog::info(
        "reconcile: tenant {}: {} of {} ledger entries are its; {} cells compared, {} "
        "differ{}",
        args.tenant, report->tenant_entries, report->entries_read,
        report->comparison.cells_compared, report->comparison.total,
        report->repaired ? ", repaired" : "");
    std::fputs((reconcile_json(*report) + "\n").c_str(), stdout);
    return report->comparison.total == 0 || report->repaired ? kExitOk : kExitFailure;
}

}  // namespace

void add_replay_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<ReplayArgs>();
    auto* command = app.add_subcommand(
        "replay",
        "Rebuild the counters projection from the ledger store into a fresh --out directory\n"
        "(<out>/projections; `export counters --data-dir <out>` reads it). With --verify, stop\n"
        "at a live projection store's watermarks and compare every cell: each difference is\n"
        "printed, exit 1 when any. Performs no effect. Works beside running processes.");
    command->add_option("--ledger-dir", args->ledger_dir, "Data dir holding the ledger store")
        ->capture_default_str();
    command->add_option("--out", args->out_dir, "New data dir for the rebuilt store (empty)")
        ->required();
    command->add_option("--projection", args->projection, "Which projection to rebuild")
        ->check(CLI::IsMember({"counters", "all"}))
        ->capture_default_str();
    command->add_option("--verify", args->verify_dir,
                        "Data dir of a live projection store to compare with");
    command->add_option("--accounts-from", args->accounts_from,
                        "Data dir of a projection store whose accounts place billing months "
                        "(default: the --verify store, else the one beside the ledger)");
    command->add_option("--config", args->config, "Plans file (its group_by breakdowns)")
        ->check(CLI::ExistingFile);
    command->callback([args, &run] { run = [args] { return run_replay(*args); }; });
}

void add_reconcile_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<ReconcileArgs>();
    auto* command = app.add_subcommand(
        "reconcile",
        "Recompute one tenant's counters from the ledger store and compare them, cell by cell,\n"
        "with the projection store of --data-dir; with --fix, replace the cells that differ in\n"
        "one atomic write. Prints the report (JSON); exit 1 when cells differ and are not\n"
        "repaired. Needs the projection stopped: a running one reconciles over HTTP\n"
        "(POST /v1/admin/reconcile).");
    command->add_option("--data-dir", args->data_dir, "Data dir with ledger/ and projections/")
        ->capture_default_str();
    command->add_option("--tenant", args->tenant, "The tenant to reconcile")->required();
    command->add_flag("--fix", args->fix, "Replace every differing cell with the rebuilt value");
    command->add_option("--config", args->config, "Plans file (its group_by breakdowns)")
        ->check(CLI::ExistingFile);
    command->callback([args, &run] { run = [args] { return run_reconcile(*args); }; });
}

}  // namespace ul::ops
