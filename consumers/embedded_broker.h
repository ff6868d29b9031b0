// EmbeddedBroker: librdkafka's mock cluster — the real Kafka protocol on a loopback TCP port that
// any Kafka client can use — with usage-ledger's topics created. It keeps data in memory only and
// drops the oldest message sets past ~5 MiB per partition: a buffer for laptops, tests and CI,
// never a store. Lifecycle: start() → bootstrap() → destructor stops it. Thread-safe to use from
// any client; the object itself is not shared.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "consumers/kafka.h"
#include "schemas/result.h"

struct rd_kafka_mock_cluster_s;

namespace ul::kafka {

struct TopicSpec {
    std::string name;
    int partitions = 16;
};

class EmbeddedBroker {
  public:
    struct Options {
        int broker_count = 1;
        std::vector<TopicSpec> topics = {{"usage.events", 16},
                                         {"usage.events.dlq", 16},
                                         {"usage.ledger", 16},
                                         {"usage.alerts", 16},
                                         {"usage.accounts", 16}};
    };

    static Result<std::unique_ptr<EmbeddedBroker>, std::string> start(const Options& options);
    ~EmbeddedBroker();
    EmbeddedBroker(const EmbeddedBroker&) = delete;
    EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

    // HOST:PORT[,HOST:PORT] of the mock brokers (loopback, a port chosen by the system).
    const std::string& bootstrap() const { return bootstrap_; }

  private:
    EmbeddedBroker() = default;
    Handle handle_;  // the client instance that hosts the mock cluster
    rd_kafka_mock_cluster_s* cluster_ = nullptr;
    std::string bootstrap_;
};

}  // namespace ul::kafka
