// The embedded broker speaks the real Kafka protocol: a second, independent librdkafka client
// (the plain C API; of ours only the unique_ptr owners) sees its topics and round-trips
// messages through it, with a consumer group.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "consumers/bootstrap.h"
#include "consumers/embedded_broker.h"
#include "consumers/kafka.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::kafka::EmbeddedBroker;

const char* const kDefaultTopics[] = {"usage.events", "usage.events.dlq", "usage.ledger",
                                      "usage.alerts", "usage.accounts"};

struct ConsumerDeleter {
    void operator()(rd_kafka_t* handle) const {
        rd_kafka_consumer_close(handle);
        rd_kafka_destroy(handle);
    }
};
using Consumer = std::unique_ptr<rd_kafka_t, ConsumerDeleter>;

ul::kafka::Handle plain_client(rd_kafka_type_t type, const std::string& bootstrap,
                               const std::map<std::string, std::string>& more = {}) {
    char error[512];
    ul::kafka::Config conf(rd_kafka_conf_new());
    EXPECT_EQ(
        rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), error, sizeof error),
        RD_KAFKA_CONF_OK)
        << error;
    for (const auto& [name, value] : more) {
        EXPECT_EQ(rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error, sizeof error),
                  RD_KAFKA_CONF_OK)
            << error;
    }
    rd_kafka_t* handle = rd_kafka_new(type, conf.get(), error, sizeof error);
    EXPECT_NE(handle, nullptr) << error;
    if (handle != nullptr) {
        (void)conf.release();  // rd_kafka_new took it
    }
    return ul::kafka::Handle(handle);
}

