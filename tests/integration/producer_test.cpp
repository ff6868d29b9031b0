// UsageProducer against the embedded broker; what it wrote is read back by an independent
// librdkafka consumer (the plain C API; of ours only the unique_ptr owners) and checked with
// the event validator. No test waits by sleeping: each polls toward a condition, with a deadline.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "consumers/embedded_broker.h"
#include "consumers/kafka.h"
#include "producers/usage_producer.h"
#include "schemas/event.h"

namespace {

using namespace std::chrono_literals;
using ul::DeliveryReport;
using ul::ProduceErrorCode;
using ul::ProducerOptions;
using ul::UsageProducer;
using ul::UsageRecord;

const std::regex kUuidV7("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

struct ReadMessage {
    std::string key;
    std::string value;
    std::int32_t partition = -1;
};

struct ConsumerDeleter {
    void operator()(rd_kafka_t* handle) const {
        rd_kafka_consumer_close(handle);
        rd_kafka_destroy(handle);
    }
};

// Every message of `topic` from the beginning of its `partitions`, until `expected` were read or
// `timeout` passed. Assigns the partitions directly: no group, nothing committed.
std::vector<ReadMessage> read_topic(const std::string& bootstrap, const std::string& topic,
                                    int partitions, std::size_t expected,
                                    std::chrono::milliseconds timeout) {
    char error[512];
    ul::kafka::Config conf(rd_kafka_conf_new());
    rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_conf_set(conf.get(), "group.id", "producer-test-reader", error, sizeof error);
    rd_kafka_conf_set(conf.get(), "enable.auto.commit", "false", error, sizeof error);
    std::unique_ptr<rd_kafka_t, ConsumerDeleter> consumer(
        rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error, sizeof error));
    EXPECT_NE(consumer, nullptr) << error;
    if (!consumer) {
        return {};
    }
    (void)conf.release();  // rd_kafka_new took it
    rd_kafka_poll_set_consumer(consumer.get());
    ul::kafka::PartitionList assignment(rd_kafka_topic_partition_list_new(partitions));
    for (int partition = 0; partition < partitions; ++partition) {
        rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), partition)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    EXPECT_EQ(rd_kafka_assign(consumer.get(), assignment.get()), RD_KAFKA_RESP_ERR_NO_ERROR);

    std::vector<ReadMessage> messages;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (messages.size() < expected && std::chrono::steady_clock::now() < deadline) {
        ul::kafka::Message message(rd_kafka_consumer_poll(consumer.get(), 100));
        if (!message || message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            continue;
        }
        messages.push_back({std::string(static_cast<const char*>(message->key), message->key_len),
                            std::string(static_cast<const char*>(message->payload), message->len),
                            message->partition});
    }
    return messages;
}

// How many messages `topic` holds: the sum of its partitions' high watermarks (nothing is ever
// deleted from a fresh embedded broker this small).
std::int64_t messages_in_topic(const std::string& bootstrap, const std::string& topic,
                               int partitions) {
    char error[512];
    ul::kafka::Config conf(rd_kafka_conf_new());
    rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    ul::kafka::Handle client(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof error));
    EXPECT_TRUE(client) << error;
    if (!client) {
        return -1;
    }
    (void)conf.release();
    std::int64_t total = 0;
    for (int partition = 0; partition < partitions; ++partition) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        EXPECT_EQ(rd_kafka_query_watermark_offsets(client.get(), topic.c_str(), partition, &low,
                                                   &high, 10000),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
        total += high;
    }
    return total;
}

// Partitions of `topic` per a metadata request for all topics (which never auto-creates).
int partitions_of(const std::string& bootstrap, const std::string& topic) {
    char error[512];
    ul::kafka::Config conf(rd_kafka_conf_new());
    rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    ul::kafka::Handle client(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof error));
    EXPECT_TRUE(client) << error;
    if (!client) {
        return -1;
    }
    (void)conf.release();
    const rd_kafka_metadata_t* raw = nullptr;
    EXPECT_EQ(rd_kafka_metadata(client.get(), 1, nullptr, &raw, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ul::kafka::Metadata metadata(raw);
    if (!metadata) {
        return -1;
    }
    for (int index = 0; index < metadata->topic_cnt; ++index) {
        if (topic == metadata->topics[index].topic) {
            return metadata->topics[index].partition_cnt;
        }
    }
    return 0;
}

// Polls the producer until `future` is ready or `timeout` passes.
bool serve_until_ready(UsageProducer& producer, std::future<DeliveryReport>& future,
                       std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (future.wait_for(0s) != std::future_status::ready) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        producer.poll(50);
    }
    return true;
}

