// The projection-facing commands and what `up` shares with them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ledger/ledger_metrics.h"
#include "ops/cli.h"
#include "producers/record_publisher.h"
#include "projections/api/http_server.h"
#include "projections/api/jobs.h"
#include "projections/api/query_api.h"
#include "projections/counters/cells.h"
#include "projections/counters/projection_service.h"
#include "schemas/plans.h"

namespace ul::ops {

// `project` and `export counters` (call after add_ledger_commands, which adds `export`).
void add_project_commands(CLI::App& app, CommandRunner& run);
// The plans of --config, or the built-in example plans when `path` is empty; a bad file is a
// UsageError naming what is wrong.
PlanBook load_plan_book_or_throw(const std::string& path);
GroupBy group_by_of(const PlanBook& plans);
// schemas/plans.example.json, compiled in (ops/builtin_plans.cpp.in).
PlanBook default_plan_book();

// --flush-interval-ms and --max-pending-cells (projections/runner/projection_store.h FlushPolicy),
// shared by `project` and `bench projection`.
void add_flush_options(CLI::App& command, FlushPolicy& policy);

// The query API's options, shared by `project` and `up`.
struct ApiArgs {
    std::string listen = "127.0.0.1:8080";
    std::vector<std::string> admin_keys;       // empty: one is generated and printed
    std::vector<std::string> cors_origins;     // HttpServerOptions::cors_origins
    std::vector<std::string> frame_ancestors;  // HttpServerOptions::frame_ancestors
    double requests_per_second = 50;
    double burst = 100;
    // Not an option: where admin jobs are kept (<data-dir>/jobs); empty: no jobs API (503).
    std::string jobs_dir;
    // Not an option: deliver the projection's alerts (usage.alerts, webhooks; store in
    // <data-dir>/alerts) and publish alert-rule changes (`project` and `up`; not `bench`).
    bool deliver_alerts = false;
    std::string webhook_retry = "10s,2,1h,24h";  // projections/alerts/webhook.h syntax
    std::uint32_t webhook_timeout_ms = 10'000;
    std::size_t max_connections = 1000;   // HttpServerOptions::max_connections
    std::string unknown_meters = "deny";  // QueryApiOptions::allow_unknown_meters
    // Stripe billing (projections/billing/): on when a secret key is given (file or
    // $STRIPE_SECRET_KEY) and the process holds every partition.
    std::string stripe_api_base = "https://api.stripe.com";
    std::string stripe_secret_key_file;
    std::string stripe_webhook_secret_file;
    std::uint32_t stripe_timeout_ms = 10'000;
    std::string billing_interval = "60s";
    std::string billing_grace = "1h";
    int stripe_breaker_failures = 5;
    std::string stripe_breaker_pause = "15m";
    bool holds_every_partition = false;  // not an option: `up`, or `project --assign-all`
};
void add_api_options(CLI::App& command, ApiArgs& args);

struct RunningApi {
    // Declared first: destroyed after the server and the API that use them.
    std::unique_ptr<RecordPublisher> accounts;
    std::unique_ptr<RecordPublisher> grants;  // Stripe checkouts' credits, to usage.events
    std::unique_ptr<AlertDelivery> alerts;
    std::unique_ptr<BillingReporter> billing;
    std::unique_ptr<Ingest> ingest;
    std::unique_ptr<Jobs> jobs;
    std::unique_ptr<QueryApi> api;
    std::unique_ptr<HttpServer> server;
    std::string admin_key;  // the first admin key (generated when none was given)
};
// Starts the HTTP server with every route; errors name the address.
// `ingest`: where POST /v1/events sends events (and, with a commit waiter, whether it can wait
// for the ledger's verdicts).
Result<RunningApi, std::string> start_api(const ApiArgs& args, PlanBook plans,
                                          ProjectionService& projections,
                                          const LedgerMetrics* ledger_metrics, IngestOptions ingest,
                                          const ComponentHealth* health = nullptr);

}  // namespace ul::ops
