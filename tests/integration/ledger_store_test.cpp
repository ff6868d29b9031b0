// The ledger store on a real RocksDB in a temp dir: batches, reopen, redelivery, positions of
// duplicates, dense sequences and the hash chain, tampering, gaps and outbox watermarks, a
// secondary reader beside a live writer, and a seeded property test against a reference model
// (seed printed; UL_TEST_SEED replays it).
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ledger/ledger_store.h"
#include "schemas/time.h"
#include "tests/support/process.h"

namespace ul {
namespace {

const std::int64_t kNow = *parse_rfc3339("2026-11-24T12:00:00Z");

std::uint64_t test_seed(const char* name) {
    const char* forced = std::getenv("UL_TEST_SEED");
    const std::uint64_t seed =
        forced != nullptr ? std::strtoull(forced, nullptr, 10) : std::random_device{}();
    std::printf("%s seed %llu (UL_TEST_SEED=%llu replays it)\n", name,
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    return seed;
}

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
    options.write_buffer_bytes = 256U << 10U;  // flushes within the tests
    auto store = LedgerStore::open(options, mode);
    EXPECT_TRUE(store) << (store ? "" : store.error());
    return store ? std::move(store).value() : nullptr;
}

std::vector<SourceMessage> messages(std::uint32_t partition, std::int64_t first_offset,
                                    const std::vector<std::string>& values) {
    std::vector<SourceMessage> batch;
    for (std::size_t index = 0; index < values.size(); ++index) {
        batch.push_back(SourceMessage{partition, first_offset + static_cast<std::int64_t>(index),
                                      "k", values[index]});
    }
    return batch;
}

// Every entry of a partition, checked for density and the hash chain on the way.
std::vector<std::string> chained_entries(const LedgerStore& store, std::uint32_t partition) {
    std::vector<std::string> entries;
    PayloadHash previous;
    std::uint64_t expected = 0;
    auto read = store.read_entries(partition, 0, 1'000'000,
                                   [&](std::uint64_t sequence, std::string_view entry) {
                                       EXPECT_EQ(sequence, expected++);
                                       auto decoded = decode_ledger_entry_header(entry);
                                       EXPECT_TRUE(decoded);
                                       if (decoded) {
                                           EXPECT_EQ(decoded->header.partition, partition);
                                           EXPECT_EQ(decoded->header.sequence, sequence);
                                           EXPECT_EQ(decoded->header.prev_hash, previous);
                                       }
                                       previous = entry_hash(entry);
                                       entries.emplace_back(entry);
                                   });
    EXPECT_TRUE(read);
    EXPECT_EQ(store.partition(partition).next_sequence, entries.size());
    EXPECT_EQ(store.partition(partition).chain_head, previous);
    return entries;
}

TEST(LedgerStore, AppliesBatchesAndSurvivesReopen) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    std::vector<std::string> values = {event("acme", "a", "1"), event("acme", "a", "1"),
                                       event("acme", "a", "2"), "not json",
                                       event("beta", "a", "\"0.5\"")};
    {
        auto store = open_store(path);
        auto outcomes = store->apply(messages(3, 100, values), kNow);
        ASSERT_TRUE(outcomes) << outcomes.error();
        EXPECT_EQ((*outcomes)[0].decision.verdict, Verdict::accepted);
        EXPECT_EQ((*outcomes)[1].decision.verdict, Verdict::duplicate);
        EXPECT_EQ((*outcomes)[2].decision.verdict, Verdict::conflict);
        EXPECT_EQ((*outcomes)[3].decision.verdict, Verdict::invalid);
        EXPECT_EQ((*outcomes)[3].decision.reason, Reason::malformed_json);
        EXPECT_EQ((*outcomes)[4].decision.verdict, Verdict::accepted);
        EXPECT_EQ((*outcomes)[4].sequence, 1U);
    }
    auto store = open_store(path);
    EXPECT_EQ(store->counts().accepted, 2U);
    EXPECT_EQ(store->counts().duplicate, 1U);
    EXPECT_EQ(store->counts().conflict, 1U);
    EXPECT_EQ(store->counts().dead_lettered, 1U);
    EXPECT_EQ(
        store->counts().dead_lettered_by_reason[static_cast<std::size_t>(Reason::malformed_json)],
        1U);
    EXPECT_EQ(store->partition(3).next_offset, 105);
    EXPECT_EQ(store->partition(3).next_sequence, 2U);
    EXPECT_EQ(store->partition(3).dlq_next, 1U);
    EXPECT_EQ(chained_entries(*store, 3).size(), 2U);

