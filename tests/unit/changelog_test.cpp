// The ledger's changelog (scale-out): progress markers round-trip, and PartitionRebuild adopts
// exactly the entries up to the most advanced marker, refusing gaps and forks.
#include "ledger/changelog.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "schemas/event.h"
#include "schemas/time.h"

namespace ul {
namespace {

const std::int64_t kNow = *parse_rfc3339("2026-11-24T12:00:00Z");

// Entries 0..count-1 of `partition`, chained, each for its own idempotency key.
std::vector<std::string> chain(std::uint32_t partition, std::size_t count,
                               std::string_view tag = "k") {
    EventValidator validator;
    std::vector<std::string> entries;
    PayloadHash previous;
    for (std::size_t index = 0; index < count; ++index) {
        const std::string message = R"({"tenant_id":"acme","idempotency_key":")" +
                                    std::string(tag) + std::to_string(index) +
                                    R"(","meter":"api_calls","quantity":1,)"
                                    R"("timestamp":"2026-11-24T11:00:00Z"})";
        auto event = validator.validate(message, kNow);
        EXPECT_TRUE(event.ok());
        std::string entry;
        append_ledger_entry({partition, index, static_cast<std::int64_t>(10 * index), previous},
                            *event, entry);
        previous = entry_hash(entry);
        entries.push_back(std::move(entry));
    }
    return entries;
}

ProgressMarker marker_after(const std::vector<std::string>& entries, std::size_t count,
                            std::int64_t next_offset) {
    ProgressMarker marker;
    marker.partition = 3;
    marker.next_offset = next_offset;
    marker.next_sequence = count;
    marker.chain_head = count == 0 ? PayloadHash{} : entry_hash(entries[count - 1]);
    marker.counts.accepted = count;
    marker.counts.duplicate = 7;
    marker.counts.dead_lettered = 2;
    marker.counts.dead_lettered_by_reason[1] = 2;
    return marker;
}

