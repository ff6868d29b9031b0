// `usage-ledger topics create`: creates usage-ledger's five topics on a real cluster through
// librdkafka's Admin API (consumers/kafka_admin.h), or finds them already there and checks what
// matters: usage.events and usage.ledger have --partitions partitions (so they match each
// other), usage.accounts is compacted. Nothing is created when an existing topic differs.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "consumers/kafka_admin.h"
#include "ops/cli.h"

namespace ul::ops {
namespace {

constexpr int kTimeoutMs = 30'000;
constexpr int kDescribeTimeoutMs = 10'000;

struct TopicsArgs {
    KafkaOptions kafka;
    int partitions = 16;
    int replication_factor = 1;
};

struct TopicOutcome {
    kafka::UsageTopic spec;
    std::optional<kafka::TopicState> existing;  // before this run created anything
    bool created = false;
    std::string unchecked;  // a setting the broker could not be asked about
};

// The cleanup.policy of `topic`; nullopt with `unchecked` set when the broker cannot describe
// configurations (the embedded broker). Error: any other failure.
Result<std::optional<std::string>, std::string> cleanup_policy(kafka::KafkaAdmin& admin,
                                                               const std::string& topic,
                                                               std::string& unchecked) {
    auto config = admin.topic_config(topic, kDescribeTimeoutMs);
    if (!config) {
        if (!config.error().unsupported) {
            return unexpected(config.error().message);
        }
        unchecked = "cleanup.policy";
        spdlog::warn(
            "topics: cleanup.policy of {} not checked: the broker does not answer "
            "DescribeConfigs ({}); the embedded broker has no controller, keeps topics in "
            "memory and never compacts",
            topic, config.error().message);
        return std::optional<std::string>();
    }
    const auto found = config->find("cleanup.policy");
    if (found == config->end()) {
        return std::optional<std::string>("delete");  // Kafka's default
    }
    return std::optional<std::string>(found->second);
}

// The difference of an existing topic, or nullopt; error when it cannot be read.
Result<std::optional<std::string>, std::string> check_existing(kafka::KafkaAdmin& admin,
                                                               TopicOutcome& outcome) {
    std::optional<std::string> policy;
    if (outcome.spec.required_cleanup_policy) {
        auto read = cleanup_policy(admin, outcome.spec.name, outcome.unchecked);
        if (!read) {
            return unexpected(read.error());
        }
        policy = *read;
    }
    return kafka::topic_difference(outcome.spec, *outcome.existing, policy);
}

// Metadata in which every topic of `outcomes` is visible, polled until the deadline (a created
// topic reaches every broker's metadata shortly after the controller answers).
Result<kafka::Metadata, std::string> metadata_with_all(kafka::KafkaAdmin& admin,
                                                       const std::vector<TopicOutcome>& outcomes) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    std::string missing;
    while (true) {
        auto metadata = admin.metadata(5000);
        if (!metadata) {
            return metadata;
        }
        missing.clear();
        for (const auto& outcome : outcomes) {
            if (!kafka::topic_state(**metadata, outcome.spec.name)) {
                missing += (missing.empty() ? "" : ", ") + outcome.spec.name;
            }
        }
        if (missing.empty()) {
            return metadata;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return unexpected("created but not in the cluster's metadata within " +
                              kafka::format_seconds(kTimeoutMs) + ": " + missing);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a poll, bounded above
    }
}

void print_outcome(const TopicOutcome& outcome, const kafka::TopicState& state) {
    std::string line = "{\"topic\":\"" + outcome.spec.name +
                       "\",\"partitions\":" + std::to_string(state.partitions) +
                       ",\"replication_factor\":" + std::to_string(state.replication_factor) +
                       ",\"status\":\"" + (outcome.created ? "created" : "exists") + "\"";
    if (!outcome.unchecked.empty()) {
        line += ",\"unchecked\":\"" + outcome.unchecked + "\"";
    }
    line += "}\n";
    std::fputs(line.c_str(), stdout);
}

int run_topics_create(const TopicsArgs& args) {
    const std::string bootstrap = resolve_bootstrap_or_throw(args.kafka);
    const auto settings = kafka_settings_or_throw(args.kafka);
    auto admin = kafka::KafkaAdmin::connect(bootstrap, settings, kTimeoutMs);
    if (!admin) {
        spdlog::error("topics: {}", admin.error());
        return kExitFailure;
    }
    auto before = (*admin)->metadata(kTimeoutMs);
    if (!before) {
        spdlog::error("topics: {}", before.error());
        return kExitFailure;
    }
    std::vector<TopicOutcome> outcomes;
    std::string differences;
    for (auto& spec : kafka::usage_topics(args.partitions, args.replication_factor)) {
        TopicOutcome outcome;
        outcome.spec = std::move(spec);
        outcome.existing = kafka::topic_state(**before, outcome.spec.name);
        if (outcome.existing) {
            auto difference = check_existing(**admin, outcome);
            if (!difference) {
                spdlog::error("topics: {}", difference.error());
                return kExitFailure;
            }
            if (*difference) {
                differences += (differences.empty() ? "" : "; ") + **difference;
            }
        }
        outcomes.push_back(std::move(outcome));
    }
    if (!differences.empty()) {
        spdlog::error("topics: {}; nothing was created", differences);
        return kExitFailure;
    }
    for (auto& outcome : outcomes) {
        if (outcome.existing) {
            continue;
        }
        auto created = (*admin)->create_topic(outcome.spec, kTimeoutMs);
        if (!created) {
            spdlog::error("topics: {}", created.error());
            return kExitFailure;
        }
        outcome.created = *created == kafka::KafkaAdmin::Created::created;
        spdlog::info("topics: {} {}", outcome.spec.name,
                     outcome.created ? "created" : "created meanwhile by another client");
    }
    auto after = metadata_with_all(**admin, outcomes);
    if (!after) {
        spdlog::error("topics: {}", after.error());
        return kExitFailure;
    }
    for (auto& outcome : outcomes) {
        const auto state = *kafka::topic_state(**after, outcome.spec.name);
        if (!outcome.existing && !outcome.created) {  // another client won the race: check it
            outcome.existing = state;
            auto difference = check_existing(**admin, outcome);
            if (!difference || *difference) {
                spdlog::error("topics: {}", difference ? **difference : difference.error());
                return kExitFailure;
            }
        }
    }
    for (const auto& outcome : outcomes) {
        print_outcome(outcome, *kafka::topic_state(**after, outcome.spec.name));
    }
    std::fflush(stdout);
    return kExitOk;
}

}  // namespace

void add_topics_command(CLI::App& app, CommandRunner& run) {
    auto* topics = app.add_subcommand("topics", "Manage usage-ledger's Kafka topics");
    topics->require_subcommand(1);
    auto args = std::make_shared<TopicsArgs>();
    auto* create = topics->add_subcommand(
        "create",
        "Create usage.events, usage.events.dlq, usage.ledger, usage.alerts and usage.accounts\n"
        "(cleanup.policy=compact) with --partitions partitions and --replication-factor replicas\n"
        "each (min.insync.replicas = replication factor - 1 when it is above 1), through Kafka's\n"
        "Admin API. An existing topic is not an error: it is checked instead (usage.events and\n"
        "usage.ledger must have --partitions partitions, usage.accounts must be compacted); when\n"
        "one differs, nothing is created and the command exits 1 naming the topic and the\n"
        "difference. Prints one JSON line per topic: {\"topic\",\"partitions\",\n"
        "\"replication_factor\",\"status\":\"created\"|\"exists\"} (plus \"unchecked\":\n"
        "\"cleanup.policy\" when the broker cannot describe configurations, as the embedded\n"
        "broker cannot). Existing topics are never altered. Waits up to 30 s for the cluster.");
    add_kafka_options(*create, args->kafka);
    create->add_option("--partitions", args->partitions, "Partitions per topic")
        ->check(CLI::Range(1, 10'000))
        ->capture_default_str();
    create
        ->add_option("--replication-factor", args->replication_factor,
                     "Replicas per partition (at most the number of brokers)")
        ->check(CLI::Range(1, 32))
        ->capture_default_str();
    create->callback([args, &run] { run = [args] { return run_topics_create(*args); }; });
}

}  // namespace ul::ops