    // Redelivery of consumed offsets is a no-op, also after a reopen; the next offset is new.
    std::vector<SourceMessage> again = {{3, 101, "k", values[1]}, {3, 105, "k", values[0]}};
    auto outcomes = store->apply(again, kNow);
    ASSERT_TRUE(outcomes);
    EXPECT_TRUE((*outcomes)[0].redelivery);
    EXPECT_FALSE((*outcomes)[1].redelivery);
    EXPECT_EQ((*outcomes)[1].decision.verdict, Verdict::duplicate);
    EXPECT_EQ(store->counts().consumed(), 6U);
    EXPECT_EQ(store->partition(3).next_offset, 106);

    std::vector<std::string> letters;
    ASSERT_TRUE(store->read_dead_letters(3, 0, 10, [&](std::uint64_t, const DeadLetter& letter) {
        letters.emplace_back(letter.value);
        EXPECT_EQ(letter.source_offset, 103);
        EXPECT_EQ(letter.reason, Reason::malformed_json);
        EXPECT_EQ(letter.key, "k");
        EXPECT_FALSE(letter.detail.empty());
    }));
    EXPECT_EQ(letters, std::vector<std::string>{"not json"});
    const auto report = store->verify();
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.entries, 2U);
    EXPECT_EQ(report.dedup_keys, 2U);
}

// A NULL Kafka value and an empty one are both malformed, and their dead letters keep which was
// which (the relay publishes NULL as NULL), also after a reopen.
TEST(LedgerStore, ADeadLetterRemembersANullValue) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    {
        auto store = open_store(path);
        std::vector<SourceMessage> batch = {{2, 0, "a", ""}, {2, 1, "b", ""}, {2, 2, "c", "x"}};
        batch[0].value_null = true;
        ASSERT_TRUE(store->apply(batch, kNow));
    }
    auto store = open_store(path);
    std::vector<std::pair<std::string, bool>> letters;
    ASSERT_TRUE(store->read_dead_letters(2, 0, 10, [&](std::uint64_t, const DeadLetter& letter) {
        letters.emplace_back(std::string(letter.key) + "=" + std::string(letter.value),
                             letter.value_null);
        EXPECT_EQ(letter.reason, Reason::malformed_json);
    }));
    EXPECT_EQ(letters, (std::vector<std::pair<std::string, bool>>{
                           {"a=", true}, {"b=", false}, {"c=x", false}}));
}

TEST(LedgerStore, DuplicatesAndConflictsNameThePositionThatWon) {
    test::TempDir dir;
    auto store = open_store((dir.path() / "ledger").string());
    ASSERT_TRUE(
        store->apply(messages(1, 0, {event("acme", "x", "1"), event("acme", "y", "1")}), kNow));
    // Partition 2 repeats partition 1's key (same tenant, another partition) and its own.
    auto outcomes = store->apply(
        messages(2, 0,
                 {event("acme", "z", "1"), event("acme", "y", "1"), event("acme", "y", "9"),
                  event("acme", "z", "1"), event("acme", "z", "5")}),
        kNow);
    ASSERT_TRUE(outcomes);
    const auto& result = *outcomes;
    EXPECT_EQ(result[0].decision.verdict, Verdict::accepted);
    EXPECT_EQ(result[0].partition, 2U);
    EXPECT_EQ(result[0].sequence, 0U);
    EXPECT_EQ(result[1].decision.verdict, Verdict::duplicate);  // of (1, 1), stored
    EXPECT_EQ(result[1].partition, 1U);
    EXPECT_EQ(result[1].sequence, 1U);
    EXPECT_EQ(result[2].decision.verdict, Verdict::conflict);  // with (1, 1)
    EXPECT_EQ(result[2].partition, 1U);
    EXPECT_EQ(result[2].sequence, 1U);
    EXPECT_EQ(result[3].decision.verdict, Verdict::duplicate);  // of (2, 0), this batch
    EXPECT_EQ(result[3].decision.earlier, 0U);
    EXPECT_EQ(result[3].partition, 2U);
    EXPECT_EQ(result[3].sequence, 0U);
    EXPECT_EQ(result[4].decision.verdict, Verdict::conflict);
    EXPECT_EQ(result[4].partition, 2U);
    EXPECT_EQ(result[4].sequence, 0U);
}

