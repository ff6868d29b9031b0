// A gap is detected, not skipped: with the ledger stopped, more is produced into one partition
// than the embedded broker keeps (~5 MiB); on restart the ledger finds its stored offset below
// the log start, records the gap (partition, from, to, count), logs it, and continues.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <string>

#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;

void produce_to_partition_zero(const std::string& bootstrap, int first, int count) {
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    ASSERT_NE(producer, nullptr);
    const std::string padding(120, 'x');
    for (int index = first; index < first + count; ++index) {
        const std::string value =
            R"({"idempotency_key":"gap-)" + std::to_string(index) +
            R"(","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-24T00:00:00Z","properties":{"pad":")" +
            padding + "\"}}";
        while (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("usage.events"),
                                 RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY("acme", 4),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(producer, 10);
        }
    }
    ASSERT_EQ(rd_kafka_flush(producer, 120000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(producer);
}

std::string stats(const std::string& data_dir, const std::filesystem::path& logs) {
    ChildProcess stats("stats", {UL_BINARY, "stats", "--data-dir", data_dir}, logs);
    const auto status = stats.wait(60s);
    return status && *status == 0 ? stats.stdout_text() : std::string();
}

TEST(LedgerGap, TruncationBeforeTheLedgerReadsIsRecordedNotSkipped) {
    ul::test::TempDir dir;
    const std::string bootstrap_file = (dir.path() / "bootstrap").string();
    const std::string data_dir = (dir.path() / "data").string();
    ChildProcess broker("broker", {UL_BINARY, "broker", "--bootstrap-file", bootstrap_file},
                        dir.path());
    ASSERT_TRUE(ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file); }, 30s));
    std::string bootstrap = ul::test::read_file(bootstrap_file);
    bootstrap.erase(bootstrap.find_last_not_of("\n ") + 1);
    const std::vector<std::string> ledger_argv = {UL_BINARY,      "ledger",     "--bootstrap-file",
                                                  bootstrap_file, "--data-dir", data_dir,
                                                  "--assign-all"};
    {
        produce_to_partition_zero(bootstrap, 0, 10);
        ChildProcess ledger("ledger-1", ledger_argv, dir.path());
        ASSERT_TRUE(ul::test::wait_until(
            [&] {
                return stats(data_dir, dir.path()).find("\"consumed\":10,") != std::string::npos;
            },
            120s));
        ledger.signal(SIGTERM);
        ASSERT_EQ(ledger.wait(60s), std::optional<int>(0));
    }
    // 40,000 × ~250 B into one partition: far more than the mock keeps (~5 MiB).
    constexpr int kMore = 40'000;
    produce_to_partition_zero(bootstrap, 10, kMore);

    ChildProcess ledger("ledger-2", ledger_argv, dir.path());
    std::string now;
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            now = stats(data_dir, dir.path());
            const auto gap = now.find("\"count\":");
            const auto consumed = now.find("\"consumed\":");
            if (gap == std::string::npos || consumed == std::string::npos) {
                return false;
            }
            const long gap_count = std::stol(now.substr(gap + 8));
            const long consumed_count = std::stol(now.substr(consumed + 11));
            // Nothing lost silently: what was consumed plus what is known lost is everything.
            return gap_count > 0 && consumed_count + gap_count == 10 + kMore;
        },
        300s))
        << now;
    EXPECT_NE(now.find("\"partition\":0,\"from\":10,"), std::string::npos) << now;
    ledger.signal(SIGTERM);
    ASSERT_EQ(ledger.wait(60s), std::optional<int>(0));
    EXPECT_NE(ledger.stderr_text().find("GAP in usage.events partition 0: offsets 10.."),
              std::string::npos)
        << ledger.stderr_text();
    std::printf("stats: %s", now.substr(0, now.find("\"partitions\"")).c_str());
}

}  // namespace
