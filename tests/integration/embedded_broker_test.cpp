// The embedded broker speaks the real Kafka protocol: a second, independent librdkafka client
// (the plain C API, none of our wrappers) sees its topics and round-trips messages through it.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <set>
#include <string>

#include "consumers/embedded_broker.h"
#include "producers/usage_producer.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;

rd_kafka_conf_t* plain_config(const std::string& bootstrap) {
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    return conf;
}

TEST(EmbeddedBroker, AnIndependentClientSeesTopicsAndRoundTripsMessages) {
    auto broker = ul::kafka::EmbeddedBroker::start({});
    ASSERT_TRUE(broker) << broker.error();
    const std::string bootstrap = (*broker)->bootstrap();
    ASSERT_NE(bootstrap.find("127.0.0.1:"), std::string::npos) << bootstrap;

    char error[256];
    rd_kafka_t* producer =
        rd_kafka_new(RD_KAFKA_PRODUCER, plain_config(bootstrap), error, sizeof error);
    ASSERT_NE(producer, nullptr) << error;
    const rd_kafka_metadata_t* metadata = nullptr;
    ASSERT_EQ(rd_kafka_metadata(producer, 1, nullptr, &metadata, 10000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    std::set<std::string> topics;
    for (int index = 0; index < metadata->topic_cnt; ++index) {
        topics.insert(metadata->topics[index].topic);
        if (std::string(metadata->topics[index].topic) == "usage.events") {
            EXPECT_EQ(metadata->topics[index].partition_cnt, 16);
        }
    }
    rd_kafka_metadata_destroy(metadata);
    for (const char* expected :
         {"usage.events", "usage.events.dlq", "usage.ledger", "usage.alerts", "usage.accounts"}) {
        EXPECT_EQ(topics.count(expected), 1U) << expected;
    }

    constexpr int kMessages = 500;
    for (int index = 0; index < kMessages; ++index) {
        const std::string value = "message-" + std::to_string(index);
        const std::string key = "tenant-" + std::to_string(index % 7);
        ASSERT_EQ(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("usage.events"),
                                    RD_KAFKA_V_KEY(key.data(), key.size()),
                                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(rd_kafka_flush(producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(producer);

    rd_kafka_conf_t* conf = plain_config(bootstrap);
    rd_kafka_conf_set(conf, "group.id", "independent", error, sizeof error);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", error, sizeof error);
    rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    ASSERT_NE(consumer, nullptr) << error;
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t* subscription = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subscription, "usage.events", RD_KAFKA_PARTITION_UA);
    ASSERT_EQ(rd_kafka_subscribe(consumer, subscription), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(subscription);
    std::set<std::string> received;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (received.size() < kMessages && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
        if (message == nullptr) {
            continue;
        }
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            received.insert(std::string(static_cast<const char*>(message->payload), message->len));
        }
        rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    EXPECT_EQ(received.size(), static_cast<std::size_t>(kMessages));
}

TEST(UsageProducer, RecordsValidatesAndSurfacesAFullQueue) {
    auto broker = ul::kafka::EmbeddedBroker::start({});
    ASSERT_TRUE(broker) << broker.error();
    ul::ProducerOptions options;
    options.bootstrap = (*broker)->bootstrap();
    auto producer = ul::UsageProducer::create(options);
    ASSERT_TRUE(producer) << producer.error();
    ASSERT_TRUE((*producer)->wait_for_cluster(10000));

    ul::UsageRecord record;
    record.tenant_id = "acme";
    record.meter = "tokens";
    record.quantity = "1500";
    auto delivery = (*producer)->record(record);
    ASSERT_TRUE((*producer)->flush(30000));
    const auto report = delivery.get();
    EXPECT_TRUE(report.ok) << report.error;
    EXPECT_GE(report.offset, 0);

    // Invalid: refused at once, with its reason, never queued.
    ul::UsageRecord invalid = record;
    invalid.tenant_id = "acme corp";
    auto refused = (*producer)->record(invalid, [](const ul::DeliveryReport&) {});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ul::ProduceErrorCode::invalid_event);
    EXPECT_EQ(refused.error().detail.rfind("bad_tenant", 0), 0U) << refused.error().detail;
    EXPECT_EQ((*producer)->in_flight(), 0U);

    // A tiny queue answers queue_full instead of blocking.
    options.max_in_flight_messages = 3;
    options.linger_ms = 1000;
    auto small = ul::UsageProducer::create(options);
    ASSERT_TRUE(small) << small.error();
    bool saw_full = false;
    for (int index = 0; index < 10 && !saw_full; ++index) {
        auto sent = (*small)->produce_raw("acme", "{}", static_cast<std::uint64_t>(index));
        saw_full = !sent && sent.error().code == ul::ProduceErrorCode::queue_full;
    }
    EXPECT_TRUE(saw_full);
    ASSERT_TRUE((*small)->flush(30000));
}

}  // namespace
