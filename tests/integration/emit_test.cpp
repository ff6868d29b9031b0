// `usage-ledger emit` against `usage-ledger broker`, as separate processes; the topic is read
// back with an independent librdkafka consumer (raw C API, none of our wrappers) and compared
// line by line with the valid lines of the input file.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::TempDir;

std::string trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    return text;
}

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        lines.push_back(line);
    }
    return lines;
}

struct ConsumerDeleter {
    void operator()(rd_kafka_t* handle) const {
        rd_kafka_consumer_close(handle);
        rd_kafka_destroy(handle);
    }
};

// Reads `expected` messages (or until `timeout`) from every partition of `topic`, from the start.
std::vector<std::pair<std::string, std::string>> read_topic(const std::string& bootstrap,
                                                            const std::string& topic,
                                                            std::size_t expected,
                                                            std::chrono::milliseconds timeout) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_conf_set(conf, "group.id", "emit-test-reader", error, sizeof error);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", error, sizeof error);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", error, sizeof error);
    std::unique_ptr<rd_kafka_t, ConsumerDeleter> consumer(
        rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error));
    EXPECT_NE(consumer, nullptr) << error;
    rd_kafka_poll_set_consumer(consumer.get());
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
    EXPECT_EQ(rd_kafka_subscribe(consumer.get(), topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);

    std::vector<std::pair<std::string, std::string>> messages;  // (key, value)
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (messages.size() < expected && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer.get(), 100);
        if (message == nullptr) {
            continue;
        }
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            messages.emplace_back(
                std::string(static_cast<const char*>(message->key), message->key_len),
                std::string(static_cast<const char*>(message->payload), message->len));
        }
        rd_kafka_message_destroy(message);
    }
    return messages;
}

class EmitTest : public ::testing::Test {
  protected:
    void SetUp() override {
        bootstrap_file_ = (dir_.path() / "bootstrap").string();
        broker_ = std::make_unique<ChildProcess>(
            "broker",
            std::vector<std::string>{UL_BINARY, "broker", "--bootstrap-file", bootstrap_file_},
            dir_.path());
        ASSERT_TRUE(
            ul::test::wait_until([this] { return std::filesystem::exists(bootstrap_file_); }, 30s))
            << broker_->stderr_text();
        bootstrap_ = trim(ul::test::read_file(bootstrap_file_));
    }

    std::string generate(std::size_t lines, double invalid_percent) {
        const std::string events = (dir_.path() / "events.jsonl").string();
        const std::string command = "python3 " UL_SOURCE_DIR "/tests/tools/gen_events.py --lines " +
                                    std::to_string(lines) + " --invalid-percent " +
                                    std::to_string(invalid_percent) + " --seed 7 --out " + events +
                                    " --expect " + events + ".expect";
        EXPECT_EQ(std::system(command.c_str()), 0);
        return events;
    }

    TempDir dir_;
    std::string bootstrap_file_;
    std::string bootstrap_;
    std::unique_ptr<ChildProcess> broker_;
};

TEST_F(EmitTest, DeliversEveryValidLineAndReportsTheInvalidOnes) {
    const std::string events = generate(3000, 10.0);
    ChildProcess emit("emit",
                      {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file_, "--file", events,
                       "--allow-invalid"},
                      dir_.path());
    const auto status = emit.wait(120s);
    ASSERT_TRUE(status.has_value());
    ASSERT_EQ(*status, 0) << emit.stderr_text();

    // The invalid lines are reported with their numbers; the valid ones are what we expect back.
    const auto input = lines_of(events);
    std::set<std::size_t> reported;
    std::istringstream errors(emit.stderr_text());
    std::string error_line;
    while (std::getline(errors, error_line)) {
        if (error_line.rfind("line ", 0) == 0) {
            reported.insert(std::stoul(error_line.substr(5)));
        }
    }
    std::multiset<std::string> expected_values;
    for (std::size_t index = 0; index < input.size(); ++index) {
        if (reported.count(index + 1) == 0) {
            expected_values.insert(input[index]);
        }
    }
    const std::string expect = ul::test::read_file(events + ".expect");
    const auto invalid_at = expect.find("\"invalid\": ");
    ASSERT_NE(invalid_at, std::string::npos);
    const std::size_t invalid_expected = std::stoul(expect.substr(invalid_at + 11));
    EXPECT_EQ(reported.size(), invalid_expected);
    EXPECT_NE(emit.stdout_text().find("\"delivered\":" + std::to_string(expected_values.size())),
              std::string::npos)
        << emit.stdout_text();

    const auto messages =
        read_topic(bootstrap_, "usage.events", expected_values.size(), std::chrono::seconds(60));
    std::multiset<std::string> got_values;
    for (const auto& [key, value] : messages) {
        got_values.insert(value);
        EXPECT_NE(value.find("\"tenant_id\":\"" + key + "\""), std::string::npos)
            << "message key must be the tenant_id: " << key;
    }
    EXPECT_EQ(got_values, expected_values);
}