TEST(ProgressMarker, RoundTrips) {
    const auto entries = chain(3, 4);
    ProgressMarker marker = marker_after(entries, 4, 123456789012);
    marker.counts.conflict = 1;
    std::string encoded;
    append_progress_marker(marker, encoded);
    auto decoded = decode_progress_marker(encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.error();
    EXPECT_EQ(*decoded, marker);
}

TEST(ProgressMarker, RefusesWhatIsNotAMarker) {
    EXPECT_FALSE(decode_progress_marker("{}").ok());
    EXPECT_FALSE(decode_progress_marker("not json").ok());
    EXPECT_FALSE(decode_progress_marker(R"({"marker":"progress","partition":1})").ok());
    std::string encoded;
    append_progress_marker(ProgressMarker{}, encoded);
    encoded.replace(encoded.find("\"dead_lettered_by_reason\":["), 27,
                    "\"dead_lettered_by_reason\":[1,");
    EXPECT_FALSE(decode_progress_marker(encoded).ok());  // 14 counts
}

TEST(PartitionRebuild, AdoptsTheEntriesUpToTheMostAdvancedMarker) {
    const auto entries = chain(3, 6);
    PartitionRebuild rebuild(3, -1, 0, PayloadHash{});
    for (std::size_t index = 0; index < 4; ++index) {
        ASSERT_TRUE(rebuild.entry(entries[index]).value());
    }
    auto adoption = rebuild.marker(marker_after(entries, 4, 40));
    ASSERT_TRUE(adoption.ok()) << adoption.error();
    ASSERT_TRUE(adoption->has_value());
    EXPECT_EQ((*adoption)->entries.size(), 4U);
    EXPECT_EQ((*adoption)->entries[3], entries[3]);
    EXPECT_EQ(rebuild.next_sequence(), 4U);
    EXPECT_EQ(rebuild.next_offset(), 40);
    // Entries after the last marker are not adopted: consumed again, they come out the same.
    ASSERT_TRUE(rebuild.entry(entries[4]).value());
    EXPECT_EQ(rebuild.next_sequence(), 4U);
    // A stale marker (a slower instance's, further back) changes nothing.
    auto stale = rebuild.marker(marker_after(entries, 2, 20));
    ASSERT_TRUE(stale.ok());
    EXPECT_FALSE(stale->has_value());
}

TEST(PartitionRebuild, PassesOverWhatTheStoreHasAndRepeatedPublishes) {
    const auto entries = chain(3, 6);
    // The store holds 0..2 (its own, published); the changelog has 0..5, with 1..2 repeated.
    PartitionRebuild rebuild(3, 25, 3, entry_hash(entries[2]));
    for (const std::size_t index : {0, 1, 2, 1, 2, 3, 4, 5}) {
        ASSERT_TRUE(rebuild.entry(entries[index]).ok());
    }
    auto adoption = rebuild.marker(marker_after(entries, 6, 60));
    ASSERT_TRUE(adoption.ok()) << adoption.error();
    ASSERT_TRUE(adoption->has_value());
    ASSERT_EQ((*adoption)->entries.size(), 3U);
    EXPECT_EQ((*adoption)->entries[0], entries[3]);
    // Only duplicates since: a marker further along with the same sequence is adopted too.
    auto further = rebuild.marker(marker_after(entries, 6, 75));
    ASSERT_TRUE(further.ok());
    ASSERT_TRUE(further->has_value());
    EXPECT_TRUE((*further)->entries.empty());
    EXPECT_EQ(rebuild.next_offset(), 75);
}

TEST(PartitionRebuild, KeepsTheStoreWhenItIsFurtherAlong) {
    const auto entries = chain(3, 4);
    PartitionRebuild rebuild(3, 100, 4, entry_hash(entries[3]));
    for (const auto& entry : entries) {
        ASSERT_TRUE(rebuild.entry(entry).ok());
    }
    auto adoption = rebuild.marker(marker_after(entries, 4, 40));
    ASSERT_TRUE(adoption.ok());
    EXPECT_FALSE(adoption->has_value());
    EXPECT_EQ(rebuild.next_offset(), 100);
}

TEST(PartitionRebuild, RefusesAMissingSequence) {
    const auto entries = chain(3, 4);
    PartitionRebuild rebuild(3, -1, 0, PayloadHash{});
    ASSERT_TRUE(rebuild.entry(entries[0]).ok());
    auto skipped = rebuild.entry(entries[2]);
    ASSERT_FALSE(skipped.ok());
    EXPECT_NE(skipped.error().find("lacks ledger sequences 1..1"), std::string::npos)
        << skipped.error();
}

TEST(PartitionRebuild, RefusesAnotherHistory) {
    const auto ours = chain(3, 2, "ours-");
    const auto theirs = chain(3, 4, "theirs-");
    // The store holds its own 0..1; the changelog continues another history from 2.
    PartitionRebuild rebuild(3, 20, 2, entry_hash(ours[1]));
    ASSERT_TRUE(rebuild.entry(theirs[2]).ok());
    ASSERT_TRUE(rebuild.entry(theirs[3]).ok());
    auto adoption = rebuild.marker(marker_after(theirs, 4, 40));
    ASSERT_FALSE(adoption.ok());
    EXPECT_NE(adoption.error().find("hash chain broken at sequence 2"), std::string::npos)
        << adoption.error();
    // A marker naming fewer entries than the store holds, further along the source: a fork.
    PartitionRebuild behind(3, 20, 2, entry_hash(ours[1]));
    auto fork = behind.marker(marker_after(theirs, 1, 40));
    ASSERT_FALSE(fork.ok());
    EXPECT_NE(fork.error().find("two histories"), std::string::npos) << fork.error();
}

TEST(PartitionRebuild, RefusesAMarkerOfAnotherPartitionOrBeyondItsEntries) {
    const auto entries = chain(3, 2);
    PartitionRebuild rebuild(3, -1, 0, PayloadHash{});
    ASSERT_TRUE(rebuild.entry(entries[0]).ok());
    EXPECT_FALSE(rebuild.marker(marker_after(entries, 2, 20)).ok());  // entry 1 missing
    ProgressMarker other = marker_after(entries, 1, 10);
    other.partition = 4;
    EXPECT_FALSE(rebuild.marker(other).ok());
    EXPECT_FALSE(rebuild.entry(chain(5, 1)[0]).ok());  // an entry of partition 5
}

}  // namespace
}  // namespace ul