TEST(LedgerStore, SequencesAreDenseAndChainedAcrossBatchesAndPartitions) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    auto store = open_store(path);
    std::vector<std::int64_t> offsets(3, 0);
    for (int round = 0; round < 30; ++round) {
        std::vector<std::string> values;
        std::vector<SourceMessage> batch;
        values.reserve(300);
        for (int index = 0; index < 300; ++index) {
            values.push_back(event("t" + std::to_string(index % 7),
                                   "r" + std::to_string(round) + "-" + std::to_string(index), "2"));
        }
        for (int index = 0; index < 300; ++index) {
            const auto partition = static_cast<std::uint32_t>(index % 3);
            batch.push_back(SourceMessage{partition, offsets[partition]++, "", values[index]});
        }
        ASSERT_TRUE(store->apply(batch, kNow));
        if (round == 15) {
            store.reset();
            store = open_store(path);
        }
    }
    for (std::uint32_t partition = 0; partition < 3; ++partition) {
        EXPECT_EQ(chained_entries(*store, partition).size(), 3000U);
    }
    const auto report = store->verify();
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.entries, 9000U);
}

TEST(LedgerStore, TamperingWithOneByteIsDetectedAtItsPosition) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    auto store = open_store(path);
    std::vector<std::string> values;
    for (int index = 0; index < 10; ++index) {
        values.push_back(event("acme", "k" + std::to_string(index), "1"));
    }
    ASSERT_TRUE(store->apply(messages(0, 0, values), kNow));
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

    // A reopened store (and a secondary reader) find the same.
    store.reset();
    auto reader = open_store(path, OpenMode::secondary);
    ASSERT_NE(reader, nullptr);
    const auto again = reader->verify();
    EXPECT_FALSE(again.ok);
    EXPECT_EQ(again.sequence, 4U) << again.problem;
}

TEST(LedgerStore, ARemovedEntryBreaksDensityAndTheDedupCount) {
    test::TempDir dir;
    auto store = open_store((dir.path() / "ledger").string());
    std::vector<std::string> values;
    for (int index = 0; index < 5; ++index) {
        values.push_back(event("acme", "k" + std::to_string(index), "1"));
    }
    ASSERT_TRUE(store->apply(messages(7, 0, values), kNow));
    std::array<char, 12> key{};
    key[3] = 7;
    key[11] = 2;
    ASSERT_TRUE(store->raw_db()
                    ->Delete(rocksdb::WriteOptions(), store->entries_family(),
                             rocksdb::Slice(key.data(), key.size()))
                    .ok());
    const auto report = store->verify();
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.partition, 7U);
    EXPECT_EQ(report.sequence, 2U) << report.problem;
}

