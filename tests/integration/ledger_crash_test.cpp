// Nothing lost, nothing counted twice: broker, producer and ledger as separate processes; the
// ledger is killed with SIGKILL at random moments while it consumes a file with duplicates,
// conflicts and bad lines, and restarted each time. At the end `stats` equals the file's
// independently computed expectation exactly, `verify` passes, the DLQ holds every bad line with
// its reason, and usage.ledger holds every entry in sequence order per partition.
// Two variants: kills anywhere (20), and kills that land inside the outbox relay — between a
// batch's commit and its publication being acknowledged — until 10 such kills are observed.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::TempDir;

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::string header(rd_kafka_message_t* message, const char* name) {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return {};
    }
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return {};
    }
    return std::string(static_cast<const char*>(value), size);
}

// Reads `topic` from the start with an independent consumer until `done` says so or 120 s pass.
void read_topic(const std::string& bootstrap, const std::string& topic,
                const std::function<bool(rd_kafka_message_t*)>& take) {
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_conf_set(conf, "group.id", ("reader-" + topic).c_str(), error, sizeof error);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", error, sizeof error);
    rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    ASSERT_NE(consumer, nullptr) << error;
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    bool done = false;
    while (!done && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
        if (message == nullptr) {
            continue;
        }
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            done = take(message);
        }
        rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
}

std::string stats(const std::string& data_dir, const std::filesystem::path& logs) {
    ChildProcess stats("stats", {UL_BINARY, "stats", "--data-dir", data_dir}, logs);
    const auto status = stats.wait(60s);
    return status && *status == 0 ? stats.stdout_text() : std::string();
}

// True when some partition has committed entries or dead letters not yet acknowledged by Kafka:
// the ledger died inside its outbox relay.
bool relay_pending(const std::string& stats_json) {
    if (stats_json.empty()) {
        return false;
    }
    const std::string check =
        "python3 -c 'import json,sys; s=json.loads(sys.argv[1]); "
        "sys.exit(0 if any(p[\"outbox_next\"]!=p[\"next_sequence\"] or "
        "p[\"dlq_outbox_next\"]!=p[\"dead_letters\"] for p in s[\"partitions\"].values()) "
        "else 1)' '" +
        stats_json + "'";
    return std::system(check.c_str()) == 0;
}

enum class KillAt : std::uint8_t { anywhere, relay };

