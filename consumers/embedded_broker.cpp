#include "consumers/embedded_broker.h"

#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <set>

namespace ul::kafka {
namespace {

constexpr std::int16_t kMetadataApiKey = 3;  // RD_KAFKAP_Metadata (not in the public headers)
constexpr std::int16_t kMetadataMaxVersion = 4;

// librdkafka's mock checks none of this (0 brokers gives an empty bootstrap, 0 partitions a
// topic nobody can use), so refuse nonsense here, as values.
Result<bool, std::string> check_options(const EmbeddedBroker::Options& options) {
    if (options.broker_count < 1 || options.broker_count > 16) {
        return unexpected("broker_count must be 1..16, not " +
                          std::to_string(options.broker_count));
    }
    std::set<std::string> names;
    for (const auto& topic : options.topics) {
        const bool legal =
            !topic.name.empty() && topic.name.size() <= 249 &&
            topic.name.find_first_not_of(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                std::string::npos;
        if (!legal) {
            return unexpected("topic name must be 1..249 of [A-Za-z0-9._-]: '" + topic.name + "'");
        }
        if (topic.partitions < 1 || topic.partitions > 10'000) {
            return unexpected("topic " + topic.name + ": partitions must be 1..10000, not " +
                              std::to_string(topic.partitions));
        }
        if (!names.insert(topic.name).second) {
            return unexpected("topic " + topic.name + " is listed twice");
        }
    }
    return true;
}

}  // namespace

Result<std::unique_ptr<EmbeddedBroker>, std::string> EmbeddedBroker::start(const Options& options) {
    auto checked = check_options(options);
    if (!checked) {
        return unexpected(checked.error());
    }
    // The mock cluster lives inside a client instance; a producer that never produces will do.
    // log_level 4: its own client never connects anywhere, so skip the "no bootstrap.servers" note.
    auto config = make_config({{"client.id", "usage-ledger-embedded-broker"}, {"log_level", "4"}});
    if (!config) {
        return unexpected(config.error());
    }
    auto handle = make_handle(RD_KAFKA_PRODUCER, std::move(config).value());
    if (!handle) {
        return unexpected(handle.error());
    }
    std::unique_ptr<EmbeddedBroker> broker(new EmbeddedBroker());
    broker->handle_ = std::move(handle).value();
    broker->cluster_ = rd_kafka_mock_cluster_new(broker->handle_.get(), options.broker_count);
    if (broker->cluster_ == nullptr) {
        return unexpected(std::string("cannot start librdkafka's mock cluster"));
    }
    if (options.honour_allow_auto_create) {
        // 2.0.2's mock answers Metadata only up to v2, which has no AllowAutoTopicCreation field,
        // so it creates every unknown topic a client names, whatever the client asked. From v4
        // the field is sent and the mock's handler obeys it (that code is in 2.0.2; later
        // librdkafka releases enable up to v12). librdkafka 2.0.2 clients ask for at most v4.
        const auto error =
            rd_kafka_mock_set_apiversion(broker->cluster_, kMetadataApiKey, 0, kMetadataMaxVersion);
        if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return unexpected(std::string("cannot raise the mock's Metadata version: ") +
                              rd_kafka_err2str(error));
        }
    }
    for (const auto& topic : options.topics) {
        // Replication factor 1: one in-memory copy is all the mock's data ever has.
        const auto error =
            rd_kafka_mock_topic_create(broker->cluster_, topic.name.c_str(), topic.partitions, 1);
        if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return unexpected("cannot create topic " + topic.name + ": " + rd_kafka_err2str(error));
        }
    }
    broker->bootstrap_ = rd_kafka_mock_cluster_bootstraps(broker->cluster_);
    return broker;
}

EmbeddedBroker::~EmbeddedBroker() {
    if (cluster_ != nullptr) {
        rd_kafka_mock_cluster_destroy(cluster_);
    }
}

}  // namespace ul::kafka