TEST(LedgerStore, GapsAndOutboxWatermarksSurviveReopen) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    {
        auto store = open_store(path);
        ASSERT_TRUE(store->apply(messages(0, 0, {event("acme", "a", "1"), "[]"}), kNow));
        ASSERT_TRUE(store->record_gap(0, 2, 50));
        ASSERT_TRUE(store->set_outbox(0, 1, 1));
        // Offsets below the gap's end are redeliveries now; 50 is next.
        auto outcomes =
            store->apply(messages(0, 49, {event("acme", "b", "1"), event("acme", "c", "1")}), kNow);
        ASSERT_TRUE(outcomes);
        EXPECT_TRUE((*outcomes)[0].redelivery);
        EXPECT_EQ((*outcomes)[1].decision.verdict, Verdict::accepted);
    }
    auto store = open_store(path);
    ASSERT_EQ(store->gaps().size(), 1U);
    EXPECT_EQ(store->gaps()[0].partition, 0U);
    EXPECT_EQ(store->gaps()[0].from, 2);
    EXPECT_EQ(store->gaps()[0].to, 50);
    const PartitionState state = store->partition(0);
    EXPECT_EQ(state.next_offset, 51);
    EXPECT_EQ(state.next_sequence, 2U);
    EXPECT_EQ(state.outbox_next, 1U);
    EXPECT_EQ(state.dlq_next, 1U);
    EXPECT_EQ(state.dlq_outbox_next, 1U);
    EXPECT_EQ(store->counts().consumed(), 3U);
}

// A broker whose log is reset again and again at the same offset: every reset is its own gap
// record (none overwrites another), before and after a reopen, beside one written by an older
// version (key "g" + partition + from, no sequence), which stays readable.
TEST(LedgerStore, RepeatedGapsAtTheSameOffsetAreEachKept) {
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    {
        auto store = open_store(path);
        ASSERT_NE(store, nullptr);
        for (int reset = 0; reset < 10; ++reset) {
            ASSERT_TRUE(store->record_gap(3, 100, 10 + reset));
        }
        EXPECT_EQ(store->gaps().size(), 10U);
    }
    {
        std::unique_ptr<rocksdb::DB> db;
        std::vector<rocksdb::ColumnFamilyDescriptor> families;
        for (const char* name : {"default", "entries", "dedup", "dlq", "meta"}) {
            families.emplace_back(name, rocksdb::ColumnFamilyOptions());
        }
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        rocksdb::DB* raw = nullptr;
        ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &raw).ok());
        db.reset(raw);
        std::string old_key = {'g', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7};
        const std::string old_value = {0, 0, 0, 0, 0, 0, 0, 9};
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[4], old_key, old_value).ok());
        for (auto* handle : handles) {
            ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
        }
        ASSERT_TRUE(db->Close().ok());
    }
    auto store = open_store(path);
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(store->gaps().size(), 11U);
    std::multiset<std::int64_t> ends;
    for (const auto& gap : store->gaps()) {
        if (gap.partition == 1) {
            EXPECT_EQ(gap.from, 7);
            EXPECT_EQ(gap.to, 9);
            continue;
        }
        EXPECT_EQ(gap.partition, 3U);
        EXPECT_EQ(gap.from, 100);
        ends.insert(gap.to);
    }
    EXPECT_EQ(ends, (std::multiset<std::int64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
    ASSERT_TRUE(store->record_gap(3, 100, 20));
    EXPECT_EQ(store->gaps().size(), 12U);
    EXPECT_EQ(open_store(path, OpenMode::secondary)->gaps().size(), 12U);
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
    // Enough writes for flushes and compactions in the writer while the reader is open.
    std::vector<std::string> values;
    for (int index = 0; index < 5000; ++index) {
        values.push_back(event("acme", "many-" + std::to_string(index), "1"));
    }
    for (int start = 0; start < 5000; start += 500) {
        const std::vector<std::string> slice(values.begin() + start, values.begin() + start + 500);
        ASSERT_TRUE(writer->apply(messages(0, 1 + start, slice), kNow));
        ASSERT_TRUE(reader->catch_up());
        EXPECT_EQ(reader->counts().accepted, 1U + static_cast<std::uint64_t>(start) + 500U);
    }
    const auto report = reader->verify();
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.entries, 5001U);
    EXPECT_EQ(chained_entries(*reader, 0).size(), 5001U);
}

