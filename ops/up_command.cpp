// `usage-ledger up`: the whole system in one process, on the embedded broker: broker, ledger,
// counters projection and query API (with the dashboard), each consumer on its own thread, and
// with --demo a few tenants on different plans sending traffic.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "ledger/ledger_service.h"
#include "ops/cli.h"
#include "ops/control_secret.h"
#include "ops/embedded.h"
#include "ops/project_commands.h"
#include "ops/signals.h"
#include "producers/demo_traffic.h"
#include "projections/api/health.h"
#include "projections/counters/projection_service.h"
#include "projections/runner/limit_policy.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct UpArgs {
    KafkaOptions kafka;  // --bootstrap / --bootstrap-file: an existing Kafka, not the embedded one
    std::string data_dir = "data";
    int partitions = 16;
    bool demo = false;
    std::string config;
    ApiArgs api;
    MinFreeDisk min_free_disk;
    std::string on_failure = "exit";  // a part stopped: "exit" 1, or "serve" (unready, 503s)
    bool lenient = false;             // the ledger's and ingest's validation, as `ledger` has
    std::int64_t max_event_age_us = ValidationOptions{}.max_event_age_us;
    bool sync = true;  // the ledger fsyncs every batch
    std::uint64_t test_fail_ledger_after_batches = 0;
};

// Runs `run` on its own thread; when it ends with an error, that is reported to `health` and
// logged at once (not at shutdown).
class ComponentThread {
  public:
    ComponentThread(std::string name, ComponentHealth& health,
                    std::function<Result<bool, std::string>()> run)
        : thread_([this, name = std::move(name), &health, run = std::move(run)] {
              result_ = run();
              if (!result_) {
                  spdlog::error("up: the {} stopped: {}", name, result_.error());
                  health.report_failure(name, result_.error());
              }
          }) {}
    ComponentThread(const ComponentThread&) = delete;
    ComponentThread& operator=(const ComponentThread&) = delete;
    ~ComponentThread() { join(); }
    void join() {
        if (thread_.joinable()) {
            thread_.join();
        }
    }

  private:
    Result<bool, std::string> result_ = true;
    std::thread thread_;  // last: starts after result_ exists
};

// Removes a file when the scope ends, on every return path.
class RemoveFileOnExit {
  public:
    explicit RemoveFileOnExit(std::string path) : path_(std::move(path)) {}
    RemoveFileOnExit(const RemoveFileOnExit&) = delete;
    RemoveFileOnExit& operator=(const RemoveFileOnExit&) = delete;
    ~RemoveFileOnExit() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }

  private:
    std::string path_;
};