TEST_F(EmitTest, OneEventFromFlagsGetsAUuidV7Key) {
    ChildProcess emit("emit",
                      {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file_, "--tenant", "acme",
                       "--meter", "tokens", "--quantity", "1500", "--subject", "user-42"},
                      dir_.path());
    const auto status = emit.wait(60s);
    ASSERT_TRUE(status.has_value());
    ASSERT_EQ(*status, 0) << emit.stderr_text();
    const auto messages = read_topic(bootstrap_, "usage.events", 1, std::chrono::seconds(30));
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_EQ(messages[0].first, "acme");
    const std::string& value = messages[0].second;
    const auto key_at = value.find("\"idempotency_key\":\"");
    ASSERT_NE(key_at, std::string::npos) << value;
    const std::string key = value.substr(key_at + 19, 36);
    EXPECT_EQ(key[14], '7') << "UUID version 7: " << key;
    EXPECT_NE(value.find("\"quantity\":\"1500\""), std::string::npos) << value;
}

TEST(EmitUnreachable, FailsWithAClearErrorWithinTheConnectTimeout) {
    TempDir dir;
    ChildProcess emit("emit",
                      {UL_BINARY, "emit", "--bootstrap", "127.0.0.1:1", "--connect-timeout", "2",
                       "--tenant", "acme", "--meter", "tokens", "--quantity", "1"},
                      dir.path());
    const auto status = emit.wait(60s);
    ASSERT_TRUE(status.has_value()) << "emit must give up on an unreachable broker";
    EXPECT_EQ(*status, 1);
    EXPECT_NE(emit.stderr_text().find("127.0.0.1:1"), std::string::npos) << emit.stderr_text();
}

TEST(EmitDryRun, SummaryHasExactPerReasonCounts) {
    TempDir dir;
    const std::string events = (dir.path() / "events.jsonl").string();
    const std::string command = "python3 " UL_SOURCE_DIR
                                "/tests/tools/gen_events.py --lines 50000 --invalid-percent 20 "
                                "--seed 11 --out " +
                                events + " --expect " + events + ".expect";
    ASSERT_EQ(std::system(command.c_str()), 0);
    ChildProcess emit("emit",
                      {UL_BINARY, "emit", "--dry-run", "--allow-invalid", "--file", events},
                      dir.path());
    const auto status = emit.wait(300s);
    ASSERT_TRUE(status.has_value());
    ASSERT_EQ(*status, 0) << emit.stderr_text();
    // Compare with the generator's independent expectation, key by key, via python's json.
    const std::string compare =
        "python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); "
        "b=json.loads(open(sys.argv[2]).read()); "
        "sys.exit(0 if all(a[k]==b[k] for k in "
        "(\"lines\",\"valid\",\"invalid\",\"invalid_by_reason\")) "
        "else 1)' " +
        events + ".expect " + (dir.path() / "emit.stdout").string();
    EXPECT_EQ(std::system(compare.c_str()), 0)
        << "expected " << ul::test::read_file(events + ".expect") << "\ngot " << emit.stdout_text();
}

}  // namespace