UsageRecord tokens_record(std::string tenant, std::string quantity = "1500") {
    UsageRecord record;
    record.tenant_id = std::move(tenant);
    record.meter = "tokens";
    record.quantity = std::move(quantity);
    return record;
}

class ProducerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto started = ul::kafka::EmbeddedBroker::start({});
        ASSERT_TRUE(started) << started.error();
        broker_ = std::move(started).value();
    }

    std::unique_ptr<UsageProducer> make_producer(ProducerOptions options = {}) {
        options.bootstrap = broker_->bootstrap();
        auto created = UsageProducer::create(std::move(options));
        EXPECT_TRUE(created) << created.error();
        return created ? std::move(created).value() : nullptr;
    }

    const std::string& bootstrap() const { return broker_->bootstrap(); }

    std::unique_ptr<ul::kafka::EmbeddedBroker> broker_;
};

TEST_F(ProducerTest, RecordsAnEventThatAnIndependentConsumerReadsBack) {
    auto producer = make_producer();
    ASSERT_TRUE(producer);
    auto reachable = producer->wait_for_cluster();
    ASSERT_TRUE(reachable) << reachable.error();

    UsageRecord record = tokens_record("acme");
    // Everything JSON must escape (RFC 8259): quotes, backslash, control characters (allowed in
    // property values, not in the subject); UTF-8 passes through unchanged.
    record.subject = "user \"42\" \\ résumé";
    record.string_properties = {{"model", "gpt-x"}, {"note", "a \"quoted\"\r\n\t\x01line"}};
    record.timestamp = "";  // now
    DeliveryReport report;
    int callbacks = 0;
    auto key = producer->record(record, [&](const DeliveryReport& delivered) {
        report = delivered;
        ++callbacks;
    });
    ASSERT_TRUE(key) << key.error().detail;
    EXPECT_TRUE(std::regex_match(*key, kUuidV7)) << *key;
    auto flushed = producer->flush(30000);
    ASSERT_TRUE(flushed) << flushed.error();
    EXPECT_EQ(callbacks, 1);
    EXPECT_TRUE(report.ok) << report.error;
    EXPECT_GE(report.partition, 0);
    EXPECT_GE(report.offset, 0);
    EXPECT_EQ(producer->delivered(), 1U);
    EXPECT_EQ(producer->failed(), 0U);
    EXPECT_EQ(producer->in_flight(), 0U);

    const auto messages = read_topic(bootstrap(), "usage.events", 16, 1, 30s);
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_EQ(messages[0].key, "acme");
    EXPECT_EQ(messages[0].partition, report.partition);
    ul::EventValidator validator;
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    auto event = validator.validate(messages[0].value, now_us);
    ASSERT_TRUE(event) << ul::reason_code(event.error().reason) << ": " << event.error().detail
                       << " in " << messages[0].value;
    EXPECT_EQ(event->idempotency_key, *key);
    EXPECT_EQ(event->tenant_id, "acme");
    EXPECT_EQ(event->meter, "tokens");
    EXPECT_EQ(event->subject, record.subject);
    ASSERT_EQ(event->property_count, 2U);
    EXPECT_EQ(event->properties[1].key, "note");
    EXPECT_EQ(event->properties[1].value, "a \"quoted\"\r\n\t\x01line");
    EXPECT_LE(std::abs(event->timestamp_us - now_us), 60'000'000);
}