int run_up(const UpArgs& args) {
    block_termination_signals();
    // Everything that can be refused is checked before the data directory is touched.
    const PlanBook plans = load_plan_book_or_throw(args.config);
    // Held until return: a second `up` on this directory stops here, before it overwrites the
    // bootstrap file or reaches the stores.
    const DataDirLock lock = DataDirLock::acquire_or_throw(args.data_dir);
    // Signs and verifies usage.accounts records; `account` finds it next to the bootstrap file.
    auto control_secret = load_or_create_control_secret(control_secret_path(args.data_dir));
    if (!control_secret) {
        spdlog::error("up: {}", control_secret.error());
        return kExitFailure;
    }
    // The embedded broker (memory only, started empty), or an existing Kafka that outlives us.
    const bool external = !args.kafka.bootstrap.empty() || !args.kafka.bootstrap_file.empty();
    std::unique_ptr<kafka::EmbeddedBroker> broker;
    std::string bootstrap;
    std::string bootstrap_file;
    std::optional<RemoveFileOnExit> remove_bootstrap_file;
    kafka::Properties kafka_settings;
    if (external) {
        bootstrap = resolve_bootstrap_or_throw(args.kafka);
        kafka_settings = kafka_settings_or_throw(args.kafka);
        bootstrap_file =
            args.kafka.bootstrap_file.empty() ? "(--bootstrap)" : args.kafka.bootstrap_file;
    } else {
        broker = start_embedded_broker(args.partitions);
        bootstrap = broker->bootstrap();
        bootstrap_file = (std::filesystem::path(args.data_dir) / "bootstrap").string();
        write_bootstrap_file(bootstrap_file, bootstrap);
        remove_bootstrap_file.emplace(bootstrap_file);  // it names a broker we own
    }
    LedgerServiceOptions ledger_options;
    ledger_options.bootstrap = bootstrap;
    ledger_options.kafka_settings = kafka_settings;
    ledger_options.data_dir = args.data_dir;
    ledger_options.assign_all = true;  // one machine, one ledger: no group session to wait out
    ledger_options.validation.strict = !args.lenient;
    ledger_options.validation.max_event_age_us = args.max_event_age_us;
    ledger_options.sync = args.sync;
    ledger_options.expect_log_resets = !external;  // the embedded broker starts empty
    ledger_options.now_us = system_now_us;
    CommitWaiter commit_waiter;  // POST /v1/events?wait=committed
    ledger_options.commit_waiter = &commit_waiter;
    ledger_options.min_free_disk = args.min_free_disk;
    ledger_options.test_fail_after_batches = args.test_fail_ledger_after_batches;
    // Hard limits are decided by the ledger with the accounts the projection reads; the ledger
    // waits for them (ledger/limits.h, projections/runner/limit_policy.h).
    RunnerLimitPolicy limit_policy(plans);
    if (has_hard_limits(plans)) {
        ledger_options.limits = &limit_policy;
    }
    auto ledger = LedgerService::start(ledger_options);
    if (!ledger) {
        spdlog::error("up: {}", ledger.error());
        return kExitFailure;
    }
    ComponentHealth health;
    auto ledger_thread =
        std::make_unique<ComponentThread>("ledger", health, [&] { return (*ledger)->run(); });
    auto stop_ledger = [&] {
        (*ledger)->request_stop();
        ledger_thread->join();
    };

    ProjectionServiceOptions projection_options;
    projection_options.bootstrap = bootstrap;
    projection_options.kafka_settings = kafka_settings;
    projection_options.data_dir = args.data_dir;
    projection_options.assign_all = true;
    projection_options.heal_from_ledger = true;   // the ledger store is right here
    projection_options.fresh_broker = !external;  // the embedded broker starts empty
    projection_options.min_free_disk = args.min_free_disk;
    projection_options.group_by = group_by_of(plans);
    projection_options.plans = plans;
    projection_options.control_secret = *control_secret;
    auto projections = ProjectionService::start(projection_options);
    if (!projections) {
        spdlog::error("up: {}", projections.error());
        stop_ledger();
        return kExitFailure;
    }
    limit_policy.attach((*projections)->runner());
    auto projection_thread = std::make_unique<ComponentThread>(
        "projections", health, [&] { return (*projections)->run(); });
    auto stop_projections = [&] {
        (*projections)->request_stop();
        projection_thread->join();
    };
    IngestOptions ingest;
    ingest.bootstrap = bootstrap;
    ingest.kafka_settings = kafka_settings;
    ingest.validation = ledger_options.validation;
    ingest.commit_waiter = &commit_waiter;
    ingest.wait_committed_by_default = true;  // the embedded broker keeps events in memory only
    ingest.health = &health;
    ApiArgs api_args = args.api;
    api_args.jobs_dir = args.data_dir + "/jobs";
    api_args.deliver_alerts = true;
    api_args.holds_every_partition = true;  // up assigns every partition to itself
    auto api = start_api(api_args, plans, **projections, &(*ledger)->metrics(), ingest, &health);
    if (!api) {
        spdlog::error("up: {}", api.error());
        stop_projections();
        stop_ledger();
        return kExitFailure;
    }
    std::unique_ptr<DemoTraffic> demo;
    if (args.demo) {
        DemoOptions demo_options;
        demo_options.bootstrap = bootstrap;
        demo_options.control_secret = *control_secret;
        auto started = DemoTraffic::start(demo_options, plans);
        if (!started) {
            spdlog::error("up: {}", started.error());
        } else {
            demo = std::move(started).value();
        }
    }

    std::error_code ignored;
    const std::string binary = std::filesystem::read_symlink("/proc/self/exe", ignored).string();
    const std::string url = "http://" + api->server->address() + "/";
    const std::string emit_kafka = external && args.kafka.bootstrap_file.empty()
                                       ? "--bootstrap " + bootstrap
                                       : "--bootstrap-file " + bootstrap_file;
    std::printf(
        "usage-ledger is up.\n"
        "  dashboard:      %s#key=%s\n"
        "  query API:      curl -H 'Authorization: Bearer %s' %sv1/admin/tenants\n"
        "  %s %s (bootstrap %s %s)\n"
        "  state:          %s/ledger and %s/projections (RocksDB)\n"
        "  send events:    %s emit %s --tenant acme --meter tokens --quantity 1500\n"
        "  or a file:      %s emit %s --file events.jsonl\n"
        "  then:           curl -H 'Authorization: Bearer %s' '%sv1/tenants/acme/usage'\n"
        "  or over HTTP:   curl -H 'Authorization: Bearer %s' -d '{\"idempotency_key\":\"r1\","
        "\"tenant_id\":\"acme\",\"meter\":\"tokens\",\"quantity\":1500,\"timestamp\":\"%s\"}' "
        "'%sv1/events?wait=committed'\n"
        "  ledger counts:  %s stats --data-dir %s\n",
        url.c_str(), api->admin_key.c_str(), api->admin_key.c_str(), url.c_str(),
        external ? "Kafka:         " : "embedded Kafka:", bootstrap.c_str(),
        external ? "read from" : "written to", bootstrap_file.c_str(), args.data_dir.c_str(),
        args.data_dir.c_str(), binary.c_str(), emit_kafka.c_str(), binary.c_str(),
        emit_kafka.c_str(), api->admin_key.c_str(), url.c_str(), api->admin_key.c_str(),
        format_rfc3339(system_now_us()).c_str(), url.c_str(), binary.c_str(),
        args.data_dir.c_str());
    if (demo) {
        std::printf("  demo tenants:  ");
        for (const auto& tenant : demo->tenants()) {
            std::printf(" %s (plan %s, key %s)", tenant.tenant_id.c_str(), tenant.plan.c_str(),
                        tenant.api_key.c_str());
        }
        std::printf("\n");
    }
    std::printf("Stop with Ctrl-C.\n");
    std::fflush(stdout);
    if (!external) {
        spdlog::info(
            "up: the embedded broker keeps at most ~5 MiB per partition in memory; the ledger "
            "drains it continuously into RocksDB");
    }
    int taken = 0;
    bool failed = false;
    while (taken == 0 && !failed) {
        taken = wait_for_termination_signal(std::chrono::milliseconds(200));
        failed = args.on_failure == "exit" && !health.failures().empty();
    }
    if (failed) {
        spdlog::error("up: stopping because a part stopped (--on-component-failure exit)");
    } else {
        spdlog::info("up: signal {} taken, stopping", taken);
    }
    if (demo) {
        demo->stop();
    }
    api->server->stop();
    stop_ledger();
    stop_projections();
    int status = kExitOk;
    for (const auto& failure : health.failures()) {
        spdlog::error("up: the {} had stopped: {}", failure.component, failure.error);
        status = kExitFailure;
    }
    return status;
}

}  // namespace

