// The ledger store on a real RocksDB in a temp dir: batches, reopen, redelivery, tampering,
// a secondary reader beside the writer, and a seeded property test against a reference model.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "ledger/ledger_store.h"
#include "schemas/time.h"
#include "tests/support/process.h"

namespace ul {
namespace {

const std::int64_t kNow = *parse_rfc3339("2026-11-24T12:00:00Z");

std::string event(const std::string& tenant, const std::string& key, const std::string& quantity) {
    return R"({"idempotency_key":")" + key + R"(","tenant_id":")" + tenant +
           R"(","meter":"tokens","quantity":)" + quantity +
           R"(,"timestamp":"2026-11-22T10:15:00Z"})";
}

std::unique_ptr<LedgerStore> open_store(const std::string& path,
                                        OpenMode mode = OpenMode::read_write) {
    LedgerStoreOptions options;
    options.path = path;
    options.sync = false;
    auto store = LedgerStore::open(options, mode);
    EXPECT_TRUE(store) << (store ? "" : store.error());
    return store ? std::move(store).value() : nullptr;
}

TEST(LedgerStore, AppliesBatchesAndSurvivesReopen) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    std::vector<std::string> values = {event("acme", "a", "1"), event("acme", "a", "1"),
                                       event("acme", "a", "2"), "not json",
                                       event("beta", "a", "\"0.5\"")};
    {
        auto store = open_store(path);
        std::vector<SourceMessage> batch;
        for (std::size_t index = 0; index < values.size(); ++index) {
            batch.push_back(
                SourceMessage{3, static_cast<std::int64_t>(100 + index), "k", values[index]});
        }
        auto outcomes = store->apply(batch, kNow);
        ASSERT_TRUE(outcomes) << outcomes.error();
        EXPECT_EQ((*outcomes)[0].decision.verdict, Verdict::accepted);
        EXPECT_EQ((*outcomes)[1].decision.verdict, Verdict::duplicate);
        EXPECT_EQ((*outcomes)[2].decision.verdict, Verdict::conflict);
        EXPECT_EQ((*outcomes)[3].decision.verdict, Verdict::invalid);
        EXPECT_EQ((*outcomes)[3].decision.reason, Reason::malformed_json);
        EXPECT_EQ((*outcomes)[4].sequence, 1U);
    }
    auto store = open_store(path);
    EXPECT_EQ(store->counts().accepted, 2U);
    EXPECT_EQ(store->counts().duplicate, 1U);
    EXPECT_EQ(store->counts().conflict, 1U);
    EXPECT_EQ(store->counts().dead_lettered, 1U);
    EXPECT_EQ(store->partition(3).next_offset, 105);
    EXPECT_EQ(store->partition(3).next_sequence, 2U);
    EXPECT_EQ(store->partition(3).dlq_next, 1U);

    // Redelivery of consumed offsets is a no-op; the next offset is new.
    std::vector<SourceMessage> again = {{3, 101, "k", values[1]}, {3, 105, "k", values[0]}};
    auto outcomes = store->apply(again, kNow);
    ASSERT_TRUE(outcomes);
    EXPECT_TRUE((*outcomes)[0].redelivery);
    EXPECT_EQ((*outcomes)[1].decision.verdict, Verdict::duplicate);
    EXPECT_EQ(store->counts().consumed(), 6U);

    std::vector<std::string> letters;
    ASSERT_TRUE(store->read_dead_letters(3, 0, 10, [&](std::uint64_t, const DeadLetter& letter) {
        letters.emplace_back(letter.value);
        EXPECT_EQ(letter.source_offset, 103);
    }));
    EXPECT_EQ(letters, std::vector<std::string>{"not json"});
    const auto report = store->verify();
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.entries, 2U);
}

TEST(LedgerStore, TamperingWithOneByteIsDetectedAtItsPosition) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    auto store = open_store(path);
    std::vector<std::string> values;
    for (int index = 0; index < 10; ++index) {
        values.push_back(event("acme", "k" + std::to_string(index), "1"));
    }
    std::vector<SourceMessage> batch;
    for (std::size_t index = 0; index < values.size(); ++index) {
        batch.push_back(SourceMessage{0, static_cast<std::int64_t>(index), "acme", values[index]});
    }
    ASSERT_TRUE(store->apply(batch, kNow));
    ASSERT_TRUE(store->verify().ok);
    // Change one byte of entry (0, 4): quantity 1 → 7.
    std::array<char, 12> key{};
    key[11] = 4;
    std::string entry;
    ASSERT_TRUE(store->raw_db()
                    ->Get(rocksdb::ReadOptions(), store->entries_family(),
                          rocksdb::Slice(key.data(), key.size()), &entry)
                    .ok());
    const auto at = entry.find("\"quantity\":\"1\"");
    ASSERT_NE(at, std::string::npos);
    entry[at + 12] = '7';
    ASSERT_TRUE(store->raw_db()
                    ->Put(rocksdb::WriteOptions(), store->entries_family(),
                          rocksdb::Slice(key.data(), key.size()), entry)
                    .ok());
    const auto report = store->verify();
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.partition, 0U);
    EXPECT_EQ(report.sequence, 4U) << report.problem;
}

