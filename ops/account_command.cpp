// `usage-ledger account set`: publishes one account (tenant → plan, billing anchor, time zone,
// API key hash, Stripe customer) to the compacted usage.accounts topic, after checking it the
// way the projections will read it (plan known, zone known, anchor 1..31).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "ops/cli.h"
#include "ops/project_commands.h"
#include "producers/usage_producer.h"
#include "projections/api_keys.h"
#include "projections/windows.h"
#include "schemas/account.h"

namespace ul::ops {
namespace {

struct AccountArgs {
    KafkaOptions kafka;
    std::string topic = "usage.accounts";
    std::string config;
    Account account;
    std::string api_key;
};

int run_account_set(AccountArgs args) {
    const PlanBook plans = load_plan_book_or_throw(args.config);
    if (plans.find(args.account.plan) == nullptr) {
        std::string known;
        for (const auto& plan : plans.plans) {
            known += (known.empty() ? "" : ", ") + plan.id;
        }
        throw UsageError("--plan " + args.account.plan + " is not in the plans file (" + known +
                         ")");
    }
    if (auto calendar =
            make_billing_calendar(args.account.billing_anchor_day, args.account.time_zone);
        !calendar) {
        throw UsageError(calendar.error());
    }
    if (!args.api_key.empty()) {
        if (!args.account.api_key_sha256.empty()) {
            throw UsageError("give --api-key or --api-key-sha256, not both");
        }
        args.account.api_key_sha256 = sha256_hex(args.api_key);
    }
    args.account.updated_at_us = system_now_us();
    const std::string json = account_json(args.account);
    if (auto checked = parse_account(json); !checked) {
        throw UsageError(checked.error());
    }

    ProducerOptions options;
    options.bootstrap = resolve_bootstrap_or_throw(args.kafka);
    options.topic = args.topic;
    bool delivered = false;
    std::string failure;
    options.on_raw_delivery = [&](const DeliveryReport& report) {
        delivered = report.ok;
        failure = report.error;
    };
    auto producer = UsageProducer::create(options);
    if (!producer) {
        spdlog::error("account: {}", producer.error());
        return kExitFailure;
    }
    if (auto reachable = (*producer)->wait_for_cluster(); !reachable) {
        spdlog::error("account: {}", reachable.error());
        return kExitFailure;
    }
    if (auto queued = (*producer)->produce_raw(args.account.tenant_id, json, 1); !queued) {
        spdlog::error("account: {}", queued.error().detail);
        return kExitFailure;
    }
    (void)(*producer)->flush(30'000);
    if (!delivered) {
        spdlog::error("account: not delivered to {}: {}", args.topic, failure);
        return kExitFailure;
    }
    std::printf("%s\n", json.c_str());
    return kExitOk;
}

}  // namespace

void add_account_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<AccountArgs>();
    auto* account = app.add_subcommand("account", "Manage accounts (usage.accounts)");
    account->require_subcommand(1);
    auto* set = account->add_subcommand(
        "set",
        "Publish a tenant's account: plan, billing anchor day and time zone, API key.\n"
        "The projections pick it up at once; usage answers use the new plan from then on.");
    add_kafka_options(*set, args->kafka);
    set->add_option("--tenant", args->account.tenant_id, "Tenant id")->required();
    set->add_option("--plan", args->account.plan, "Plan id from the plans file")->required();
    set->add_option("--billing-anchor-day", args->account.billing_anchor_day,
                    "Day of the month the billing month starts (31 = last day of short months)")
        ->check(CLI::Range(1, 31))
        ->capture_default_str();
    set->add_option("--time-zone", args->account.time_zone,
                    "IANA time zone of the billing month, e.g. America/New_York (default UTC)");
    set->add_option("--api-key", args->api_key,
                    "The tenant's API key (stored only as its SHA-256)");
    set->add_option("--api-key-sha256", args->account.api_key_sha256,
                    "The SHA-256 (hex) of the tenant's API key");
    set->add_option("--stripe-customer", args->account.stripe_customer_id,
                    "Stripe customer id (cus_…)");
    set->add_option("--config", args->config, "Plans file (default: the built-in example plans)")
        ->check(CLI::ExistingFile);
    set->add_option("--topic", args->topic, "Accounts topic")->capture_default_str();
    set->callback([args, &run] { run = [args] { return run_account_set(*args); }; });
}

}  // namespace ul::ops