ul::kafka::Metadata all_topics(rd_kafka_t* handle) {
    const rd_kafka_metadata_t* metadata = nullptr;
    EXPECT_EQ(rd_kafka_metadata(handle, 1, nullptr, &metadata, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    return ul::kafka::Metadata(metadata);
}

std::map<std::string, int> partitions_by_topic(const rd_kafka_metadata_t& metadata) {
    std::map<std::string, int> topics;
    for (int index = 0; index < metadata.topic_cnt; ++index) {
        topics[metadata.topics[index].topic] = metadata.topics[index].partition_cnt;
    }
    return topics;
}

TEST(EmbeddedBroker, AnIndependentClientSeesTopicsAndRoundTripsMessages) {
    auto broker = EmbeddedBroker::start({});
    ASSERT_TRUE(broker) << broker.error();
    const std::string bootstrap = (*broker)->bootstrap();
    ASSERT_EQ(bootstrap.rfind("127.0.0.1:", 0), 0U) << bootstrap;

    auto producer = plain_client(RD_KAFKA_PRODUCER, bootstrap);
    ASSERT_TRUE(producer);
    auto metadata = all_topics(producer.get());
    ASSERT_TRUE(metadata);
    EXPECT_EQ(metadata->broker_cnt, 1);
    const auto topics = partitions_by_topic(*metadata);
    for (const char* expected : kDefaultTopics) {
        ASSERT_EQ(topics.count(expected), 1U) << expected;
        EXPECT_EQ(topics.at(expected), 16) << expected;
    }

    constexpr int kMessages = 2'000;
    for (int index = 0; index < kMessages; ++index) {
        const std::string value = "message-" + std::to_string(index);
        const std::string key = "tenant-" + std::to_string(index % 37);
        ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC("usage.events"),
                                    RD_KAFKA_V_KEY(key.data(), key.size()),
                                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    producer.reset();

    Consumer consumer(plain_client(RD_KAFKA_CONSUMER, bootstrap,
                                   {{"group.id", "independent"},
                                    {"auto.offset.reset", "earliest"},
                                    {"enable.auto.commit", "false"}})
                          .release());
    ASSERT_TRUE(consumer);
    rd_kafka_poll_set_consumer(consumer.get());
    ul::kafka::PartitionList subscription(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(subscription.get(), "usage.events", RD_KAFKA_PARTITION_UA);
    ASSERT_EQ(rd_kafka_subscribe(consumer.get(), subscription.get()), RD_KAFKA_RESP_ERR_NO_ERROR);

    std::set<std::string> received;
    std::map<std::string, std::set<std::int32_t>> partitions_of_key;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (received.size() < kMessages && std::chrono::steady_clock::now() < deadline) {
        ul::kafka::Message message(rd_kafka_consumer_poll(consumer.get(), 100));
        if (!message || message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            continue;
        }
        received.insert(std::string(static_cast<const char*>(message->payload), message->len));
        partitions_of_key[std::string(static_cast<const char*>(message->key), message->key_len)]
            .insert(message->partition);
    }
    EXPECT_EQ(received.size(), static_cast<std::size_t>(kMessages));
    EXPECT_EQ(partitions_of_key.size(), 37U);
    std::set<std::int32_t> used;
    for (const auto& [key, partitions] : partitions_of_key) {
        EXPECT_EQ(partitions.size(), 1U) << key << " is spread over partitions";
        used.insert(partitions.begin(), partitions.end());
    }
    EXPECT_GT(used.size(), 1U) << "keys should spread over the 16 partitions";
}

TEST(EmbeddedBroker, OptionsChooseBrokersTopicsAndPartitions) {
    EmbeddedBroker::Options options;
    options.broker_count = 3;
    options.topics = {{"orders", 3}, {"orders.dlq", 1}};
    auto broker = EmbeddedBroker::start(options);
    ASSERT_TRUE(broker) << broker.error();
    const std::string bootstrap = (*broker)->bootstrap();
    EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 2) << bootstrap;

    auto client = plain_client(RD_KAFKA_PRODUCER, bootstrap);
    ASSERT_TRUE(client);
    auto metadata = all_topics(client.get());
    ASSERT_TRUE(metadata);
    EXPECT_EQ(metadata->broker_cnt, 3);
    const auto topics = partitions_by_topic(*metadata);
    EXPECT_EQ(topics, (std::map<std::string, int>{{"orders", 3}, {"orders.dlq", 1}}));
    // Our own helpers read the same metadata.
    auto waited = ul::kafka::wait_for_cluster(client.get(), bootstrap, 10000);
    ASSERT_TRUE(waited) << waited.error();
    EXPECT_EQ(ul::kafka::partition_count(**waited, "orders"), 3);
    EXPECT_EQ(ul::kafka::partition_count(**waited, "usage.events"), 0);
}

TEST(EmbeddedBroker, RefusesNonsenseOptionsAsValues) {
    const auto refused = [](EmbeddedBroker::Options options) {
        auto started = EmbeddedBroker::start(options);
        return started ? std::string("started") : started.error();
    };
    EmbeddedBroker::Options options;
    options.broker_count = 0;
    EXPECT_NE(refused(options).find("broker_count"), std::string::npos) << refused(options);
    options = {};
    options.topics = {{"usage.events", 0}};
    EXPECT_NE(refused(options).find("partitions"), std::string::npos) << refused(options);
    options.topics = {{"usage.events", 4}, {"usage.events", 4}};
    EXPECT_NE(refused(options).find("twice"), std::string::npos) << refused(options);
    options.topics = {{"usage events", 4}};
    EXPECT_NE(refused(options).find("topic name"), std::string::npos) << refused(options);
}

// Facts of librdkafka 2.0.2's mock that the docs rely on (consumers/README.md): a client's
// metadata request for an unknown topic creates it, with 4 partitions, when the client allows
// auto-creation (a librdkafka producer's default)...
TEST(EmbeddedBroker, MockFactAProducerAutoCreatesAnUnknownTopicWithFourPartitions) {
    auto broker = EmbeddedBroker::start({});
    ASSERT_TRUE(broker) << broker.error();
    auto producer = plain_client(RD_KAFKA_PRODUCER, (*broker)->bootstrap());
    ASSERT_TRUE(producer);
    const std::string value = "x";
    ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC("usage.evnets"),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    auto metadata = all_topics(producer.get());
    ASSERT_TRUE(metadata);
    EXPECT_EQ(ul::kafka::partition_count(*metadata, "usage.evnets"), 4);
}

// Asks for `topic` by name, as a producer does before its first message; its error code.
rd_kafka_resp_err_t ask_for_topic(rd_kafka_t* client, const char* topic) {
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> handle(
        rd_kafka_topic_new(client, topic, nullptr), &rd_kafka_topic_destroy);
    const rd_kafka_metadata_t* raw = nullptr;
    EXPECT_EQ(rd_kafka_metadata(client, 0, handle.get(), &raw, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ul::kafka::Metadata metadata(raw);
    return metadata && metadata->topic_cnt == 1 ? metadata->topics[0].err : RD_KAFKA_RESP_ERR__FAIL;
}

// ...and, because EmbeddedBroker raises the mock's Metadata version to 4, not when the client
// says allow.auto.create.topics=false. Without that (2.0.2's own Metadata v0-v2) the mock
// creates the topic anyway.
TEST(EmbeddedBroker, AClientThatDisallowsAutoCreateCreatesNoTopic) {
    for (const bool honour : {true, false}) {
        SCOPED_TRACE(honour ? "honour_allow_auto_create" : "2.0.2's own behaviour");
        EmbeddedBroker::Options options;
        options.honour_allow_auto_create = honour;
        auto broker = EmbeddedBroker::start(options);
        ASSERT_TRUE(broker) << broker.error();
        auto client = plain_client(RD_KAFKA_PRODUCER, (*broker)->bootstrap(),
                                   {{"allow.auto.create.topics", "false"}});
        ASSERT_TRUE(client);
        const rd_kafka_resp_err_t asked = ask_for_topic(client.get(), "usage.evnets");
        auto metadata = all_topics(client.get());
        ASSERT_TRUE(metadata);
        if (honour) {
            EXPECT_EQ(asked, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) << rd_kafka_err2name(asked);
            EXPECT_EQ(ul::kafka::partition_count(*metadata, "usage.evnets"), 0);
        } else {
            EXPECT_EQ(asked, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(asked);
            EXPECT_EQ(ul::kafka::partition_count(*metadata, "usage.evnets"), 4);
        }
        EXPECT_EQ(ul::kafka::partition_count(*metadata, "usage.events"), 16);
    }
}

// As `usage-ledger broker` does: the address goes into a file, and a client finds the broker
// through it.
TEST(EmbeddedBroker, AClientFindsItThroughABootstrapFile) {
    auto broker = EmbeddedBroker::start({});
    ASSERT_TRUE(broker) << broker.error();
    ul::test::TempDir directory;
    const std::string path = (directory.path() / "bootstrap").string();
    std::ofstream(path) << "  " << (*broker)->bootstrap() << "\n\n";
    auto resolved = ul::kafka::resolve_bootstrap("", path);
    ASSERT_TRUE(resolved) << resolved.error();
    EXPECT_EQ(*resolved, (*broker)->bootstrap());
    auto client = plain_client(RD_KAFKA_PRODUCER, *resolved);
    ASSERT_TRUE(client);
    auto waited = ul::kafka::wait_for_cluster(client.get(), *resolved, 10000);
    ASSERT_TRUE(waited) << waited.error();
    EXPECT_EQ(ul::kafka::partition_count(**waited, "usage.events"), 16);

    EXPECT_EQ(*ul::kafka::resolve_bootstrap("127.0.0.1:9092", ""), "127.0.0.1:9092");
    EXPECT_FALSE(ul::kafka::resolve_bootstrap("", ""));
    EXPECT_FALSE(ul::kafka::resolve_bootstrap("127.0.0.1:9092", path));
    const std::string missing = (directory.path() / "missing").string();
    EXPECT_NE(ul::kafka::resolve_bootstrap("", missing).error().find(missing), std::string::npos);
    std::ofstream(path, std::ios::trunc) << " \n";
    EXPECT_NE(ul::kafka::resolve_bootstrap("", path).error().find(path + " is empty"),
              std::string::npos);
}

TEST(EmbeddedBroker, StopsListeningWhenDestroyed) {
    std::string bootstrap;
    {
        auto broker = EmbeddedBroker::start({});
        ASSERT_TRUE(broker) << broker.error();
        bootstrap = (*broker)->bootstrap();
    }
    auto client = plain_client(RD_KAFKA_PRODUCER, bootstrap, {{"log_level", "0"}});
    ASSERT_TRUE(client);
    auto waited = ul::kafka::wait_for_cluster(client.get(), bootstrap, 1000);
    ASSERT_FALSE(waited);
    EXPECT_NE(waited.error().find("cannot reach Kafka at " + bootstrap + " within 1 s"),
              std::string::npos)
        << waited.error();
}

}  // namespace
