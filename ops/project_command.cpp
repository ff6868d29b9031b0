// `usage-ledger project` (the counters projection consumer) and `export counters`.
// export opens the projection store as a RocksDB secondary: it works on a stopped store and
// beside a running `project`.
#include <spdlog/spdlog.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "consumers/dead_letters.h"
#include "ops/cli.h"
#include "ops/control_secret.h"
#include "ops/project_commands.h"
#include "ops/signals.h"
#include "projections/alerts/alerts_reducer.h"
#include "projections/api/stripe_routes.h"
#include "projections/counters/projection_service.h"
#include "projections/runner/limit_policy.h"
#include "projections/runner/projection_store.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct ProjectArgs {
    KafkaOptions kafka;
    ApiArgs api;
    std::string data_dir = "data";
    std::string config;
    std::size_t batch_size = 10'000;
    FlushPolicy flush;
    std::uint32_t test_write_pause_ms = 0;
    bool assign_all = false;
    bool heal_from_ledger = false;
    bool sync = false;
    MinFreeDisk min_free_disk;
    std::string control_secret_file;  // empty: <data_dir>/control-plane.secret
};

// 128 random bits as 32 hex digits.
std::string new_random_key() {
    std::random_device device;
    std::string out;
    char digits[9];
    for (int word = 0; word < 4; ++word) {
        std::snprintf(digits, sizeof digits, "%08x", device());
        out += digits;
    }
    return out;
}

int run_project(const ProjectArgs& args) {
    block_termination_signals();
    // Checked before anything in --data-dir is created.
    const PlanBook plans = load_plan_book_or_throw(args.config);
    if (has_hard_limits(plans)) {
        // Said once at start, never silently: the ledger decides hard limits, and only `up`
        // gives its ledger the plans and accounts today (ledger/README.md, "Hard limits").
        spdlog::warn(
            "project: the plans file has hard-enforced meters (\"enforcement\": \"hard\"); "
            "only `usage-ledger up` enforces them today: a separate `ledger` process counts "
            "every event, and this process shows those meters as blocked at 100 % only");
    }
    ProjectionServiceOptions options;
    options.bootstrap = resolve_bootstrap_or_throw(args.kafka);
    options.kafka_settings = kafka_settings_or_throw(args.kafka);
    options.data_dir = args.data_dir;
    options.max_batch = args.batch_size;
    options.flush = args.flush;
    options.test_write_pause = std::chrono::milliseconds(args.test_write_pause_ms);
    options.assign_all = args.assign_all;
    options.heal_from_ledger = args.heal_from_ledger;
    options.sync = args.sync;
    options.min_free_disk = args.min_free_disk;
    auto control_secret = load_or_create_control_secret(args.control_secret_file.empty()
                                                            ? control_secret_path(args.data_dir)
                                                            : args.control_secret_file);
    if (!control_secret) {
        spdlog::error("project: {}", control_secret.error());
        return kExitFailure;
    }
    options.control_secret = *control_secret;
    options.group_by = group_by_of(plans);
    options.plans = plans;
    auto service = ProjectionService::start(options);
    if (!service) {
        spdlog::error("project: {}", service.error());
        return kExitFailure;
    }
    IngestOptions ingest;
    ingest.bootstrap = options.bootstrap;
    ingest.kafka_settings = options.kafka_settings;
    ApiArgs api_args = args.api;
    api_args.jobs_dir = args.data_dir + "/jobs";
    api_args.deliver_alerts = true;
    api_args.holds_every_partition = args.assign_all;
    auto api = start_api(api_args, plans, **service, nullptr, ingest);
    if (!api) {
        spdlog::error("project: {}", api.error());
        return kExitFailure;
    }
    spdlog::info("project: applying {} from {} into {}/projections; query API on http://{}",
                 options.ledger_topic, options.bootstrap, args.data_dir, api->server->address());
    std::atomic<bool> finished{false};
    std::thread signal_waiter([&service, &finished] {
        while (!finished.load()) {
            if (const int taken = wait_for_termination_signal(std::chrono::milliseconds(200))) {
                spdlog::info("project: signal {} taken, finishing the batch in hand", taken);
                (*service)->request_stop();
                return;
            }
        }
    });
    auto ran = (*service)->run();
    finished.store(true);
    signal_waiter.join();
    api->server->stop();
    if (!ran) {
        spdlog::error("project: {}", ran.error());
        return kExitFailure;
    }
    return kExitOk;
}

