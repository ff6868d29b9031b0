// EmbeddedBroker: librdkafka's mock cluster — the real Kafka protocol on a loopback TCP port that
// any Kafka client can use — with usage-ledger's topics created. It keeps data in memory only and
// drops the oldest message sets past 5 MiB or 100,000 message sets per partition: a buffer for
// laptops, tests and CI, never a store.
// Facts of librdkafka 2.0.2's mock (read in its source, see consumers/README.md): the port is
// always chosen by the kernel (no API picks one); a Metadata request naming an unknown topic
// creates that topic with 4 partitions — unless the client says allow.auto.create.topics=false
// and honour_allow_auto_create is on (the default here) — so create every topic up front.
// Lifecycle: start() → bootstrap() → destructor stops it and drops every message; connected
// clients see their connections close. The mock serves clients on its own thread; this object
// is owned by one thread.
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
        // Let clients' allow.auto.create.topics=false stop the creation of unknown topics, as
        // on real Kafka (UsageProducer and librdkafka consumers say false; most producers true).
        bool honour_allow_auto_create = true;
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

    // HOST:PORT[,HOST:PORT] of the mock brokers (127.0.0.1, ports chosen by the kernel).
    const std::string& bootstrap() const { return bootstrap_; }

    // The mock cluster itself, for fault injection in tests (rdkafka_mock.h: set a broker down,
    // add round-trip time, push request errors). Valid while this object lives.
    rd_kafka_mock_cluster_s* mock_cluster() const { return cluster_; }

  private:
    EmbeddedBroker() = default;
    Handle handle_;  // the client instance that hosts the mock cluster
    rd_kafka_mock_cluster_s* cluster_ = nullptr;
    std::string bootstrap_;
};

}  // namespace ul::kafka
