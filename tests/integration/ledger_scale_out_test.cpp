// Scale-out: two `usage-ledger ledger` processes in one consumer group, each with its own
// RocksDB, on the embedded broker. Partitions move between them as they start, stop and are
// killed (kill -9); duplicates of events an instance accepted arrive after its partitions moved.
// A moved partition is rebuilt from usage.ledger (the changelog) before it is consumed, so
// nothing is accepted twice: the summed stats equal what was produced, exactly, and `verify`
// passes on both stores. Before the rebuild, the instance that took a partition over read it
// again from its own (empty or stale) store and accepted every event a second time.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <random>
#include <string>

#include "tests/support/kafka.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;

struct Expected {
    std::uint64_t accepted = 0;
    std::uint64_t duplicate = 0;
    std::uint64_t conflict = 0;
    std::uint64_t dead_lettered = 0;
    std::uint64_t consumed() const { return accepted + duplicate + conflict + dead_lettered; }
};

// One timestamp for the whole run: a repeat of an event is byte-for-byte the same event.
const std::string& stamp() {
    static const std::string now = ul::test::utc_now_rfc3339();
    return now;
}

std::string hours_ago(int hours) {
    const std::time_t then = std::time(nullptr) - static_cast<std::time_t>(hours) * 3600;
    std::tm parts{};
    gmtime_r(&then, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

std::string event_json(int number, int quantity, const std::string& timestamp) {
    return R"({"idempotency_key":"so-)" + std::to_string(number) + R"(","tenant_id":"t)" +
           std::to_string(number % 23) + R"(","meter":"api_calls","quantity":)" +
           std::to_string(quantity) + R"(,"timestamp":")" + timestamp + "\"}";
}

std::string event_json(int number, int quantity) {
    return R"({"idempotency_key":"so-)" + std::to_string(number) + R"(","tenant_id":"t)" +
           std::to_string(number % 23) + R"(","meter":"api_calls","quantity":)" +
           std::to_string(quantity) + R"(,"timestamp":")" + stamp() + "\"}";
}

// Produces `fresh` new events (numbers from `next`), one exact repeat of a random earlier event
// for every second new one, a conflicting repeat every 50th and an invalid message every 100th.
void produce_round(ul::test::RawProducer& producer, std::mt19937& random, int& next, int fresh,
                   Expected& expected) {
    for (int index = 0; index < fresh; ++index) {
        const int number = next++;
        producer.produce("usage.events", "t" + std::to_string(number % 23), event_json(number, 1));
        ++expected.accepted;
        if (index % 2 == 0) {
            const int earlier = static_cast<int>(random() % static_cast<unsigned>(next));
            producer.produce("usage.events", "t" + std::to_string(earlier % 23),
                             event_json(earlier, 1));
            ++expected.duplicate;
        }
        if (index % 50 == 0) {
            producer.produce("usage.events", "t" + std::to_string(number % 23),
                             event_json(number, 7));
            ++expected.conflict;
        }
        if (index % 100 == 0) {
            producer.produce("usage.events", "t0", "{not json");
            ++expected.dead_lettered;
        }
    }
    ASSERT_TRUE(producer.flush(60000));
}

std::uint64_t field(const std::string& json, const std::string& name) {
    const auto at = json.find("\"" + name + "\":");
    return at == std::string::npos ? ~0ULL : std::stoull(json.substr(at + name.size() + 3));
}

// `usage-ledger broker` (the embedded broker in its own process) with `partitions` per topic;
// `address` is empty when it did not come up within 30 s.
struct Broker {
    std::string file;
    std::unique_ptr<ChildProcess> process;
    std::string address;
};

Broker start_broker(const std::filesystem::path& dir, const std::string& partitions) {
    Broker broker;
    broker.file = (dir / "bootstrap").string();
    broker.process = std::make_unique<ChildProcess>(
        "broker",
        std::vector<std::string>{UL_BINARY, "broker", "--bootstrap-file", broker.file,
                                 "--partitions", partitions},
        dir);
    if (ul::test::wait_until([&] { return std::filesystem::exists(broker.file); }, 30s)) {
        broker.address = ul::test::read_file(broker.file);
        broker.address.erase(broker.address.find_last_not_of("\n ") + 1);
    }
    return broker;
}

