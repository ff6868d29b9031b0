#include "consumers/kafka_admin.h"

#include <array>
#include <chrono>
#include <string>

#include "schemas/check.h"

namespace ul::kafka {

namespace {

constexpr std::size_t kErrorTextBytes = 512;

// The queue's next event within `timeout_ms`, or nullptr when none came.
Event wait_for_event(rd_kafka_queue_t* queue, int timeout_ms) {
    return Event(rd_kafka_queue_poll(queue, timeout_ms));
}

Result<AdminOptions, std::string> make_admin_options(rd_kafka_t* handle, rd_kafka_admin_op_t op,
                                                     int timeout_ms) {
    AdminOptions options(rd_kafka_AdminOptions_new(handle, op));
    std::array<char, kErrorTextBytes> error_text{};
    if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, error_text.data(),
                                                  error_text.size()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected(std::string("admin request timeout: ") + error_text.data());
    }
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS &&
        rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, error_text.data(),
                                                    error_text.size()) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected(std::string("admin operation timeout: ") + error_text.data());
    }
    return options;
}

bool is_unsupported(rd_kafka_resp_err_t error) {
    return error == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
           error == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION ||
           error == RD_KAFKA_RESP_ERR_INVALID_REQUEST;
}

}  // namespace

std::vector<UsageTopic> usage_topics(int partitions, int replication_factor) {
    UL_CHECK(partitions > 0 && replication_factor > 0, "topics need partitions and replicas");
    Properties common;
    if (replication_factor > 1) {
        common.emplace_back("min.insync.replicas", std::to_string(replication_factor - 1));
    }
    std::vector<UsageTopic> topics;
    for (const char* name :
         {"usage.events", "usage.events.dlq", "usage.ledger", "usage.alerts", "usage.accounts"}) {
        const std::string topic = name;
        UsageTopic spec;
        spec.name = topic;
        spec.partitions = partitions;
        spec.replication_factor = replication_factor;
        spec.configs = common;
        spec.check_partitions = topic == "usage.events" || topic == "usage.ledger";
        if (topic == "usage.accounts") {
            spec.configs.emplace_back("cleanup.policy", "compact");
            spec.required_cleanup_policy = "compact";
        }
        topics.push_back(std::move(spec));
    }
    return topics;
}

std::optional<std::string> topic_difference(const UsageTopic& spec, const TopicState& actual,
                                            const std::optional<std::string>& cleanup_policy) {
    std::string differences;
    const auto add = [&differences](const std::string& text) {
        differences += differences.empty() ? text : "; " + text;
    };
    if (spec.check_partitions && actual.partitions != spec.partitions) {
        add(spec.name + " has " + std::to_string(actual.partitions) + " partitions, expected " +
            std::to_string(spec.partitions) +
            " (--partitions; usage.events and usage.ledger must have the same count)");
    }
    if (spec.required_cleanup_policy && cleanup_policy &&
        *cleanup_policy != *spec.required_cleanup_policy) {
        add(spec.name + " has cleanup.policy=" + *cleanup_policy + ", expected " +
            *spec.required_cleanup_policy);
    }
    if (differences.empty()) {
        return std::nullopt;
    }
    return differences;
}

std::optional<std::string> partition_mismatch(const std::string& topic_a, int partitions_a,
                                              const std::string& topic_b, int partitions_b) {
    if (partitions_a <= 0 || partitions_b <= 0 || partitions_a == partitions_b) {
        return std::nullopt;
    }
    return topic_a + " has " + std::to_string(partitions_a) + " partitions but " + topic_b +
           " has " + std::to_string(partitions_b) +
           ": they must match (an entry goes to the partition of its source event)";
}

std::optional<TopicState> topic_state(const rd_kafka_metadata_t& metadata,
                                      const std::string& topic) {
    for (int i = 0; i < metadata.topic_cnt; ++i) {
        const rd_kafka_metadata_topic_t& candidate = metadata.topics[i];
        if (candidate.topic == nullptr || topic != candidate.topic) {
            continue;
        }
        if (candidate.err != RD_KAFKA_RESP_ERR_NO_ERROR || candidate.partition_cnt <= 0) {
            return std::nullopt;
        }
        return TopicState{.partitions = candidate.partition_cnt,
                          .replication_factor = candidate.partitions[0].replica_cnt};
    }
    return std::nullopt;
}

Result<std::unique_ptr<KafkaAdmin>, std::string> KafkaAdmin::connect(const std::string& bootstrap,
                                                                     const Properties& settings,
                                                                     int timeout_ms) {
    auto config = make_config(with_settings(
        {{"bootstrap.servers", bootstrap}, {"client.id", "usage-ledger-admin"}}, settings));
    if (!config) {
        return unexpected(config.error());
    }
    auto handle = make_handle(RD_KAFKA_PRODUCER, std::move(config).value());
    if (!handle) {
        return unexpected(handle.error());
    }
    if (auto reachable = wait_for_cluster(handle->get(), bootstrap, timeout_ms); !reachable) {
        return unexpected(reachable.error());
    }
    return std::unique_ptr<KafkaAdmin>(new KafkaAdmin(std::move(handle).value(), bootstrap));
}

