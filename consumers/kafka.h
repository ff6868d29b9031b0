// librdkafka at the edge: every C handle owned by a unique_ptr with a deleter, configuration
// that reports a bad property as a value, a bounded wait for the cluster, and librdkafka's own
// log routed to spdlog. Handles are thread-safe as librdkafka's are; the helpers are stateless.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schemas/result.h"

namespace ul::kafka {

struct HandleDeleter {
    void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct ConfigDeleter {
    void operator()(rd_kafka_conf_t* config) const { rd_kafka_conf_destroy(config); }
};
struct PartitionListDeleter {
    void operator()(rd_kafka_topic_partition_list_t* list) const {
        rd_kafka_topic_partition_list_destroy(list);
    }
};
struct MessageDeleter {
    void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct HeadersDeleter {
    void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
struct QueueDeleter {
    void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct MetadataDeleter {
    void operator()(const rd_kafka_metadata_t* metadata) const {
        rd_kafka_metadata_destroy(metadata);
    }
};

using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using Config = std::unique_ptr<rd_kafka_conf_t, ConfigDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using Headers = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

using Properties = std::vector<std::pair<std::string, std::string>>;

// A configuration with `properties` set, and librdkafka's log routed to spdlog.
// Error: "<property>=<value>: <librdkafka's reason>".
Result<Config, std::string> make_config(const Properties& properties);

// Connection and authentication settings a user adds for a real cluster (`--kafka-config
// KEY=VALUE`): security.protocol, sasl.*, ssl.* and client.dns.lookup. Anything else is refused
// (naming it), so the guarantees set in code (idempotence, acks, offsets in RocksDB) cannot be
// weakened from the command line.
Result<Properties, std::string> parse_connection_settings(const std::vector<std::string>& pairs);
// `base` followed by `settings` (librdkafka applies them in order).
Properties with_settings(Properties base, const Properties& settings);

// A producer or consumer from `config` (which it takes over).
Result<Handle, std::string> make_handle(rd_kafka_type_t type, Config config);

// Waits up to `timeout_ms` for the cluster to answer a metadata request for all topics (which
// never auto-creates a topic). Error: "cannot reach Kafka at <bootstrap> within N s: <reason>".
Result<Metadata, std::string> wait_for_cluster(rd_kafka_t* handle, const std::string& bootstrap,
                                               int timeout_ms);

// Asks the cluster where `topic`'s partitions live, through the producer `handle`, so that its
// first message does not wait for that lookup (it cost ~0.4 s on the embedded broker). Error:
// "cannot read the metadata of <topic>: <reason>".
Result<bool, std::string> load_topic_metadata(rd_kafka_t* handle, const std::string& topic,
                                              int timeout_ms);

// Partitions of `topic` per the metadata; 0 when the topic is unknown or reported with an error.
int partition_count(const rd_kafka_metadata_t& metadata, const std::string& topic);

// The last value of the message's header `name`, nullopt when absent (empty for a null value).
std::optional<std::string_view> header_of(const rd_kafka_message_t& message, std::string_view name);

// "10 s", "0.5 s": a timeout for error text.
std::string format_seconds(int milliseconds);

}  // namespace ul::kafka
