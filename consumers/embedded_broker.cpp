#include "consumers/embedded_broker.h"

#include <librdkafka/rdkafka_mock.h>

namespace ul::kafka {

Result<std::unique_ptr<EmbeddedBroker>, std::string> EmbeddedBroker::start(const Options& options) {
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
    for (const auto& topic : options.topics) {
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
