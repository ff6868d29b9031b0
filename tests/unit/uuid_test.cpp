#include "producers/uuid.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <regex>
#include <set>

namespace ul {
namespace {

const std::regex kUuidV7("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

// The 48-bit Unix millisecond timestamp in the first 12 hex digits.
std::uint64_t timestamp_of(const std::string& uuid) {
    const std::string hex = uuid.substr(0, 8) + uuid.substr(9, 4);
    return std::strtoull(hex.c_str(), nullptr, 16);
}

std::uint64_t system_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

TEST(UuidV7, LayoutFollowsRfc9562) {
    const std::array<std::uint8_t, 10> random = {0xFF, 0xAB, 0xFF, 1, 2, 3, 4, 5, 6, 7};
    const std::string uuid = uuid_v7(0x0123456789ABULL, random);
    EXPECT_EQ(uuid, "01234567-89ab-7fab-bf01-020304050607");
    EXPECT_TRUE(std::regex_match(uuid, kUuidV7));
    EXPECT_EQ(timestamp_of(uuid), 0x0123456789ABULL);
}

TEST(UuidV7, VersionAndVariantBitsWhateverTheRandomBytes) {
    const auto seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    for (int round = 0; round < 2'000; ++round) {
        std::array<std::uint8_t, 10> bytes{};
        for (auto& byte : bytes) {
            byte = static_cast<std::uint8_t>(random());
        }
        const std::uint64_t unix_ms = random() & 0xFFFFFFFFFFFFULL;
        const std::string uuid = uuid_v7(unix_ms, bytes);
        ASSERT_TRUE(std::regex_match(uuid, kUuidV7)) << uuid;
        ASSERT_EQ(timestamp_of(uuid), unix_ms) << uuid;
    }
    // All-zero and all-one random bytes still carry version 7 and variant 0b10.
    EXPECT_EQ(uuid_v7(0, {}), "00000000-0000-7000-8000-000000000000");
    std::array<std::uint8_t, 10> ones{};
    ones.fill(0xFF);
    EXPECT_EQ(uuid_v7(0xFFFFFFFFFFFFULL, ones), "ffffffff-ffff-7fff-bfff-ffffffffffff");
}

TEST(UuidV7, SameMillisecondSortsInOrderOfMaking) {
    UuidV7Generator generator;
    std::string previous = generator.next(1'000);
    for (int index = 0; index < 10'000; ++index) {  // more than the 12-bit counter holds
        const std::string next = generator.next(1'000);
        ASSERT_TRUE(std::regex_match(next, kUuidV7)) << next;
        EXPECT_LT(previous, next);
        previous = next;
    }
    EXPECT_LT(previous, generator.next(5'000));
    // A clock stepping back never makes a smaller UUID.
    const std::string after_step_back = generator.next(10);
    EXPECT_LT(previous, after_step_back);
}

TEST(UuidV7, NextReadsTheSystemClockAndNeverGoesBack) {
    UuidV7Generator generator;
    const std::uint64_t before = system_ms();
    std::string previous = generator.next();
    for (int index = 0; index < 1'000; ++index) {
        const std::string next = generator.next();
        EXPECT_LT(previous, next);
        previous = next;
    }
    const std::uint64_t after = system_ms();
    // The counter may borrow a few milliseconds ahead when it runs over within one millisecond.
    EXPECT_GE(timestamp_of(previous), before);
    EXPECT_LE(timestamp_of(previous), after + 1'000);
}

TEST(UuidV7, TwoGeneratorsInTheSameMillisecondDiffer) {
    std::set<std::string> seen;
    for (int index = 0; index < 100; ++index) {
        UuidV7Generator generator;  // each seeded on its own
        EXPECT_TRUE(seen.insert(generator.next(42)).second);
    }
}

}  // namespace
}  // namespace ul