Result<Metadata, std::string> KafkaAdmin::metadata(int timeout_ms) {
    const rd_kafka_metadata_t* answer = nullptr;
    const auto error = rd_kafka_metadata(handle_.get(), 1, nullptr, &answer, timeout_ms);
    Metadata owned(answer);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected("cannot read the topics of " + bootstrap_ + ": " +
                          rd_kafka_err2str(error));
    }
    return owned;
}

Result<KafkaAdmin::Created, std::string> KafkaAdmin::create_topic(const UsageTopic& spec,
                                                                  int timeout_ms) {
    const std::string what = "cannot create " + spec.name;
    std::array<char, kErrorTextBytes> error_text{};
    NewTopic topic(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                         spec.replication_factor, error_text.data(),
                                         error_text.size()));
    if (!topic) {
        return unexpected(what + ": " + error_text.data());
    }
    for (const auto& [name, value] : spec.configs) {
        if (const auto error =
                rd_kafka_NewTopic_set_config(topic.get(), name.c_str(), value.c_str());
            error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return unexpected(what + ": " + name + "=" + value + ": " + rd_kafka_err2str(error));
        }
    }
    auto options = make_admin_options(handle_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
    if (!options) {
        return unexpected(what + ": " + options.error());
    }
    Queue queue(rd_kafka_queue_new(handle_.get()));
    rd_kafka_NewTopic_t* topics[] = {topic.get()};
    rd_kafka_CreateTopics(handle_.get(), topics, 1, options->get(), queue.get());
    // The request itself is bounded by the timeouts above; the extra second lets its own
    // timeout error arrive rather than this wait's.
    Event event = wait_for_event(queue.get(), timeout_ms + 1000);
    if (!event) {
        return unexpected(what + ": no answer within " + format_seconds(timeout_ms));
    }
    if (const auto error = rd_kafka_event_error(event.get()); error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected(what + ": " + rd_kafka_event_error_string(event.get()));
    }
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    if (result == nullptr) {
        return unexpected(what + ": unexpected answer " + rd_kafka_event_name(event.get()));
    }
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto error = rd_kafka_topic_result_error(results[i]);
        if (error == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return Created::created;
        }
        if (error == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            return Created::exists;
        }
        const char* detail = rd_kafka_topic_result_error_string(results[i]);
        return unexpected(what + ": " + (detail != nullptr ? detail : rd_kafka_err2str(error)));
    }
    return unexpected(what + ": the answer names no topic");
}

Result<std::map<std::string, std::string>, KafkaAdmin::DescribeError> KafkaAdmin::topic_config(
    const std::string& topic, int timeout_ms) {
    const std::string what = "cannot describe the configuration of " + topic;
    ConfigResource resource(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
    auto options = make_admin_options(handle_.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    if (!options) {
        return unexpected(DescribeError{what + ": " + options.error()});
    }
    Queue queue(rd_kafka_queue_new(handle_.get()));
    rd_kafka_ConfigResource_t* resources[] = {resource.get()};
    rd_kafka_DescribeConfigs(handle_.get(), resources, 1, options->get(), queue.get());
    Event event = wait_for_event(queue.get(), timeout_ms + 1000);
    if (!event) {
        return unexpected(DescribeError{what + ": no answer within " + format_seconds(timeout_ms)});
    }
    if (const auto error = rd_kafka_event_error(event.get()); error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string detail = rd_kafka_event_error_string(event.get());
        // librdkafka sends DescribeConfigs to the controller; the embedded mock cluster names
        // none, so the request times out waiting for one.
        const bool no_controller =
            error == RD_KAFKA_RESP_ERR__TIMED_OUT && detail.find("controller") != std::string::npos;
        return unexpected(
            DescribeError{what + ": " + detail, is_unsupported(error) || no_controller});
    }
    const rd_kafka_DescribeConfigs_result_t* result =
        rd_kafka_event_DescribeConfigs_result(event.get());
    if (result == nullptr) {
        return unexpected(
            DescribeError{what + ": unexpected answer " + rd_kafka_event_name(event.get())});
    }
    std::size_t count = 0;
    const rd_kafka_ConfigResource_t** described =
        rd_kafka_DescribeConfigs_result_resources(result, &count);
    if (count == 0) {
        return unexpected(DescribeError{what + ": the answer names no topic"});
    }
    if (const auto error = rd_kafka_ConfigResource_error(described[0]);
        error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* detail = rd_kafka_ConfigResource_error_string(described[0]);
        return unexpected(
            DescribeError{what + ": " + (detail != nullptr ? detail : rd_kafka_err2str(error)),
                          is_unsupported(error)});
    }
    std::map<std::string, std::string> entries;
    std::size_t entry_count = 0;
    const rd_kafka_ConfigEntry_t** configs =
        rd_kafka_ConfigResource_configs(described[0], &entry_count);
    for (std::size_t i = 0; i < entry_count; ++i) {
        const char* name = rd_kafka_ConfigEntry_name(configs[i]);
        const char* value = rd_kafka_ConfigEntry_value(configs[i]);
        if (name != nullptr) {
            entries[name] = value != nullptr ? value : "";
        }
    }
    return entries;
}

}  // namespace ul::kafka
