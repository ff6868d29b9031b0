// --min-free-disk: parsing, the threshold on a file system of a given size, and byte counts
// for people. Pure: no file system is asked.
#include <gtest/gtest.h>

#include "consumers/disk_space.h"

namespace {

TEST(MinFreeDisk, ParsesSizesPercentagesAndOff) {
    EXPECT_EQ(ul::parse_min_free_disk("256MiB")->bytes, 256ULL << 20U);
    EXPECT_EQ(ul::parse_min_free_disk("1GiB")->bytes, 1ULL << 30U);
    EXPECT_EQ(ul::parse_min_free_disk("500MB")->bytes, 500'000'000ULL);
    EXPECT_EQ(ul::parse_min_free_disk("4096")->bytes, 4096ULL);
    EXPECT_EQ(ul::parse_min_free_disk("12KiB")->bytes, 12ULL << 10U);
    const auto percent = ul::parse_min_free_disk("2%");
    ASSERT_TRUE(percent);
    EXPECT_EQ(percent->percent, 2U);
    EXPECT_EQ(percent->threshold(1000ULL << 20U), 20ULL << 20U);
    EXPECT_TRUE(ul::parse_min_free_disk("0")->off());
    EXPECT_FALSE(ul::MinFreeDisk{}.off());
    EXPECT_EQ(ul::MinFreeDisk{}.threshold(1ULL << 40U), 256ULL << 20U);  // absolute by default
}

TEST(MinFreeDisk, RefusesWhatIsNotASize) {
    for (const char* bad : {"", "MiB", "-5MiB", "5 MiB", "5mb", "0%", "100%", "1.5GiB",
                            "99999999999999999999", "20000000TiB"}) {
        const auto parsed = ul::parse_min_free_disk(bad);
        EXPECT_FALSE(parsed) << bad;
        if (!parsed) {
            EXPECT_NE(parsed.error().find("--min-free-disk"), std::string::npos) << parsed.error();
        }
    }
}

TEST(MinFreeDisk, PercentThresholdsNeverOverflow) {
    ul::MinFreeDisk minimum;
    minimum.bytes = 0;
    minimum.percent = 99;
    const std::uint64_t huge = ~0ULL;
    EXPECT_LE(minimum.threshold(huge), huge);
    EXPECT_GT(minimum.threshold(huge), huge / 100 * 98);
}

TEST(MinFreeDisk, DescribesBytesForPeopleTruncatingNeverRoundingUp) {
    EXPECT_EQ(ul::format_bytes(0), "0 bytes");
    EXPECT_EQ(ul::format_bytes(1023), "1023 bytes");
    EXPECT_EQ(ul::format_bytes(1024), "1.0 KiB");
    EXPECT_EQ(ul::format_bytes((96ULL << 20U) - 1), "95.9 MiB");
    EXPECT_EQ(ul::format_bytes(96ULL << 20U), "96.0 MiB");
    EXPECT_EQ(ul::format_bytes(3ULL << 30U | 512ULL << 20U), "3.5 GiB");
    EXPECT_EQ(ul::describe(ul::MinFreeDisk{}), "256.0 MiB");
    EXPECT_EQ(ul::describe(*ul::parse_min_free_disk("2%")), "2 %");
    EXPECT_EQ(ul::describe(*ul::parse_min_free_disk("0")), "off");
}

}  // namespace