TEST_F(ProducerTest, KeepsTheCallersKeyAndServesTheFutureForm) {
    auto producer = make_producer();
    ASSERT_TRUE(producer);
    UsageRecord record = tokens_record("globex", "0.25");
    record.idempotency_key = "req-7f3a";
    record.timestamp = "2026-11-22T10:15:00Z";
    auto future = producer->record(record);
    ASSERT_TRUE(serve_until_ready(*producer, future, 30s));
    const DeliveryReport report = future.get();
    EXPECT_TRUE(report.ok) << report.error;

    const auto messages = read_topic(bootstrap(), "usage.events", 16, 1, 30s);
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_NE(messages[0].value.find("\"idempotency_key\":\"req-7f3a\""), std::string::npos)
        << messages[0].value;
    EXPECT_NE(messages[0].value.find("\"quantity\":\"0.25\""), std::string::npos)
        << messages[0].value;
}

TEST_F(ProducerTest, AnInvalidRecordIsRefusedWithItsReasonAndNeverSent) {
    auto producer = make_producer();
    ASSERT_TRUE(producer);
    int callbacks = 0;
    const auto count = [&callbacks](const DeliveryReport&) { ++callbacks; };

    auto bad_tenant = producer->record(tokens_record("acme corp"), count);
    ASSERT_FALSE(bad_tenant);
    EXPECT_EQ(bad_tenant.error().code, ProduceErrorCode::invalid_event);
    EXPECT_EQ(bad_tenant.error().detail.rfind("bad_tenant: ", 0), 0U) << bad_tenant.error().detail;

    auto bad_quantity = producer->record(tokens_record("acme", "1.2345678"), count);
    ASSERT_FALSE(bad_quantity);
    EXPECT_EQ(bad_quantity.error().detail.rfind("bad_quantity: ", 0), 0U)
        << bad_quantity.error().detail;

    UsageRecord future_event = tokens_record("acme");
    future_event.timestamp = "2999-01-01T00:00:00Z";
    auto refused_future = producer->record(future_event);  // resolved at once, no poll needed
    ASSERT_EQ(refused_future.wait_for(0s), std::future_status::ready);
    const DeliveryReport refused = refused_future.get();
    EXPECT_FALSE(refused.ok);
    EXPECT_EQ(refused.error.rfind("bad_timestamp: ", 0), 0U) << refused.error;

    EXPECT_EQ(producer->in_flight(), 0U);
    // One valid record after them; the topic then holds exactly that one message.
    auto valid = producer->record(tokens_record("acme"), count);
    ASSERT_TRUE(valid) << valid.error().detail;
    auto flushed = producer->flush(30000);
    ASSERT_TRUE(flushed) << flushed.error();
    EXPECT_EQ(callbacks, 1);
    EXPECT_EQ(messages_in_topic(bootstrap(), "usage.events", 16), 1);
    EXPECT_EQ(producer->delivered(), 1U);
    EXPECT_EQ(producer->failed(), 0U);
}

TEST_F(ProducerTest, AFullQueueAnswersQueueFullAtOnce) {
    std::vector<std::uint64_t> delivered_tokens;
    ProducerOptions options;
    options.max_in_flight_messages = 3;
    options.linger_ms = 1000;  // hold the batch so the queue fills
    options.on_raw_delivery = [&delivered_tokens](const DeliveryReport& report) {
        EXPECT_TRUE(report.ok) << report.error;
        delivered_tokens.push_back(report.token);
    };
    auto producer = make_producer(options);
    ASSERT_TRUE(producer);

    std::vector<std::uint64_t> queued;
    bool saw_full = false;
    for (std::uint64_t token = 1; token <= 10 && !saw_full; ++token) {
        auto sent = producer->produce_raw("acme", "{}", token);
        if (sent) {
            queued.push_back(token);
            continue;
        }
        EXPECT_EQ(sent.error().code, ProduceErrorCode::queue_full) << sent.error().detail;
        saw_full = true;
    }
    EXPECT_TRUE(saw_full);
    EXPECT_EQ(queued.size(), 3U);
    // record() answers the same, and its callback never runs.
    bool called = false;
    auto refused =
        producer->record(tokens_record("acme"), [&](const DeliveryReport&) { called = true; });
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ProduceErrorCode::queue_full);

    auto flushed = producer->flush(30000);
    ASSERT_TRUE(flushed) << flushed.error();
    EXPECT_FALSE(called);
    EXPECT_EQ(delivered_tokens, queued);  // one partition (one key): in order
    // Room again after the deliveries.
    auto again = producer->produce_raw("acme", "{}", 99);
    EXPECT_TRUE(again);
    ASSERT_TRUE(producer->flush(30000));
    EXPECT_EQ(delivered_tokens.back(), 99U);
}