TEST(LedgerStore, ASecondaryReaderFollowsALiveWriter) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    auto writer = open_store(path);
    const std::string value = event("acme", "one", "1");
    ASSERT_TRUE(writer->apply(std::vector<SourceMessage>{{0, 0, "acme", value}}, kNow));
    auto reader = open_store(path, OpenMode::secondary);
    ASSERT_NE(reader, nullptr);
    EXPECT_EQ(reader->counts().accepted, 1U);
    const std::string second = event("acme", "two", "1");
    ASSERT_TRUE(writer->apply(std::vector<SourceMessage>{{0, 1, "acme", second}}, kNow));
    ASSERT_TRUE(reader->catch_up());
    EXPECT_EQ(reader->counts().accepted, 2U);
    EXPECT_TRUE(reader->verify().ok);
}

// Random streams with duplicates, conflicts, invalid lines and redeliveries, in random batches,
// with reopens, against a simple reference model: counts and contents must be equal.
TEST(LedgerStore, PropertyMatchesAReferenceModel) {
    const auto seed = static_cast<std::uint64_t>(std::random_device{}());
    std::printf("LedgerStore.PropertyMatchesAReferenceModel seed %llu\n",
                static_cast<unsigned long long>(seed));
    std::mt19937_64 random(seed);
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    auto store = open_store(path);

    // The input log: per partition, a list of messages at offsets 0, 1, 2, …
    constexpr std::uint32_t kPartitions = 4;
    std::vector<std::vector<std::string>> log(kPartitions);
    for (int index = 0; index < 3000; ++index) {
        const auto partition = static_cast<std::uint32_t>(random() % kPartitions);
        const auto roll = random() % 100;
        if (roll < 8) {
            log[partition].push_back(roll % 2 ? "[1]" : "{\"idempotency_key\":");
        } else {
            const std::string tenant = "t" + std::to_string(random() % 3);
            const std::string key = "k" + std::to_string(random() % 800);
            log[partition].push_back(event(tenant, key, std::to_string(random() % 2 + 1)));
        }
    }
    // Reference model: consume every offset once, in partition order of delivery.
    std::map<std::pair<std::string, std::string>, std::string> first_payload;
    OutcomeCounts expected;
    std::vector<std::size_t> delivered(kPartitions, 0);  // next offset delivered per partition
    std::vector<std::size_t> model_next(kPartitions, 0);
    EventValidator validator;
    std::multiset<std::string> expected_entries;
    while (true) {
        std::vector<SourceMessage> batch;
        const std::size_t size = 1 + random() % 100;
        for (std::size_t index = 0; index < size; ++index) {
            const auto partition = static_cast<std::uint32_t>(random() % kPartitions);
            if (delivered[partition] >= log[partition].size()) {
                continue;
            }
            // Sometimes redeliver an old offset (at-least-once delivery after a crash).
            std::size_t offset = delivered[partition]++;
            if (offset > 5 && random() % 10 == 0) {
                offset -= 1 + random() % 5;
                --delivered[partition];
            }
            batch.push_back(SourceMessage{partition, static_cast<std::int64_t>(offset), "k",
                                          log[partition][offset]});
            if (offset == model_next[partition]) {
                ++model_next[partition];
                auto parsed = validator.validate(log[partition][offset], kNow);
                if (!parsed) {
                    expected.add({Verdict::invalid, parsed.error().reason});
                } else {
                    std::string canonical;
                    append_canonical_event(*parsed, canonical);
                    auto [it, inserted] = first_payload.try_emplace(
                        {std::string(parsed->tenant_id), std::string(parsed->idempotency_key)},
                        canonical);
                    if (inserted) {
                        expected.add({Verdict::accepted, Reason::malformed_json});
                        expected_entries.insert(canonical);
                    } else {
                        expected.add(
                            {it->second == canonical ? Verdict::duplicate : Verdict::conflict,
                             Reason::malformed_json});
                    }
                }
            }
        }
        if (batch.empty()) {
            bool done = true;
            for (std::uint32_t partition = 0; partition < kPartitions; ++partition) {
                done = done && delivered[partition] >= log[partition].size();
            }
            if (done) {
                break;
            }
            continue;
        }
        ASSERT_TRUE(store->apply(batch, kNow));
        if (random() % 20 == 0) {
            store.reset();
            store = open_store(path);
        }
    }
    EXPECT_EQ(store->counts(), expected);
    std::multiset<std::string> entries;
    ASSERT_TRUE(store->for_each_entry([&](std::string_view entry) {
        auto decoded = decode_ledger_entry_header(entry);
        ASSERT_TRUE(decoded);
        entries.insert(std::string(decoded->event_json));
    }));
    EXPECT_EQ(entries, expected_entries);
    const auto report = store->verify();
    EXPECT_TRUE(report.ok) << report.problem;
}

}  // namespace
}  // namespace ul
