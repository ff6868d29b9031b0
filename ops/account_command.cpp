// `usage-ledger account set`: publishes one whole account (tenant → plan, billing anchor, time
// zone, API key hash, Stripe customer) to the compacted usage.accounts topic, after checking it
// the way the projections will read it (plan known, zone known, anchor 1..31).
// `usage-ledger account delete`: publishes the tenant's tombstone.
// Both sign what they publish with the control-plane secret (ops/control_secret.h,
// schemas/account.h); the projections ignore unsigned records.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "ops/cli.h"
#include "ops/control_secret.h"
#include "ops/project_commands.h"
#include "producers/record_publisher.h"
#include "projections/alerts/webhook.h"
#include "projections/api/api_keys.h"
#include "projections/runner/windows.h"
#include "schemas/account.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct AccountArgs {
    KafkaOptions kafka;
    std::string effective_at;  // RFC 3339; empty: from updated_at (now)
    std::string topic = "usage.accounts";
    std::string config;
    Account account;
    std::string api_key;
    std::string secret_file;               // empty: default_account_secret_path(kafka)
    std::vector<std::string> alert_rules;  // JSON each
    std::string webhook_secret_file;
};

std::string secret_or_throw(const AccountArgs& args) {
    const std::string path =
        args.secret_file.empty() ? default_account_secret_path(args.kafka) : args.secret_file;
    auto secret = load_control_secret(path);
    if (!secret) {
        throw std::runtime_error(secret.error());  // exit 1: main logs it
    }
    return std::move(secret).value();
}

// Produces one signed record and waits for its delivery.
int publish(const AccountArgs& args, const SignedAccountRecord& record) {
    ProducerOptions options;
    options.bootstrap = resolve_bootstrap_or_throw(args.kafka);
    options.extra_config = kafka_settings_or_throw(args.kafka);
    options.topic = args.topic;
    auto publisher = RecordPublisher::create(options);
    if (!publisher) {
        spdlog::error("account: {}", publisher.error());
        return kExitFailure;
    }
    const std::optional<std::string_view> value =
        record.value ? std::optional<std::string_view>(*record.value) : std::nullopt;
    if (auto published = (*publisher)->publish(record.key, value, record.headers); !published) {
        spdlog::error("account: {}", published.error());
        return kExitFailure;
    }
    return kExitOk;
}

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
    for (const auto& text : args.alert_rules) {
        auto rule = parse_alert_rule(text);
        if (!rule) {
            throw UsageError("--alert-rule: " + rule.error());
        }
        args.account.alert_rules.push_back(std::move(*rule));
    }
    if (!args.account.alert_webhook_url.empty()) {
        if (auto url = parse_webhook_url(args.account.alert_webhook_url); !url) {
            throw UsageError("--alert-webhook: " + url.error());
        }
        if (args.webhook_secret_file.empty()) {
            throw UsageError(
                "--alert-webhook needs --alert-webhook-secret-file (alerts are signed)");
        }
        std::ifstream in(args.webhook_secret_file);
        std::string secret;
        if (!in || !std::getline(in, secret) || secret.empty()) {
            throw UsageError("--alert-webhook-secret-file: cannot read a secret (one line) from " +
                             args.webhook_secret_file);
        }
        args.account.alert_webhook_secret = secret;
    } else if (!args.webhook_secret_file.empty()) {
        throw UsageError("--alert-webhook-secret-file needs --alert-webhook");
    }
    args.account.updated_at_us = system_now_us();
    if (!args.effective_at.empty()) {
        auto effective = parse_rfc3339(args.effective_at);
        if (!effective) {
            throw UsageError("--effective-at: " + effective.error());
        }
        args.account.effective_at_us = *effective;
    }
    const std::string json = account_json(args.account);
    if (auto checked = parse_account(json); !checked) {
        throw UsageError(checked.error());
    }
    const std::string secret = secret_or_throw(args);
    if (const int published = publish(args, signed_account_record(secret, args.account));
        published != kExitOk) {
        return published;
    }
    std::printf("%s\n", account_json(args.account, /*redact=*/true).c_str());
    return kExitOk;
}