TEST(LedgerScaleOut, PartitionsMovingBetweenInstancesAreNeverAcceptedTwice) {
    const char* fixed = std::getenv("UL_TEST_SEED");
    const unsigned seed =
        fixed != nullptr ? static_cast<unsigned>(std::stoul(fixed)) : std::random_device{}();
    std::printf("seed %u (UL_TEST_SEED replays it)\n", seed);
    std::mt19937 random(seed);

    ul::test::TempDir dir;
    const Broker broker = start_broker(dir.path(), "6");
    ASSERT_FALSE(broker.address.empty()) << "the broker did not start";
    const std::string& bootstrap_file = broker.file;
    const std::string& bootstrap = broker.address;
    const std::string store_a = (dir.path() / "a").string();
    const std::string store_b = (dir.path() / "b").string();
    auto ledger = [&](const std::string& name, const std::string& store) {
        return std::make_unique<ChildProcess>(
            name,
            std::vector<std::string>{UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file,
                                     "--data-dir", store, "--session-timeout", "6", "--sync",
                                     "false"},
            dir.path());
    };
    auto summed = [&] {
        const auto out = ul::test::run_and_capture(
            "stats", {UL_BINARY, "stats", "--data-dir", store_a, "--data-dir", store_b}, dir.path(),
            60s);
        return out.value_or("");
    };
    std::unique_ptr<ChildProcess> a;
    std::unique_ptr<ChildProcess> b;
    auto wait_consumed = [&](const Expected& expected, const char* phase) {
        std::string last;
        const bool reached = ul::test::wait_until(
            [&] {
                last = summed();
                return field(last, "consumed") == expected.consumed();
            },
            180s);
        auto tail = [](const std::unique_ptr<ChildProcess>& child) {
            const std::string text = child ? child->stderr_text() : std::string();
            return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
        };
        EXPECT_TRUE(reached) << phase << ": summed stats " << last << " want consumed "
                             << expected.consumed() << "\nA's log:\n"
                             << tail(a) << "\nB's log:\n"
                             << tail(b);
        return reached;
    };

    ul::test::RawProducer producer(bootstrap);
    Expected expected;
    int next = 0;
    // Each store exists before `stats` reads both (an instance creates it at start).
    a = ledger("ledger-a1", store_a);
    b = ledger("ledger-b1", store_b);
    produce_round(producer, random, next, 1500, expected);
    ASSERT_TRUE(wait_consumed(expected, "both running"));

    // A stops cleanly: B takes every partition, with duplicates of what A accepted.
    a->signal(SIGTERM);
    ASSERT_EQ(a->wait(60s), std::optional<int>(0));
    produce_round(producer, random, next, 1500, expected);
    ASSERT_TRUE(wait_consumed(expected, "A stopped"));

    // A comes back (partitions move to it again), then B is killed while events flow.
    a = ledger("ledger-a2", store_a);
    produce_round(producer, random, next, 1000, expected);
    ASSERT_TRUE(wait_consumed(expected, "A back"));
    produce_round(producer, random, next, 500, expected);
    b->signal(SIGKILL);
    (void)b->wait(30s);
    produce_round(producer, random, next, 1000, expected);
    ASSERT_TRUE(wait_consumed(expected, "B killed"));

    // B comes back with its stale store; A is killed; B holds everything.
    b = ledger("ledger-b2", store_b);
    produce_round(producer, random, next, 500, expected);
    ASSERT_TRUE(wait_consumed(expected, "B back"));
    a->signal(SIGKILL);
    (void)a->wait(30s);
    produce_round(producer, random, next, 1000, expected);
    ASSERT_TRUE(wait_consumed(expected, "A killed"));
    b->signal(SIGTERM);
    ASSERT_EQ(b->wait(60s), std::optional<int>(0));

    const std::string stats = summed();
    EXPECT_EQ(field(stats, "accepted"), expected.accepted) << stats;
    EXPECT_EQ(field(stats, "duplicate"), expected.duplicate) << stats;
    EXPECT_EQ(field(stats, "conflict"), expected.conflict) << stats;
    EXPECT_EQ(field(stats, "dead_lettered"), expected.dead_lettered) << stats;
    for (const auto& store : {store_a, store_b}) {
        const auto verified = ul::test::run_and_capture(
            "verify", {UL_BINARY, "verify", "--data-dir", store}, dir.path(), 60s);
        EXPECT_TRUE(verified && verified->find("\"ok\":true") != std::string::npos)
            << store << ": " << verified.value_or("(failed)");
    }
}