void add_up_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<UpArgs>();
    auto* command = app.add_subcommand(
        "up",
        "Run the whole system on one machine until Ctrl-C: the embedded broker, the ledger, the\n"
        "counters projection and the query API with the dashboard (state in --data-dir); prints\n"
        "the dashboard URL and how to send events. --demo adds traffic from a few tenants.");
    command->add_option("--data-dir", args->data_dir, "Directory for state and the bootstrap file")
        ->capture_default_str();
    add_kafka_options(*command, args->kafka);
    command->footer(
        "With --bootstrap or --bootstrap-file, `up` uses that Kafka (its topics made by\n"
        "`usage-ledger topics create` or `usage-ledger broker`) instead of starting the embedded\n"
        "broker, and writes no bootstrap file: events acknowledged by that Kafka survive a crash\n"
        "of `up` and are recorded when it restarts.");
    command
        ->add_option("--partitions", args->partitions,
                     "Partitions per topic of the embedded broker")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    command->add_flag("--demo", args->demo,
                      "Publish demo tenants on several plans and send them traffic that crosses "
                      "the 80 / 95 / 100 % thresholds within minutes");
    command
        ->add_option("--config", args->config, "Plans file (default: the built-in example plans)")
        ->check(CLI::ExistingFile);
    add_api_options(*command, args->api);
    command->add_flag("--lenient", args->lenient,
                      "Accept unknown top-level fields in events (default: strict, they are "
                      "invalid); ledger and POST /v1/events alike");
    add_max_event_age_option(*command, args->max_event_age_us);
    command
        ->add_option("--sync", args->sync,
                     "The ledger fsyncs every batch (true: durable; false: faster, a machine "
                     "crash may lose the last batches)")
        ->capture_default_str();
    add_min_free_disk_option(*command, args->min_free_disk);
    command
        ->add_option("--on-component-failure", args->on_failure,
                     "When the ledger or the projection stops on an error (logged at once): "
                     "exit (status 1, for a supervisor to restart) or serve (stay up, /healthz "
                     "and /readyz 503 naming it, ingest 503)")
        ->check(CLI::IsMember({"exit", "serve"}))
        ->capture_default_str();
    command
        ->add_option("--test-fail-ledger-after-batches", args->test_fail_ledger_after_batches,
                     "Tests only: the ledger's store write fails after this many batches")
        ->group("");  // hidden from --help
    command->callback([args, &run] { run = [args] { return run_up(*args); }; });
}

}  // namespace ul::ops
