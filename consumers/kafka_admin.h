// librdkafka's Admin API at the edge: create usage-ledger's topics, read what exists (metadata:
// partitions, replication factor) and a topic's configuration (DescribeConfigs). Every C handle
// (new topics, admin options, config resources, events) is owned by a unique_ptr with a deleter;
// expected failures are values, "<what>: <librdkafka's reason>". The comparison of an existing
// topic with what it should be is pure (`topic_difference`, `partition_mismatch`).
// Threading: a KafkaAdmin is thread-safe as librdkafka's handle is, but each call waits on its
// own result queue; callers on one thread is the intended use.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "consumers/kafka.h"
#include "schemas/result.h"

namespace ul::kafka {

struct NewTopicDeleter {
    void operator()(rd_kafka_NewTopic_t* topic) const { rd_kafka_NewTopic_destroy(topic); }
};
struct AdminOptionsDeleter {
    void operator()(rd_kafka_AdminOptions_t* options) const {
        rd_kafka_AdminOptions_destroy(options);
    }
};
struct ConfigResourceDeleter {
    void operator()(rd_kafka_ConfigResource_t* resource) const {
        rd_kafka_ConfigResource_destroy(resource);
    }
};
struct EventDeleter {
    void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
using NewTopic = std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>;
using AdminOptions = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;
using ConfigResource = std::unique_ptr<rd_kafka_ConfigResource_t, ConfigResourceDeleter>;
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// A topic as usage-ledger wants it. `check_partitions`: an existing topic with another count is
// an error (usage.events and usage.ledger: an entry goes to the partition of its source event).
struct UsageTopic {
    std::string name;
    int partitions = 16;
    int replication_factor = 1;
    Properties configs;  // set at creation, e.g. cleanup.policy=compact
    bool check_partitions = false;
    std::optional<std::string> required_cleanup_policy;  // checked on an existing topic
};

// usage.events, usage.events.dlq, usage.ledger, usage.alerts, usage.accounts (compacted), each
// with `partitions` and `replication_factor`; min.insync.replicas = replication_factor - 1 when
// replication_factor > 1.
std::vector<UsageTopic> usage_topics(int partitions, int replication_factor);

// A topic as the cluster reports it.
struct TopicState {
    int partitions = 0;
    int replication_factor = 0;  // replicas of partition 0
};

// What differs between `spec` and an existing topic, in words naming the topic ("usage.events
// has 4 partitions, expected 8 (--partitions)"); nullopt when nothing that matters differs.
// `cleanup_policy`: nullopt when it could not be read (then it is not judged here).
std::optional<std::string> topic_difference(const UsageTopic& spec, const TopicState& actual,
                                            const std::optional<std::string>& cleanup_policy);

// When both topics exist (count > 0) with different partition counts: "<a> has N partitions but
// <b> has M: they must match (...)". nullopt otherwise.
std::optional<std::string> partition_mismatch(const std::string& topic_a, int partitions_a,
                                              const std::string& topic_b, int partitions_b);

// The state of `topic` per `metadata`; nullopt when it is absent or reported with an error.
std::optional<TopicState> topic_state(const rd_kafka_metadata_t& metadata,
                                      const std::string& topic);

class KafkaAdmin {
  public:
    enum class Created { created, exists };

    // A client for `bootstrap` with `settings` (--kafka-config) that has seen the cluster answer
    // within `timeout_ms` (the error is wait_for_cluster's).
    static Result<std::unique_ptr<KafkaAdmin>, std::string> connect(const std::string& bootstrap,
                                                                    const Properties& settings,
                                                                    int timeout_ms);

    // Metadata of all topics (never auto-creates one).
    Result<Metadata, std::string> metadata(int timeout_ms);

    // Creates `spec`; an existing topic is `exists`, not an error. Error: "cannot create <topic>:
    // <broker's reason>". The broker answers once the topic is created (operation timeout).
    Result<Created, std::string> create_topic(const UsageTopic& spec, int timeout_ms);

    // The topic's configuration entries by name. Error: "cannot describe the configuration of
    // <topic>: <reason>"; `unsupported` is set when the broker does not implement
    // DescribeConfigs or no broker acts as controller within `timeout_ms` (librdkafka's
    // embedded mock cluster: it names no controller, so the request times out).
    struct DescribeError {
        std::string message;
        bool unsupported = false;
    };
    Result<std::map<std::string, std::string>, DescribeError> topic_config(const std::string& topic,
                                                                           int timeout_ms);

    rd_kafka_t* handle() const { return handle_.get(); }

  private:
    KafkaAdmin(Handle handle, std::string bootstrap)
        : handle_(std::move(handle)), bootstrap_(std::move(bootstrap)) {}
    Handle handle_;
    std::string bootstrap_;
};

}  // namespace ul::kafka
