// `usage-ledger billing reconcile`: compares, per billing cell, the projection's usage, the billing
// reporter's totals and Stripe's meter event summaries (projections/billing/billing_reconcile.h).
// Both stores are read as RocksDB secondaries: it works beside a running `up` or `project`. It
// only reads Stripe (GET); it never sends a meter event. The secret key is never printed.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/cli.h"
#include "projections/alerts/alerts_reducer.h"
#include "projections/billing/billing_reconcile.h"
#include "projections/counters/cells.h"
#include "projections/runner/projection_store.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct BillingReconcileArgs {
    std::string data_dir = "data";
    std::string tenant;
    std::string period;
    std::string stripe_api_base;
    std::string stripe_secret_key_file;
    std::string grace = "1h";
    std::uint32_t stripe_timeout_ms = 10'000;
    bool strict = false;
    bool json = false;
};

// Every billing cell of <data-dir>/projections (key → usage), read as a secondary.
std::vector<std::pair<BillingCellKey, DecimalSum>> read_projection_cells(const std::string& path) {
    if (!std::filesystem::exists(path + "/CURRENT")) {
        throw UsageError("no projection store at " + path + " (is --data-dir right?)");
    }
    ProjectionStoreOptions options;
    options.families = AlertsReducer::schema();
    options.path = path;
    auto store = ProjectionStore::open(options, ProjectionOpenMode::secondary);
    if (!store) {
        throw UsageError("the projection store: " + store.error());
    }
    std::vector<std::pair<BillingCellKey, DecimalSum>> cells;
    std::string failure;
    auto visited = (*store)->for_each_state(
        AlertsReducer::kBillingFamily, "", "", [&](std::string_view key, std::string_view value) {
            auto decoded_key = decode_billing_key(key);
            auto cell = decode_cell(value);
            if (!decoded_key || !cell) {
                failure = "a damaged billing cell in " + path;
                return false;
            }
            cells.emplace_back(std::move(*decoded_key), cell->sum);
            return true;
        });
    if (!visited) {
        throw UsageError("the projection store: " + visited.error());
    }
    if (!failure.empty()) {
        throw UsageError(failure);
    }
    return cells;
}

std::vector<std::pair<BillingCellKey, BillingTotals>> read_billing_totals(const std::string& path) {
    if (!std::filesystem::exists(path + "/CURRENT")) {
        return {};  // no reporter ever ran here: nothing decided
    }
    auto totals = BillingReporter::read_store_totals(path);
    if (!totals) {
        throw UsageError("the billing store: " + totals.error());
    }
    return std::move(totals).value();
}

BillingReconcileOptions reconcile_options(const BillingReconcileArgs& args) {
    BillingReconcileOptions options;
    options.now_s = system_now_us() / 1'000'000;
    options.strict = args.strict;
    options.tenant = args.tenant;
    auto grace = parse_duration(args.grace);
    if (!grace) {
        throw UsageError("--grace: " + grace.error());
    }
    options.grace_s = *grace / 1'000'000;
    if (!args.period.empty()) {
        auto instant = parse_rfc3339(args.period);
        if (!instant) {
            throw UsageError("--period: " + instant.error());
        }
        options.period_us = *instant;
    }
    return options;
}

StripeConfig stripe_config(const BillingReconcileArgs& args) {
    auto key = load_stripe_secret_key(args.stripe_secret_key_file);
    if (!key) {
        throw UsageError(key.error());
    }
    StripeConfig config;
    config.api_base = args.stripe_api_base;
    while (!config.api_base.empty() && config.api_base.back() == '/') {
        config.api_base.pop_back();
    }
    config.secret_key = std::move(key).value();
    config.timeout = std::chrono::milliseconds(args.stripe_timeout_ms);
    return config;
}

void print_text(const BillingReconcileReport& report) {
    std::string out = "billing reconcile: " + std::to_string(report.cells) + " cells, " +
                      std::to_string(report.differences.size()) + " differences, " +
                      std::to_string(report.pending.size()) + " pending\n";
    for (const auto& difference : report.differences) {
        out += describe(difference) + "\n";
    }
    for (const auto& pending : report.pending) {
        out += "info: " + describe(pending) + "\n";
    }
    std::fputs(out.c_str(), stdout);
}

int run_billing_reconcile(const BillingReconcileArgs& args) {
    const BillingReconcileOptions options = reconcile_options(args);
    StripeClient client(stripe_config(args));
    const auto cells = join_billing_cells(read_projection_cells(args.data_dir + "/projections"),
                                          read_billing_totals(args.data_dir + "/billing"));
    auto stripe = read_stripe_view(client, cells, options);
    if (!stripe) {
        throw UsageError(stripe.error());
    }
    const auto report = reconcile_billing(cells, stripe->totals, stripe->meters, options);
    if (args.json) {
        std::fputs((billing_reconcile_json(report) + "\n").c_str(), stdout);
    } else {
        print_text(report);
    }
    return report.differences.empty() ? kExitOk : kExitFailure;
}

}  // namespace

void add_billing_command(CLI::App& app, CommandRunner& run) {
    auto* billing = app.add_subcommand("billing", "Stripe billing tools (reconcile)");
    billing->require_subcommand(1);
    auto args = std::make_shared<BillingReconcileArgs>();
    auto* command = billing->add_subcommand(
        "reconcile",
        "Compare, per billing cell, the units our counters give (floor(usage/unit)), the units "
        "the\n"
        "billing reporter decided and sent (<data-dir>/billing), and Stripe's meter event\n"
        "summaries for the cell's period (cells sharing customer, event name and period summed).\n"
        "Prints a header line with counts, then one line per difference: Stripe's total != our\n"
        "sent units; counted units != decided units; failed or unreportable units; an event name\n"
        "with no Stripe meter. Units not yet decided while the period is open or in its grace are\n"
        "listed as 'info: pending N', not differences (unless --strict). Reads both stores as\n"
        "secondaries (works beside a running `up`); only reads from Stripe. Exit 0: no\n"
        "difference; 1: differences; 2: a usage or runtime error (one line).");
    command->add_option("--data-dir", args->data_dir, "Data dir with projections/ and billing/")
        ->capture_default_str();
    command->add_option("--tenant", args->tenant, "Only this tenant's cells");
    command->add_option("--period", args->period,
                        "Only the cells whose billing period holds this RFC 3339 instant "
                        "(e.g. its start, 2025-03-01T00:00:00Z)");
    command
        ->add_option("--stripe-api-base", args->stripe_api_base,
                     "Stripe's API (https://api.stripe.com; http://127.0.0.1:N for a fake)")
        ->required();
    command->add_option("--stripe-secret-key-file", args->stripe_secret_key_file,
                        "File holding the Stripe secret key (else $STRIPE_SECRET_KEY); never "
                        "printed");
    command->add_option("--stripe-timeout-ms", args->stripe_timeout_ms, "One Stripe request")
        ->capture_default_str();
    command
        ->add_option("--grace", args->grace,
                     "The reporter's grace after a period closes (`up --billing-grace`)")
        ->capture_default_str();
    command->add_flag("--strict", args->strict, "Count pending units as differences");
    command->add_flag(
        "--json", args->json,
        "Print one JSON object {\"cells\":N,\"differences\":[...],\"pending\":[...]}");
    command->callback([args, &run] { run = [args] { return run_billing_reconcile(*args); }; });
}

}  // namespace ul::ops
