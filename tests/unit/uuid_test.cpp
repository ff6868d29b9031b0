#include "producers/uuid.h"

#include <gtest/gtest.h>

#include <regex>

namespace ul {
namespace {

TEST(UuidV7, LayoutFollowsRfc9562) {
    const std::array<std::uint8_t, 10> random = {0xFF, 0xAB, 0xFF, 1, 2, 3, 4, 5, 6, 7};
    const std::string uuid = uuid_v7(0x0123456789ABULL, random);
    EXPECT_EQ(uuid, "01234567-89ab-7fab-bf01-020304050607");
    EXPECT_TRUE(std::regex_match(
        uuid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
}

TEST(UuidV7, SameMillisecondSortsInOrderOfMaking) {
    UuidV7Generator generator;
    std::string previous = generator.next(1'000);
    for (int index = 0; index < 10'000; ++index) {  // more than the 12-bit counter holds
        const std::string next = generator.next(1'000);
        EXPECT_LT(previous, next);
        previous = next;
    }
    EXPECT_LT(previous, generator.next(5'000));
    // A clock stepping back never makes a smaller UUID.
    const std::string after_step_back = generator.next(10);
    EXPECT_LT(previous, after_step_back);
}

}  // namespace
}  // namespace ul