// An instance that takes a partition over later must not decide again what was decided: here
// "later" is a narrower --max-event-age, as if hours had passed, and the events A accepted are
// now too old to accept. Rebuilt from usage.ledger, B knows them (their duplicates are
// duplicates) and starts where A stopped; read again from usage.events, B would dead-letter
// every one of them (and on a real cluster, retention may have deleted them already).
TEST(LedgerScaleOut, AnInstanceTakingOverLaterKeepsWhatWasDecided) {
    ul::test::TempDir dir;
    const Broker broker = start_broker(dir.path(), "4");
    ASSERT_FALSE(broker.address.empty()) << "the broker did not start";
    const std::string& bootstrap_file = broker.file;
    const std::string& bootstrap = broker.address;
    const std::string store_a = (dir.path() / "a").string();
    const std::string store_b = (dir.path() / "b").string();
    auto stats = [&](std::vector<std::string> dirs) {
        std::vector<std::string> argv = {UL_BINARY, "stats"};
        for (const auto& store : dirs) {
            argv.push_back("--data-dir");
            argv.push_back(store);
        }
        return ul::test::run_and_capture("stats", argv, dir.path(), 60s).value_or("");
    };
    ul::test::RawProducer producer(bootstrap);
    // 2,000 events of two hours ago, then 500 of now.
    const std::string two_hours_ago = hours_ago(2);
    constexpr int kFirst = 2500;
    for (int number = 0; number < kFirst; ++number) {
        producer.produce("usage.events", "t" + std::to_string(number % 23),
                         event_json(number, 1, number < 2000 ? two_hours_ago : stamp()));
    }
    ASSERT_TRUE(producer.flush(60000));
    {
        ChildProcess a("ledger-a",
                       {UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file, "--data-dir",
                        store_a, "--session-timeout", "6"},
                       dir.path());
        std::string last;
        ASSERT_TRUE(ul::test::wait_until(
            [&] {
                last = stats({store_a});
                return field(last, "accepted") == kFirst;
            },
            120s))
            << last;
        a.signal(SIGTERM);
        ASSERT_EQ(a.wait(60s), std::optional<int>(0));
    }
    // Repeats of the 500 recent accepted events (an old one would be dead-lettered as too old
    // before its key is looked at, by any instance), and 500 new ones.
    for (int number = 0; number < 500; ++number) {
        producer.produce("usage.events", "t" + std::to_string((2000 + number) % 23),
                         event_json(2000 + number, 1, stamp()));
        producer.produce("usage.events", "t" + std::to_string((kFirst + number) % 23),
                         event_json(kFirst + number, 1, stamp()));
    }
    ASSERT_TRUE(producer.flush(60000));
    ChildProcess b("ledger-b",
                   {UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file, "--data-dir", store_b,
                    "--session-timeout", "6", "--max-event-age", "1h"},
                   dir.path());
    std::string last;
    const bool reached = ul::test::wait_until(
        [&] {
            last = stats({store_a, store_b});
            return field(last, "consumed") == kFirst + 1000;
        },
        120s);
    EXPECT_TRUE(reached) << last;
    EXPECT_EQ(field(last, "accepted"), kFirst + 500U) << last;
    EXPECT_EQ(field(last, "duplicate"), 500U) << last;
    EXPECT_EQ(field(last, "dead_lettered"), 0U) << last;
    // B alone holds the whole history of every partition now: A's entries came with it.
    const std::string own = stats({store_b});
    EXPECT_EQ(field(own, "accepted"), kFirst + 500U) << own;
    b.signal(SIGTERM);
    ASSERT_EQ(b.wait(60s), std::optional<int>(0));
    const auto verified = ul::test::run_and_capture(
        "verify", {UL_BINARY, "verify", "--data-dir", store_b}, dir.path(), 60s);
    EXPECT_TRUE(verified && verified->find("\"entries\":3000") != std::string::npos)
        << verified.value_or("(failed)");
}

}  // namespace