TEST_F(ProducerTest, RecordsFromManyThreadsAllArriveWithDistinctKeys) {
    auto producer = make_producer();
    ASSERT_TRUE(producer);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 250;
    std::atomic<int> ok_reports{0};
    std::vector<std::vector<std::string>> keys(kThreads);
    std::vector<std::thread> threads;
    for (int thread = 0; thread < kThreads; ++thread) {
        threads.emplace_back([&, thread] {
            for (int index = 0; index < kPerThread; ++index) {
                auto key = producer->record(tokens_record("tenant-" + std::to_string(index % 8)),
                                            [&ok_reports](const DeliveryReport& report) {
                                                ok_reports += report.ok ? 1 : 0;
                                            });
                ASSERT_TRUE(key) << key.error().detail;
                keys[static_cast<std::size_t>(thread)].push_back(*key);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    auto flushed = producer->flush(30000);
    ASSERT_TRUE(flushed) << flushed.error();
    EXPECT_EQ(ok_reports.load(), kThreads * kPerThread);
    std::set<std::string> distinct;
    for (const auto& of_thread : keys) {
        // One generator behind a mutex: each thread's keys increase.
        EXPECT_TRUE(std::is_sorted(of_thread.begin(), of_thread.end()));
        distinct.insert(of_thread.begin(), of_thread.end());
    }
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads * kPerThread));
    EXPECT_EQ(messages_in_topic(bootstrap(), "usage.events", 16), kThreads * kPerThread);
}

TEST_F(ProducerTest, AMisspelledTopicIsReportedAndNeverCreated) {
    ProducerOptions options;
    options.topic = "usage.evnets";
    options.delivery_timeout_ms = 3000;
    options.extra_config = {{"log_level", "0"}};
    auto producer = make_producer(options);
    ASSERT_TRUE(producer);
    auto reachable = producer->wait_for_cluster(10000);
    ASSERT_FALSE(reachable);
    EXPECT_EQ(reachable.error(), "topic usage.evnets does not exist at " + bootstrap());

    auto future = producer->record(tokens_record("acme"));
    ASSERT_TRUE(serve_until_ready(*producer, future, 60s));
    const DeliveryReport report = future.get();
    EXPECT_FALSE(report.ok);
    // "Local: Message timed out" or "Unknown topic", by whether message.timeout.ms or
    // topic.metadata.propagation.max.ms (30 s) runs out first.
    EXPECT_FALSE(report.error.empty());
    EXPECT_EQ(producer->failed(), 1U);

    // The topic was not auto-created (a plain producer would have created it, see
    // embedded_broker_test).
    EXPECT_EQ(partitions_of(bootstrap(), "usage.evnets"), 0);
    EXPECT_EQ(partitions_of(bootstrap(), "usage.events"), 16);
}

TEST(UsageProducer, AnUnreachableClusterFailsWithinItsTimeoutsAndSaysWhere) {
    ProducerOptions options;
    options.bootstrap = "127.0.0.1:1";  // nothing listens on port 1
    options.connect_timeout_ms = 1000;
    options.delivery_timeout_ms = 1500;
    options.extra_config = {{"log_level", "0"}};  // the connection refusals are expected here
    auto created = UsageProducer::create(options);
    ASSERT_TRUE(created) << created.error();  // creating never waits for the cluster
    auto& producer = *created;

    auto reachable = producer->wait_for_cluster();
    ASSERT_FALSE(reachable);
    EXPECT_EQ(reachable.error().rfind("cannot reach Kafka at 127.0.0.1:1 within 1 s: ", 0), 0U)
        << reachable.error();

    auto future = producer->record(tokens_record("acme"));
    ASSERT_TRUE(serve_until_ready(*producer, future, 60s));
    const DeliveryReport report = future.get();
    EXPECT_FALSE(report.ok);
    EXPECT_NE(report.error.find("timed out"), std::string::npos) << report.error;
    EXPECT_EQ(producer->failed(), 1U);
    EXPECT_EQ(producer->in_flight(), 0U);
}

TEST(UsageProducer, DestroyingItRunsEveryWaitingCallbackOnceWithAFailure) {
    ProducerOptions options;
    options.bootstrap = "127.0.0.1:1";
    options.delivery_timeout_ms = 300'000;  // nothing would fail on its own during the test
    options.extra_config = {{"log_level", "0"}};
    auto created = UsageProducer::create(options);
    ASSERT_TRUE(created) << created.error();
    std::unique_ptr<UsageProducer> producer = std::move(created).value();
    std::vector<DeliveryReport> reports;
    for (int index = 0; index < 5; ++index) {
        auto key = producer->record(tokens_record("acme"),
                                    [&reports](const DeliveryReport& r) { reports.push_back(r); });
        ASSERT_TRUE(key) << key.error().detail;
    }
    auto pending = producer->record(tokens_record("acme"));
    EXPECT_TRUE(reports.empty());
    producer.reset();

    ASSERT_EQ(reports.size(), 5U);
    for (const auto& report : reports) {
        EXPECT_FALSE(report.ok);
        EXPECT_FALSE(report.error.empty());
    }
    ASSERT_EQ(pending.wait_for(0s), std::future_status::ready);
    EXPECT_FALSE(pending.get().ok);
}

TEST(UsageProducer, RefusesConfigurationThatWouldWeakenItsGuarantees) {
    const auto error_of = [](ProducerOptions options) {
        options.bootstrap = "127.0.0.1:1";
        options.extra_config.emplace_back("log_level", "0");  // connection refusals expected
        auto created = UsageProducer::create(std::move(options));
        return created ? std::string("created") : created.error();
    };
    ProducerOptions options;
    options.extra_config = {{"enable.idempotence", "false"}};
    EXPECT_NE(error_of(options).find("enable.idempotence"), std::string::npos) << error_of(options);
    options.extra_config = {{"acks", "1"}};
    EXPECT_NE(error_of(options).find("acks"), std::string::npos) << error_of(options);
    options.extra_config = {{"no.such.property", "1"}};
    EXPECT_EQ(error_of(options).rfind("no.such.property=1: ", 0), 0U) << error_of(options);
    options.extra_config = {};
    options.max_in_flight_messages = 0;
    EXPECT_NE(error_of(options).find("max_in_flight_messages"), std::string::npos);
    EXPECT_EQ(error_of(ProducerOptions{}), "created");
    ProducerOptions no_bootstrap;
    EXPECT_EQ(UsageProducer::create(no_bootstrap).error(), "no bootstrap address");
}

TEST_F(ProducerTest, DestroyingItFailsWhatTheBrokerHasNotAnswered) {
    auto producer = make_producer();
    ASSERT_TRUE(producer);
    auto first = producer->record(tokens_record("acme"));
    ASSERT_TRUE(serve_until_ready(*producer, first, 30s));
    ASSERT_TRUE(first.get().ok);
    // Connected and idle; now every answer of the broker takes 8 s, so what is sent next is
    // still unanswered (in flight) when the destructor's 2 s flush gives up.
    ASSERT_EQ(rd_kafka_mock_broker_set_rtt(broker_->mock_cluster(), 1, 8000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    std::vector<DeliveryReport> reports;
    for (int index = 0; index < 5; ++index) {
        auto key = producer->record(tokens_record("acme"),
                                    [&reports](const DeliveryReport& r) { reports.push_back(r); });
        ASSERT_TRUE(key) << key.error().detail;
    }
    EXPECT_EQ(producer->in_flight(), 5U);
    producer.reset();
    ASSERT_EQ(reports.size(), 5U);
    for (const auto& report : reports) {
        EXPECT_FALSE(report.ok);
        EXPECT_FALSE(report.error.empty());
    }
}

}  // namespace
