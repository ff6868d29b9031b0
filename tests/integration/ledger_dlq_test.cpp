// The DLQ keeps a message's value as it arrived: a NULL value (a tombstone, a client bug) is
// relayed to usage.events.dlq as a NULL value with the header `null-value: true`; an empty value
// stays an empty value, without that header. Broker and ledger run as separate processes, and the
// messages are produced and read back with plain librdkafka clients. An event a hard limit refused
// (`up` with a plan meter "enforcement": "hard") is relayed with the header error=limit_exceeded.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "schemas/time.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;

// `value` nullptr: a NULL value (Kafka's value length -1), not an empty one.
void produce(const std::string& bootstrap, const std::string& key, const char* value,
             std::size_t size) {
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    ASSERT_NE(producer, nullptr) << error;
    ASSERT_EQ(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("usage.events"),
                                RD_KAFKA_V_KEY(key.data(), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value), size),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_flush(producer, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(producer);
}

std::optional<std::string> header(rd_kafka_message_t* message, const char* name) {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::nullopt;
    }
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::nullopt;
    }
    return std::string(static_cast<const char*>(value), size);
}

struct DeadLetterSeen {
    bool value_null = false;
    std::string value;
    std::optional<std::string> error;
    std::optional<std::string> detail;
    std::optional<std::string> null_value;
};

// Reads usage.events.dlq from the start until `count` distinct keys were seen or 120 s pass.
std::map<std::string, DeadLetterSeen> read_dlq(const std::string& bootstrap, std::size_t count) {
    std::map<std::string, DeadLetterSeen> seen;
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_conf_set(conf, "group.id", "dlq-reader", error, sizeof error);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", error, sizeof error);
    rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    EXPECT_NE(consumer, nullptr) << error;
    if (consumer == nullptr) {
        return seen;
    }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, "usage.events.dlq", RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (seen.size() < count && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
        if (message == nullptr) {
            continue;
        }
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            DeadLetterSeen letter;
            letter.value_null = message->payload == nullptr;
            if (message->payload != nullptr) {
                letter.value.assign(static_cast<const char*>(message->payload), message->len);
            }
            letter.error = header(message, "error");
            letter.detail = header(message, "detail");
            letter.null_value = header(message, "null-value");
            seen[std::string(static_cast<const char*>(message->key), message->key_len)] = letter;
        }
        rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return seen;
}

TEST(LedgerDlq, ANullValueStaysNullAndAnEmptyValueStaysEmpty) {
    ul::test::TempDir dir;
    const std::string bootstrap_file = (dir.path() / "bootstrap").string();
    const std::string data_dir = (dir.path() / "data").string();
    ChildProcess broker("broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap_file},
                        dir.path());
    ASSERT_TRUE(ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file); }, 30s));
    std::string bootstrap = ul::test::read_file(bootstrap_file);
    bootstrap.erase(bootstrap.find_last_not_of("\n ") + 1);
    ChildProcess ledger("ledger",
                        {UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file, "--data-dir",
                         data_dir, "--assign-all"},
                        dir.path());

    produce(bootstrap, "null-tenant", nullptr, 0);
    static const char kEmpty[] = "";
    produce(bootstrap, "empty-tenant", kEmpty, 0);
    const std::string bad = "not json";
    produce(bootstrap, "bad-tenant", bad.data(), bad.size());

    auto seen = read_dlq(bootstrap, 3);
    ledger.signal(SIGTERM);
    EXPECT_EQ(ledger.wait(60s), std::optional<int>(0)) << ledger.stderr_text();
    ASSERT_EQ(seen.size(), 3U);

    const DeadLetterSeen& null_letter = seen["null-tenant"];
    EXPECT_TRUE(null_letter.value_null)
        << "a NULL value came out as " << null_letter.value.size() << " bytes";
    EXPECT_EQ(null_letter.null_value, std::optional<std::string>("true"));
    EXPECT_EQ(null_letter.error, std::optional<std::string>("malformed_json"));

    const DeadLetterSeen& empty_letter = seen["empty-tenant"];
    EXPECT_FALSE(empty_letter.value_null);
    EXPECT_EQ(empty_letter.value, "");
    EXPECT_EQ(empty_letter.null_value, std::nullopt);
    EXPECT_EQ(empty_letter.error, std::optional<std::string>("malformed_json"));

    const DeadLetterSeen& bad_letter = seen["bad-tenant"];
    EXPECT_FALSE(bad_letter.value_null);
    EXPECT_EQ(bad_letter.value, bad);
    EXPECT_EQ(bad_letter.null_value, std::nullopt);
}

}  // namespace

namespace {

TEST(LedgerDlq, AnEventPastAHardLimitIsRelayedWithReasonLimitExceeded) {
    ul::test::TempDir dir;
    const std::string plans = (dir.path() / "plans.json").string();
    {
        std::ofstream out(plans);
        out << R"({"default_plan":"free","plans":[{"id":"free","name":"Free","meters":)"
               R"({"api_calls":{"limit":"2","enforcement":"hard"}}}]})";
    }
    const std::string data_dir = (dir.path() / "data").string();
    const std::string bootstrap_file = data_dir + "/bootstrap";
    ChildProcess up(
        "up",
        {UL_BINARY, "up", "--data-dir", data_dir, "--config", plans, "--listen", "127.0.0.1:0"},
        dir.path());
    ASSERT_TRUE(ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file); }, 60s))
        << up.stderr_text();
    std::string bootstrap = ul::test::read_file(bootstrap_file);
    bootstrap.erase(bootstrap.find_last_not_of("\n ") + 1);
    const std::string now =
        ul::format_rfc3339(std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    // One tenant, so one partition: decided in this order. 2 + 1 passes the limit of 2.
    for (const char* key : {"k1", "k2"}) {
        const std::string event = std::string(R"({"idempotency_key":")") + key +
                                  R"(","tenant_id":"acme","meter":"api_calls","quantity":1,)" +
                                  R"("timestamp":")" + now + R"("})";
        produce(bootstrap, "acme", event.data(), event.size());
    }
    const std::string refused =
        R"({"idempotency_key":"k3","tenant_id":"acme","meter":"api_calls","quantity":1,)"
        R"("timestamp":")" +
        now + R"("})";
    produce(bootstrap, "acme", refused.data(), refused.size());

    auto seen = read_dlq(bootstrap, 1);
    up.signal(SIGTERM);
    EXPECT_EQ(up.wait(60s), std::optional<int>(0)) << up.stderr_text();
    ASSERT_EQ(seen.size(), 1U) << up.stderr_text();
    const DeadLetterSeen& letter = seen["acme"];
    EXPECT_EQ(letter.value, refused);
    EXPECT_EQ(letter.error, std::optional<std::string>("limit_exceeded"));
    ASSERT_TRUE(letter.detail.has_value());
    EXPECT_NE(letter.detail->find("above the hard limit 2"), std::string::npos) << *letter.detail;
}

}  // namespace