// Random streams with duplicates, conflicts, invalid lines and redeliveries, in random batches,
// with reopens, against a reference model: counts, entries, dead letters and the positions named
// by duplicates must be equal.
TEST(LedgerStore, PropertyMatchesAReferenceModel) {
    std::mt19937_64 random(test_seed("LedgerStore.PropertyMatchesAReferenceModel"));
    test::TempDir dir;
    const std::string path = (dir.path() / "ledger").string();
    auto store = open_store(path);

    // The input log: per partition, a list of messages at offsets 0, 1, 2, …
    constexpr std::uint32_t kPartitions = 4;
    std::vector<std::vector<std::string>> log(kPartitions);
    for (int index = 0; index < 4000; ++index) {
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
    // Reference model: every offset consumed once, in each partition's order.
    struct Position {
        std::uint32_t partition;
        std::uint64_t sequence;
        std::string canonical;
    };
    std::map<std::pair<std::string, std::string>, Position> winners;
    std::vector<std::vector<std::string>> expected_entries(kPartitions);
    std::vector<std::vector<std::pair<std::int64_t, std::string>>> expected_letters(kPartitions);
    OutcomeCounts expected;
    std::vector<std::size_t> delivered(kPartitions, 0);  // next offset delivered per partition
    std::vector<std::size_t> model_next(kPartitions, 0);
    EventValidator validator;
    while (true) {
        std::vector<SourceMessage> batch;
        std::vector<std::optional<Position>> expected_position;
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
            expected_position.emplace_back();
            if (offset != model_next[partition]) {
                continue;  // a redelivery
            }
            ++model_next[partition];
            auto parsed = validator.validate(log[partition][offset], kNow);
            if (!parsed) {
                expected.add({Verdict::invalid, parsed.error().reason});
                expected_letters[partition].emplace_back(offset, log[partition][offset]);
                continue;
            }
            std::string canonical;
            append_canonical_event(*parsed, canonical);
            const auto sequence = expected_entries[partition].size();
            auto [it, inserted] = winners.try_emplace(
                {std::string(parsed->tenant_id), std::string(parsed->idempotency_key)},
                Position{partition, sequence, canonical});
            if (inserted) {
                expected.add({Verdict::accepted, Reason::malformed_json});
                expected_entries[partition].push_back(canonical);
            } else {
                expected.add(
                    {it->second.canonical == canonical ? Verdict::duplicate : Verdict::conflict,
                     Reason::malformed_json});
            }
            expected_position.back() = it->second;
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
        auto outcomes = store->apply(batch, kNow);
        ASSERT_TRUE(outcomes) << outcomes.error();
        for (std::size_t index = 0; index < batch.size(); ++index) {
            const MessageOutcome& outcome = (*outcomes)[index];
            if (!expected_position[index]) {
                continue;  // redelivery or invalid
            }
            ASSERT_FALSE(outcome.redelivery);
            EXPECT_EQ(outcome.partition, expected_position[index]->partition);
            EXPECT_EQ(outcome.sequence, expected_position[index]->sequence);
        }
        if (random() % 20 == 0) {
            store.reset();
            store = open_store(path);
        }
    }
    EXPECT_EQ(store->counts(), expected);
    for (std::uint32_t partition = 0; partition < kPartitions; ++partition) {
        std::vector<std::string> events;
        for (const auto& entry : chained_entries(*store, partition)) {
            auto decoded = decode_ledger_entry_header(entry);
            ASSERT_TRUE(decoded);
            events.emplace_back(decoded->event_json);
        }
        EXPECT_EQ(events, expected_entries[partition]) << "partition " << partition;
        std::vector<std::pair<std::int64_t, std::string>> letters;
        ASSERT_TRUE(store->read_dead_letters(
            partition, 0, 1'000'000, [&](std::uint64_t sequence, const DeadLetter& letter) {
                EXPECT_EQ(sequence, letters.size());
                letters.emplace_back(letter.source_offset, std::string(letter.value));
            }));
        EXPECT_EQ(letters, expected_letters[partition]) << "partition " << partition;
        EXPECT_EQ(store->partition(partition).next_offset,
                  static_cast<std::int64_t>(log[partition].size()));
    }
    const auto report = store->verify();
    EXPECT_TRUE(report.ok) << report.problem;
}

}  // namespace
}  // namespace ul