int run_account_delete(const AccountArgs& args) {
    const std::string secret = secret_or_throw(args);
    const std::int64_t deleted_at_us = system_now_us();
    if (const int published =
            publish(args, signed_tombstone_record(secret, args.account.tenant_id, deleted_at_us));
        published != kExitOk) {
        return published;
    }
    std::string out = "{\"tenant_id\":";
    append_json_string(out, args.account.tenant_id);
    out += ",\"deleted_at\":\"" + format_rfc3339(deleted_at_us) + "\"}";
    std::printf("%s\n", out.c_str());
    return kExitOk;
}

void add_secret_option(CLI::App& command, std::string& secret_file) {
    command.add_option("--control-secret-file", secret_file,
                       "Control-plane secret that signs the record (default: control-plane.secret "
                       "next to --bootstrap-file, else data/control-plane.secret)");
}

}  // namespace

void add_account_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<AccountArgs>();
    auto* account = app.add_subcommand("account", "Manage accounts (usage.accounts)");
    account->require_subcommand(1);
    auto* set = account->add_subcommand(
        "set",
        "Publish a tenant's whole account: plan, billing anchor day and time zone, API key.\n"
        "It replaces the previous account entirely: without --api-key/--api-key-sha256 the\n"
        "tenant has no key, and its old key stops working; the same for alert rules and the\n"
        "alert webhook (the API's alert-rules routes add or remove one rule). A key another\n"
        "tenant holds is\n"
        "rejected by the projections. Signed with the control-plane secret.\n"
        "The projections pick it up at once; usage answers use the new plan from then on.");
    add_kafka_options(*set, args->kafka);
    set->add_option("--tenant", args->account.tenant_id, "Tenant id")->required();
    set->add_option("--plan", args->account.plan, "Plan id from the plans file")->required();
    set->add_option("--billing-anchor-day", args->account.billing_anchor_day,
                    "Day of the month the billing month starts (31 = last day of short months)")
        ->check(CLI::Range(1, 31))
        ->capture_default_str();
    // Explicit, so the published and printed account says "UTC" rather than an empty zone.
    args->account.time_zone = "UTC";
    set->add_option("--time-zone", args->account.time_zone,
                    "IANA time zone of the billing month, e.g. America/New_York")
        ->capture_default_str();
    set->add_option("--effective-at", args->effective_at,
                    "From when (event time, RFC 3339) this version places the tenant's usage "
                    "in billing months; earlier usage keeps the months of the version before "
                    "(default: now)");
    set->add_option("--api-key", args->api_key,
                    "The tenant's API key (stored only as its SHA-256)");
    set->add_option("--api-key-sha256", args->account.api_key_sha256,
                    "The SHA-256 (hex) of the tenant's API key");
    set->add_option("--stripe-customer", args->account.stripe_customer_id,
                    "Stripe customer id (cus_…)");
    set->add_option("--alert-rule", args->alert_rules,
                    "The tenant's own alert rule (repeatable), JSON: "
                    R"({"id":"half","meter":"tokens","period":"month"|"day",)"
                    R"("threshold":{"percent":"0.5"}|{"amount":"5000"}})"
                    "; the plan's thresholds apply besides");
    set->add_option("--alert-webhook", args->account.alert_webhook_url,
                    "URL alerts are POSTed to (http or https), signed with the secret below");
    set->add_option("--alert-webhook-secret-file", args->webhook_secret_file,
                    "File whose first line is the webhook signing secret")
        ->check(CLI::ExistingFile);
    set->add_option("--config", args->config, "Plans file (default: the built-in example plans)")
        ->check(CLI::ExistingFile);
    set->add_option("--topic", args->topic, "Accounts topic")->capture_default_str();
    add_secret_option(*set, args->secret_file);
    set->callback([args, &run] { run = [args] { return run_account_set(*args); }; });

    auto* remove = account->add_subcommand(
        "delete",
        "Delete a tenant's account: publishes its signed tombstone. The projections drop the\n"
        "account and its API key at once, also from their store (it stays deleted after a\n"
        "restart). Its usage counters stay.");
    add_kafka_options(*remove, args->kafka);
    remove->add_option("--tenant", args->account.tenant_id, "Tenant id")->required();
    remove->add_option("--topic", args->topic, "Accounts topic")->capture_default_str();
    add_secret_option(*remove, args->secret_file);
    remove->callback([args, &run] { run = [args] { return run_account_delete(*args); }; });
}

}  // namespace ul::ops