struct ExportCountersArgs {
    std::string data_dir = "data";
    std::string window = "day";
    std::string format = "jsonl";
};

int run_export_counters(const ExportCountersArgs& args) {
    const auto window = parse_window(args.window);
    if (!window) {
        throw UsageError("--window must be hour, day or month, not '" + args.window + "'");
    }
    ProjectionStoreOptions options;
    options.families = AlertsReducer::schema();
    options.path = args.data_dir + "/projections";
    auto store = ProjectionStore::open(options, ProjectionOpenMode::secondary);
    if (!store) {
        throw UsageError(store.error() + " (is --data-dir right?)");
    }
    const bool csv = args.format == "csv";
    if (csv) {
        std::fputs("tenant_id,meter,period_start,sum,count\n", stdout);
    }
    std::string line;
    char sum[DecimalSum::kFormatBytes];
    auto exported =
        (*store)->for_each_counter_range("", "", [&](const CounterKey& key, const Cell& cell) {
            if (key.window != *window) {
                return true;
            }
            line.clear();
            const std::size_t sum_length = cell.sum.format(sum);
            if (csv) {
                // Tenant ids and meters are [A-Za-z0-9._:-]: nothing to quote.
                line.append(key.tenant_id).push_back(',');
                line.append(key.meter).push_back(',');
                line.append(format_rfc3339(key.period_start_us)).push_back(',');
                line.append(sum, sum_length).push_back(',');
                line.append(std::to_string(cell.count)).push_back('\n');
            } else {
                line.append("{\"tenant_id\":");
                append_json_string(line, key.tenant_id);
                line.append(",\"meter\":");
                append_json_string(line, key.meter);
                line.append(",\"period_start\":\"").append(format_rfc3339(key.period_start_us));
                line.append("\",\"sum\":\"").append(sum, sum_length);
                line.append("\",\"count\":").append(std::to_string(cell.count)).append("}\n");
            }
            std::fwrite(line.data(), 1, line.size(), stdout);
            return true;
        });
    if (!exported) {
        spdlog::error("export: {}", exported.error());
        return kExitFailure;
    }
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void add_flush_options(CLI::App& command, FlushPolicy& policy) {
    command
        .add_option_function<std::uint32_t>(
            "--flush-interval-ms",
            [&policy](std::uint32_t milliseconds) {
                policy.interval = std::chrono::milliseconds(milliseconds);
            },
            "Write the applied deltas at least this often (they are visible to queries at once)")
        ->check(CLI::Range(1U, 60'000U))
        ->default_str(std::to_string(policy.interval.count()));
    command
        .add_option("--max-pending-cells", policy.max_cells,
                    "Write the applied deltas once they hold this many cells (bounds memory: "
                    "~150 bytes a cell)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}))
        ->capture_default_str();
}

PlanBook load_plan_book_or_throw(const std::string& path) {
    if (path.empty()) {
        return default_plan_book();
    }
    auto plans = load_plans(path);
    if (!plans) {
        throw UsageError("--config: " + plans.error());
    }
    return std::move(plans).value();
}

void add_api_options(CLI::App& command, ApiArgs& args) {
    command
        .add_option("--listen", args.listen,
                    "Query API address host:port (port 0: any free port, logged)")
        ->capture_default_str();
    command
        .add_option("--admin-key", args.admin_keys,
                    "Admin API key (repeatable; also $UL_ADMIN_KEY); none: one is generated and "
                    "printed")
        ->envname("UL_ADMIN_KEY");
    command
        .add_option("--cors-origin", args.cors_origins,
                    "An origin (https://app.example.com) whose pages may call the API from a "
                    "browser: answered with Access-Control-Allow-Origin (repeatable)")
        ->check(CLI::Validator(
            [](const std::string& origin) -> std::string {
                const bool scheme = origin.starts_with("http://") || origin.starts_with("https://");
                const auto host = origin.substr(origin.find("://") + 3);
                const bool plain =
                    !host.empty() &&
                    host.find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == std::string::npos;
                return scheme && plain
                           ? ""
                           : "an origin is scheme://host[:port], no path: not '" + origin + "'";
            },
            "ORIGIN"));
    command
        .add_option("--frame-ancestors", args.frame_ancestors,
                    "A CSP frame-ancestors source allowed to embed the dashboard (repeatable; "
                    "default 'none')")
        ->check(CLI::Validator(
            [](const std::string& source) -> std::string {
                // One CSP source: nothing that would end the directive or start another.
                const bool bad =
                    source.empty() || source.find_first_of("; ,\t\r\n") != std::string::npos;
                return bad ? "a frame-ancestors source is one word ('self', "
                             "https://app.example.com): not '" +
                                 source + "'"
                           : "";
            },
            "SOURCE"));
    command.add_option("--rate-limit", args.requests_per_second, "Requests per second per key")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    command.add_option("--rate-burst", args.burst, "Burst size per key")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    command
        .add_option("--unknown-meters", args.unknown_meters,
                    "Entitlement checks for a meter the tenant's plan does not list: deny "
                    "(allowed false, error unknown_meter) or allow (unlimited, unmetered)")
        ->check(CLI::IsMember({"deny", "allow"}))
        ->capture_default_str();
    command
        .add_option("--max-connections", args.max_connections,
                    "Most HTTP connections at once (lowered to half the open-files limit when "
                    "that is smaller); more clients wait until one closes")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    command
        .add_option("--webhook-retry", args.webhook_retry,
                    "Alert webhook retries: first delay, factor, longest delay, give up after "
                    "(timeouts, network errors, 429 and 5xx are retried; other 4xx are final)")
        ->capture_default_str();
    command
        .add_option("--webhook-timeout-ms", args.webhook_timeout_ms,
                    "One alert webhook attempt, connect to answer")
        ->check(CLI::Range(1, 600'000))
        ->capture_default_str();
    command
        .add_option("--stripe-api-base", args.stripe_api_base,
                    "Stripe's API (http://127.0.0.1:N for a fake or stripe-mock)")
        ->capture_default_str();
    command.add_option("--stripe-secret-key-file", args.stripe_secret_key_file,
                       "File holding the Stripe secret key (else $STRIPE_SECRET_KEY); with "
                       "neither, Stripe billing is off. The key is never logged");
    command
        .add_option("--stripe-timeout-ms", args.stripe_timeout_ms,
                    "One Stripe request, connect to answer")
        ->check(CLI::Range(1, 600'000))
        ->capture_default_str();
    command
        .add_option("--billing-interval", args.billing_interval,
                    "How often usage is reported to Stripe (30s, 5m, ...)")
        ->capture_default_str();
    command
        .add_option("--billing-grace", args.billing_grace,
                    "After a billing period closes, how long late events are awaited before its "
                    "final report")
        ->capture_default_str();
    command
        .add_option("--stripe-breaker-failures", args.stripe_breaker_failures,
                    "Consecutive failed Stripe attempts that pause reporting")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    command.add_option("--stripe-webhook-secret-file", args.stripe_webhook_secret_file,
                       "File holding the Stripe webhook endpoint secret (whsec_..., else "
                       "$STRIPE_WEBHOOK_SECRET); with neither, POST /v1/stripe/webhook is absent");
    command
        .add_option("--stripe-breaker-pause", args.stripe_breaker_pause,
                    "How long reporting pauses once the breaker opens")
        ->capture_default_str();
}

namespace {

// The billing reporter when a Stripe key is given; nullptr (billing off) when none is.
Result<std::unique_ptr<BillingReporter>, std::string> start_billing(
    const ApiArgs& args, ProjectionService& projections) {
    if (args.stripe_secret_key_file.empty() && std::getenv("STRIPE_SECRET_KEY") == nullptr) {
        spdlog::info("billing: off (no --stripe-secret-key-file and no $STRIPE_SECRET_KEY)");
        return std::unique_ptr<BillingReporter>();
    }
    if (!args.holds_every_partition) {
        return unexpected(std::string(
            "Stripe billing needs every partition in this process (project --assign-all): "
            "reporters on part of the partitions would not know what the others reported"));
    }
    auto key = load_stripe_secret_key(args.stripe_secret_key_file);
    if (!key) {
        return unexpected("billing: " + key.error());
    }
    BillingReporterOptions options;
    options.path = projections.runner().options().data_dir + "/billing";
    options.stripe.api_base = args.stripe_api_base;
    while (!options.stripe.api_base.empty() && options.stripe.api_base.back() == '/') {
        options.stripe.api_base.pop_back();
    }
    options.stripe.secret_key = *key;
    options.stripe.timeout = std::chrono::milliseconds(args.stripe_timeout_ms);
    const std::pair<const char*, const std::string*> durations[] = {
        {"--billing-interval", &args.billing_interval},
        {"--billing-grace", &args.billing_grace},
        {"--stripe-breaker-pause", &args.stripe_breaker_pause}};
    std::int64_t parsed[3] = {};
    for (std::size_t index = 0; index < 3; ++index) {
        auto value = parse_duration(*durations[index].second);
        if (!value) {
            return unexpected(std::string(durations[index].first) + ": " + value.error());
        }
        parsed[index] = *value;
    }
    options.interval = std::chrono::milliseconds(parsed[0] / 1000);
    options.grace = std::chrono::seconds(parsed[1] / 1'000'000);
    options.breaker_pause = std::chrono::seconds(parsed[2] / 1'000'000);
    options.breaker_failures = args.stripe_breaker_failures;
    auto reporter = BillingReporter::start(options, projections);
    if (!reporter) {
        return unexpected(reporter.error());
    }
    spdlog::info("billing: reporting to {} every {} (grace {}), outbox in {}",
                 options.stripe.api_base, args.billing_interval, args.billing_grace, options.path);
    return std::move(reporter).value();
}

// The webhook route's options when an endpoint secret is given (file or
// $STRIPE_WEBHOOK_SECRET); nullopt: no webhook route.
Result<std::optional<StripeWebhookOptions>, std::string> stripe_webhook_options(
    const ApiArgs& args, const PlanBook& plans, ProjectionService& projections,
    const std::function<Result<bool, std::string>(const Account&)>& publish_account) {
    std::string secret;
    if (!args.stripe_webhook_secret_file.empty()) {
        std::ifstream in(args.stripe_webhook_secret_file);
        std::stringstream text;
        text << in.rdbuf();
        if (!in) {
            return unexpected("--stripe-webhook-secret-file: cannot read " +
                              args.stripe_webhook_secret_file);
        }
        secret = text.str();
    } else if (const char* from_env = std::getenv("STRIPE_WEBHOOK_SECRET")) {
        secret = from_env;
    } else {
        return std::optional<StripeWebhookOptions>();
    }
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())) != 0) {
        secret.pop_back();
    }
    if (secret.empty()) {
        return unexpected(std::string("the Stripe webhook secret is empty"));
    }
    if (!publish_account) {
        return unexpected(std::string("Stripe webhooks need a process that publishes accounts"));
    }
    StripeWebhookOptions options;
    options.endpoint_secret = std::move(secret);
    options.plans = plans;
    options.current_account = [&projections](std::string_view tenant) {
        return projections.account(tenant);
    };
    options.find_tenant_by_customer =
        [&projections](std::string_view customer) -> std::optional<std::string> {
        for (const Account& account : projections.accounts()) {
            if (account.stripe_customer_id == customer) {
                return account.tenant_id;
            }
        }
        return std::nullopt;
    };
    options.publish_account = publish_account;
    options.now_seconds = [] { return system_now_us() / 1'000'000; };
    return std::optional<StripeWebhookOptions>(std::move(options));
}

}  // namespace

Result<RunningApi, std::string> start_api(const ApiArgs& args, PlanBook plans,
                                          ProjectionService& projections,
                                          const LedgerMetrics* ledger_metrics, IngestOptions ingest,
                                          const ComponentHealth* health) {
    RunningApi running;
    if (!ingest.now_us) {
        ingest.now_us = system_now_us;
    }
    auto started = Ingest::start(std::move(ingest));
    if (!started) {
        return unexpected(started.error());
    }
    running.ingest = std::move(started).value();
    if (!args.jobs_dir.empty()) {
        auto jobs = Jobs::open({.dir = args.jobs_dir, .now_us = system_now_us},
                               projection_jobs(projections, args.jobs_dir));
        if (!jobs) {
            return unexpected(jobs.error());
        }
        running.jobs = std::move(jobs).value();
    }
    QueryApiOptions options;
    options.read_dead_letters =
        [bootstrap = projections.runner().options().bootstrap,
         settings = projections.runner().options().kafka_settings](const DeadLetterQuery& query) {
            return ul::read_dead_letters(bootstrap, settings, "usage.events.dlq", query,
                                         std::chrono::seconds(20));
        };
    if (args.deliver_alerts) {
        auto retry = parse_retry_schedule(args.webhook_retry);
        if (!retry) {
            return unexpected("--webhook-retry: " + retry.error());
        }
        const ProjectionRunnerOptions& projection = projections.runner().options();
        AlertDeliveryOptions alerts;
        alerts.path = projection.data_dir + "/alerts";
        alerts.bootstrap = projection.bootstrap;
        alerts.kafka_settings = projection.kafka_settings;
        alerts.retry = *retry;
        alerts.timeout = std::chrono::milliseconds(args.webhook_timeout_ms);
        auto delivery = AlertDelivery::start(alerts, projections);
        if (!delivery) {
            return unexpected(delivery.error());
        }
        running.alerts = std::move(delivery).value();
        options.alerts = running.alerts.get();
        ProducerOptions producer;
        producer.bootstrap = projection.bootstrap;
        producer.extra_config = projection.kafka_settings;
        producer.topic = projection.accounts_topic;
        auto publisher = RecordPublisher::create(producer);
        if (!publisher) {
            return unexpected("usage.accounts: " + publisher.error());
        }
        running.accounts = std::move(publisher).value();
        options.publish_account = [publisher = running.accounts.get(),
                                   secret = projection.control_secret](const Account& account) {
            const SignedAccountRecord record = signed_account_record(secret, account);
            return publisher->publish(record.key, *record.value, record.headers);
        };
        options.publish_tombstone = [publisher = running.accounts.get(),
                                     secret = projection.control_secret](
                                        const std::string& tenant, std::int64_t deleted_at_us) {
            const SignedAccountRecord record =
                signed_tombstone_record(secret, tenant, deleted_at_us);
            return publisher->publish(record.key, std::nullopt, record.headers);
        };
    }
    if (args.deliver_alerts) {
        auto billing = start_billing(args, projections);
        if (!billing) {
            return unexpected(billing.error());
        }
        running.billing = std::move(billing).value();
        options.billing = running.billing.get();
    }
    options.allow_unknown_meters = args.unknown_meters == "allow";
    options.admin_keys = args.admin_keys;
    if (options.admin_keys.empty()) {
        options.admin_keys.push_back("admin-" + new_random_key());
    }
    running.admin_key = options.admin_keys.front();
    options.rate_limit.requests_per_second = args.requests_per_second;
    options.rate_limit.burst = args.burst;
    options.now_us = system_now_us;
    options.ledger_metrics = ledger_metrics;
    options.ingest = running.ingest.get();
    options.jobs = running.jobs.get();
    options.health = health;
    const auto publish_account = options.publish_account;
    const PlanBook plans_copy = plans;
    running.api = std::make_unique<QueryApi>(std::move(options), std::move(plans), projections);
    HttpServerOptions server_options;
    server_options.listen = args.listen;
    server_options.threads = 2;
    server_options.max_connections = args.max_connections;
    server_options.cors_origins = args.cors_origins;
    server_options.frame_ancestors = args.frame_ancestors;
    server_options.defer_accepting = true;  // until every route below is installed
    auto server = HttpServer::start(server_options);
    if (!server) {
        return unexpected(server.error());
    }
    running.server = std::move(server).value();
    running.api->install(*running.server);
    if (auto webhook = stripe_webhook_options(args, plans_copy, projections, publish_account);
        !webhook) {
        return unexpected(webhook.error());
    } else if (*webhook) {
        // A paid checkout of credits becomes a grant event, keyed by tenant as every event (so
        // it lands on the tenant's partition) and acknowledged before Stripe gets its 200.
        const ProjectionRunnerOptions& projection = projections.runner().options();
        ProducerOptions producer;
        producer.bootstrap = projection.bootstrap;
        producer.extra_config = projection.kafka_settings;
        producer.topic = "usage.events";
        auto grants = RecordPublisher::create(producer);
        if (!grants) {
            return unexpected("usage.events: " + grants.error());
        }
        running.grants = std::move(grants).value();
        (*webhook)->publish_grant = [publisher = running.grants.get()](const CreditTopUp& top_up) {
            std::string event = "{\"idempotency_key\":";
            append_json_string(event, top_up.idempotency_key);
            event += ",\"tenant_id\":";
            append_json_string(event, top_up.tenant_id);
            event += ",\"meter\":\"credits.grant\",\"quantity\":\"" + top_up.amount +
                     "\",\"timestamp\":\"" + format_rfc3339(top_up.created_us) +
                     "\",\"properties\":{\"source\":\"stripe checkout\"}}";
            return publisher->publish(top_up.tenant_id, event, {});
        };
        install_stripe_webhook(*running.server, std::move(**webhook));
        spdlog::info("billing: Stripe webhooks on POST /v1/stripe/webhook");
    }
    if (args.admin_keys.empty()) {
        spdlog::info("api: generated admin key {} (give --admin-key or $UL_ADMIN_KEY to choose)",
                     running.admin_key);
    }
    running.server->start_accepting();  // every route is installed
    return running;
}

GroupBy group_by_of(const PlanBook& plans) {
    GroupBy out;
    for (const auto& [meter, properties] : plans.group_by) {
        out.emplace_back(meter, properties);
    }
    return out;
}

void add_project_commands(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<ProjectArgs>();
    auto* project = app.add_subcommand(
        "project",
        "Run the counters projection until SIGINT/SIGTERM: usage.ledger → per (tenant, meter)\n"
        "hour, day and billing-month cells in RocksDB (<data-dir>/projections). Positions and\n"
        "cells change in one WriteBatch: a crash at any moment neither loses nor double-counts.");
    add_kafka_options(*project, args->kafka);
    project->add_option("--data-dir", args->data_dir, "State directory")->capture_default_str();
    project->add_option("--control-secret-file", args->control_secret_file,
                        "Control-plane secret: usage.accounts records count only when signed "
                        "with it; created (mode 0600) when absent (default: "
                        "<data-dir>/control-plane.secret)");
    project
        ->add_option("--config", args->config,
                     "Plans file (see schemas/plans.example.json); default: the built-in example "
                     "plans")
        ->check(CLI::ExistingFile);
    project->add_option("--batch-size", args->batch_size, "Most entries per poll batch")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    add_flush_options(*project, args->flush);
    project
        ->add_option("--test-write-pause-ms", args->test_write_pause_ms,
                     "Tests only: sleep before and after each store write")
        ->group("");  // hidden from --help
    project
        ->add_option("--sync", args->sync,
                     "fsync every write (false is safe against a killed process: the WAL is "
                     "written per write; a machine crash loses a suffix that is re-read from "
                     "usage.ledger)")
        ->capture_default_str();
    project->add_flag("--assign-all", args->assign_all,
                      "Take every partition without joining the consumer group (one instance)");
    project->add_flag("--heal-from-ledger", args->heal_from_ledger,
                      "The ledger store is in the same --data-dir: at start apply every "
                      "committed entry not applied yet from it, read entries missing from "
                      "usage.ledger from it instead of stopping the partition, and be ready only "
                      "when the applied sequences are close to the ledger's");
    add_min_free_disk_option(*project, args->min_free_disk);
    add_api_options(*project, args->api);
    project->callback([args, &run] { run = [args] { return run_project(*args); }; });

    auto* export_command = app.get_subcommand("export");
    auto counters_args = std::make_shared<ExportCountersArgs>();
    auto* counters = export_command->add_subcommand(
        "counters",
        "Counter cells, one line per (tenant, meter, period) sorted by tenant, meter, period:\n"
        "{\"tenant_id\",\"meter\",\"period_start\",\"sum\",\"count\"}. Works beside a running "
        "`project`.");
    counters->add_option("--data-dir", counters_args->data_dir, "State directory")
        ->capture_default_str();
    counters->add_option("--window", counters_args->window, "hour, day or month")
        ->check(CLI::IsMember({"hour", "day", "month"}))
        ->capture_default_str();
    counters->add_option("--format", counters_args->format, "jsonl or csv")
        ->check(CLI::IsMember({"jsonl", "csv"}))
        ->capture_default_str();
    counters->callback([counters_args, &run] {
        run = [counters_args] { return run_export_counters(*counters_args); };
    });
}

}  // namespace ul::ops