void crash_scenario(KillAt kill_at) {
    TempDir dir;
    const std::string bootstrap_file = (dir.path() / "bootstrap").string();
    const std::string data_dir = (dir.path() / "data").string();
    // Relay: every answer of the broker takes 120 ms, as on a slow network, so the ledger's
    // relayed entries stay unacknowledged long enough for kills to land among them.
    std::vector<std::string> broker_argv = {UL_BINARY, "broker", "--bootstrap-file",
                                            bootstrap_file};
    if (kill_at == KillAt::relay) {
        broker_argv.insert(broker_argv.end(), {"--rtt-ms", "120"});
    }
    ChildProcess broker("broker", broker_argv, dir.path());
    ASSERT_TRUE(ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file); }, 30s));
    std::string bootstrap = ul::test::read_file(bootstrap_file);
    bootstrap.erase(bootstrap.find_last_not_of("\n ") + 1);

    const std::string events = (dir.path() / "events.jsonl").string();
    const int total_lines = kill_at == KillAt::anywhere ? 20000 : 8000;
    const std::string command = "python3 " UL_SOURCE_DIR "/tests/tools/gen_events.py --lines " +
                                std::to_string(total_lines) +
                                " "
                                "--invalid-percent 5 --duplicate-percent 5 --conflict-percent 2 "
                                "--seed 5 --out " +
                                events + " --expect " + events + ".expect --keys " + events +
                                ".keys";
    ASSERT_EQ(std::system(command.c_str()), 0);
    const auto lines = lines_of(events);
    const auto keys = lines_of(events + ".keys");
    ASSERT_EQ(lines.size(), keys.size());

    // Every line, bad ones too, goes to Kafka raw (as a buggy service would send it), in 20
    // chunks: one before each ledger run, so every kill lands while there is work in hand.
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", error, sizeof error);
    std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> producer(
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error), &rd_kafka_destroy);
    ASSERT_NE(producer, nullptr);
    std::size_t produced = 0;
    auto produce_until = [&](std::size_t end) {
        for (; produced < end; ++produced) {
            const std::string& key = keys[produced];
            const std::string& line = lines[produced];
            while (rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC("usage.events"),
                                     RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                                     RD_KAFKA_V_VALUE(const_cast<char*>(line.data()), line.size()),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(producer.get(), 10);
            }
        }
        ASSERT_EQ(rd_kafka_flush(producer.get(), 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    };

    const auto seed = static_cast<std::uint64_t>(std::random_device{}());
    std::printf("LedgerCrash seed %llu\n", static_cast<unsigned long long>(seed));
    std::mt19937_64 random(seed);
    // Anywhere: batches of 50, a random life of 0.5-3 s, 20 kills. Relay: batches of 1 (each
    // event is a commit followed by a relay, so the relay is a large share of the time), random
    // lives of 0.3-2.5 s, until 10 kills left committed entries unpublished (at most 80 runs).
    const std::vector<std::string> ledger_argv = {
        UL_BINARY,      "ledger",       "--bootstrap-file",
        bootstrap_file, "--data-dir",   data_dir,
        "--assign-all", "--batch-size", kill_at == KillAt::anywhere ? "50" : "1"};
    const int max_runs = kill_at == KillAt::anywhere ? 20 : 80;
    int relay_kills = 0;
    int runs = 0;
    for (; runs < max_runs; ++runs) {
        if (kill_at == KillAt::relay && relay_kills >= 10) {
            break;
        }
        produce_until(lines.size() * static_cast<std::size_t>(runs + 1) /
                      static_cast<std::size_t>(max_runs + 1));
        ChildProcess ledger("ledger-" + std::to_string(runs), ledger_argv, dir.path());
        const auto lifetime = kill_at == KillAt::anywhere
                                  ? std::chrono::milliseconds(500 + random() % 2500)
                                  : std::chrono::milliseconds(300 + random() % 2200);
        EXPECT_FALSE(ledger.wait(lifetime).has_value()) << ledger.stderr_text();
        ledger.signal(SIGKILL);
        ASSERT_TRUE(ledger.wait(10s).has_value());
        const std::string now = stats(data_dir, dir.path());
        const bool in_relay = relay_pending(now);
        relay_kills += in_relay ? 1 : 0;
        const auto at = now.find("\"consumed\":");
        std::printf("kill %2d after %4lld ms: produced %zu, consumed %s%s\n", runs + 1,
                    static_cast<long long>(lifetime.count()), produced,
                    at == std::string::npos
                        ? "0 (no store yet)"
                        : now.substr(at + 11, now.find(',', at) - at - 11).c_str(),
                    in_relay ? ", inside the relay" : "");
    }
    std::printf("%d kills, %d inside the relay\n", runs, relay_kills);
    if (kill_at == KillAt::relay) {
        ASSERT_GE(relay_kills, 10) << "kills did not land inside the relay often enough";
    }
    produce_until(lines.size());

    std::vector<std::string> final_argv = ledger_argv;
    final_argv.back() = "500";  // the rest at full speed
    ChildProcess ledger("ledger-final", final_argv, dir.path());
    std::string final_stats;
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            final_stats = stats(data_dir, dir.path());
            return final_stats.find("\"consumed\":" + std::to_string(total_lines) + ",") !=
                   std::string::npos;
        },
        600s))
        << final_stats;
    // Let the relays finish, then stop gracefully.
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            final_stats = stats(data_dir, dir.path());
            return !final_stats.empty() && !relay_pending(final_stats);
        },
        120s));
    ledger.signal(SIGTERM);
    ASSERT_EQ(ledger.wait(60s), std::optional<int>(0)) << ledger.stderr_text();

    // stats equals the generator's expectation exactly.
    std::ofstream(dir.path() / "final.json") << final_stats;
    const std::string compare =
        "python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))[\"ledger\"]; "
        "s=json.load(open(sys.argv[2])); bad=[k for k in e if e[k]!=s[k]]; "
        "print(\"mismatch:\", {k:(e[k],s[k]) for k in bad}) if bad else None; "
        "sys.exit(1 if bad else 0)' " +
        events + ".expect " + (dir.path() / "final.json").string();
    EXPECT_EQ(std::system(compare.c_str()), 0) << final_stats;

    ChildProcess verify("verify", {UL_BINARY, "verify", "--data-dir", data_dir}, dir.path());
    EXPECT_EQ(verify.wait(120s), std::optional<int>(0)) << verify.stderr_text();

    // The DLQ holds every bad line (at least once; identified by source position), with a reason.
    std::multiset<std::string> expected_bad;
    for (std::size_t index = 0; index < lines.size(); ++index) {
        if (keys[index].empty()) {
            expected_bad.insert(lines[index]);
        }
    }
    std::map<std::string, std::string> dead_letters;  // source position → value
    std::map<std::string, std::size_t> reasons;
    read_topic(bootstrap, "usage.events.dlq", [&](rd_kafka_message_t* message) {
        const std::string position =
            header(message, "source-partition") + "/" + header(message, "source-offset");
        const std::string value(static_cast<const char*>(message->payload), message->len);
        if (dead_letters.emplace(position, value).second) {
            ++reasons[header(message, "error")];
        }
        return dead_letters.size() >= expected_bad.size();
    });
    std::multiset<std::string> got_bad;
    for (const auto& [position, value] : dead_letters) {
        got_bad.insert(value);
    }
    EXPECT_EQ(got_bad.size(), expected_bad.size());
    EXPECT_TRUE(got_bad == expected_bad);
    std::size_t reasons_total = 0;
    for (const auto& [reason, count] : reasons) {
        EXPECT_FALSE(reason.empty());
        reasons_total += count;
    }
    EXPECT_EQ(reasons_total, expected_bad.size());

    // usage.ledger: every entry at least once, never a sequence before its predecessor.
    std::map<std::int32_t, std::uint64_t> next_new;  // per partition: next unseen sequence
    std::size_t distinct = 0;
    bool in_order = true;
    const std::size_t accepted = static_cast<std::size_t>(
        std::stoul(final_stats.substr(final_stats.find("\"accepted\":") + 11)));
    read_topic(bootstrap, "usage.ledger", [&](rd_kafka_message_t* message) {
        if (header(message, "ledger-marker") == "progress") {
            return false;  // the relay's progress marker, not an entry
        }
        const std::uint64_t sequence = std::stoull(header(message, "ledger-seq"));
        auto& next = next_new[message->partition];
        if (sequence == next) {
            ++next;
            ++distinct;
        } else if (sequence > next) {
            in_order = false;
        }
        return distinct >= accepted;
    });
    EXPECT_TRUE(in_order) << "an entry was published before its predecessor";
    EXPECT_EQ(distinct, accepted);
}

TEST(LedgerCrash, KilledTwentyTimesItLosesNothingAndCountsNothingTwice) {
    crash_scenario(KillAt::anywhere);
}

TEST(LedgerCrash, KilledInsideTheOutboxRelayEveryEntryIsPublishedInOrder) {
    crash_scenario(KillAt::relay);
}

}  // namespace
