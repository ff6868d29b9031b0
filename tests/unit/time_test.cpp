#include "schemas/time.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace ul {
namespace {

std::string round_trip(std::string_view text) {
    auto parsed = parse_rfc3339(text);
    return parsed ? format_rfc3339(*parsed) : "error";
}

TEST(Rfc3339, ParsesUtcAndOffsets) {
    EXPECT_EQ(*parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(*parse_rfc3339("1970-01-01T00:00:01Z"), 1'000'000);
    EXPECT_EQ(round_trip("2026-11-22T10:15:00Z"), "2026-11-22T10:15:00Z");
    EXPECT_EQ(round_trip("2026-11-22t10:15:00z"), "2026-11-22T10:15:00Z");
    EXPECT_EQ(round_trip("2026-11-22T15:45:00+05:30"), "2026-11-22T10:15:00Z");
    EXPECT_EQ(round_trip("2026-11-21T22:15:00-12:00"), "2026-11-22T10:15:00Z");
    EXPECT_EQ(round_trip("2026-11-22T10:15:00+00:00"), "2026-11-22T10:15:00Z");
    EXPECT_EQ(round_trip("2026-11-22T10:15:00-00:00"), "2026-11-22T10:15:00Z");
    // An offset moves the event into another day and month.
    EXPECT_EQ(round_trip("2026-12-01T01:00:00+05:30"), "2026-11-30T19:30:00Z");
    EXPECT_EQ(round_trip("2026-11-30T20:00:00-12:00"), "2026-12-01T08:00:00Z");
}

TEST(Rfc3339, FractionsBeyondMicrosecondsAreTruncatedNeverRounded) {
    EXPECT_EQ(round_trip("2026-11-22T10:15:00.5Z"), "2026-11-22T10:15:00.500000Z");
    EXPECT_EQ(round_trip("2026-11-22T10:15:00.123456Z"), "2026-11-22T10:15:00.123456Z");
    EXPECT_EQ(round_trip("2026-11-22T10:15:00.1234569Z"), "2026-11-22T10:15:00.123456Z");
    // Hour, day, month and year boundaries stay on the earlier side.
    EXPECT_EQ(round_trip("2026-11-22T10:59:59.999999999Z"), "2026-11-22T10:59:59.999999Z");
    EXPECT_EQ(round_trip("2026-11-22T23:59:59.999999999Z"), "2026-11-22T23:59:59.999999Z");
    EXPECT_EQ(round_trip("2026-11-30T23:59:59.9999999Z"), "2026-11-30T23:59:59.999999Z");
    EXPECT_EQ(round_trip("2026-12-31T23:59:59.999999999Z"), "2026-12-31T23:59:59.999999Z");
    EXPECT_EQ(round_trip("2026-11-30T23:59:59.999999999+00:00"), "2026-11-30T23:59:59.999999Z");
    EXPECT_EQ(round_trip("2026-11-22T10:15:00.000000000Z"), "2026-11-22T10:15:00Z");
}

TEST(Rfc3339, RejectsImpossibleDatesAndTimes) {
    EXPECT_FALSE(parse_rfc3339("2026-02-29T00:00:00Z"));
    EXPECT_TRUE(parse_rfc3339("2028-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2100-02-29T00:00:00Z"));
    EXPECT_TRUE(parse_rfc3339("2000-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-04-31T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-13-01T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-00-01T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-01-00T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-11-22T24:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-11-22T23:60:00Z"));
    EXPECT_FALSE(parse_rfc3339("2016-12-31T23:59:60Z")) << "leap seconds are not accepted";
    EXPECT_FALSE(parse_rfc3339("0000-01-01T00:00:00Z"));
}

TEST(Rfc3339, RejectsWhatIsNotRfc3339) {
    for (const char* text :
         {"", "2026-11-22", "2026-11-22T10:15:00", "2026-11-22 10:15:00Z", "2026-11-22T10:15Z",
          "2026-11-22T10:15:00.Z", "2026-11-22T10:15:00+0530", "2026-11-22T10:15:00+05",
          "2026-11-22T10:15:00+24:00", "2026-11-22T10:15:00+05:60", "2026-11-22T10:15:00ZZ",
          "26-11-22T10:15:00Z", "2026-1-22T10:15:00Z", "yesterday", "1763806500",
          "2026-11-22T10:15:00 Z", "+2026-11-22T10:15:00Z"}) {
        EXPECT_FALSE(parse_rfc3339(text)) << text;
    }
}

TEST(Rfc3339, OffsetsUpTo2359AreHonoured) {
    EXPECT_EQ(round_trip("2026-11-22T23:59:00+23:59"), "2026-11-22T00:00:00Z");
    EXPECT_EQ(round_trip("2026-11-22T00:00:00-23:59"), "2026-11-22T23:59:00Z");
    EXPECT_EQ(*parse_rfc3339("2026-11-22T15:45:00+05:30"), *parse_rfc3339("2026-11-22T10:15:00Z"));
    EXPECT_EQ(*parse_rfc3339("2026-11-21T22:15:00-12:00"), *parse_rfc3339("2026-11-22T10:15:00Z"));
    // An offset with a truncated fraction: the fraction is kept, the offset moves the day.
    EXPECT_EQ(round_trip("2027-01-01T05:29:59.9999999+05:30"), "2026-12-31T23:59:59.999999Z");
}

TEST(Rfc3339, YearsOneToNineThousandNineHundredNinetyNine) {
    EXPECT_EQ(round_trip("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
    EXPECT_EQ(round_trip("9999-12-31T23:59:59.999999999Z"), "9999-12-31T23:59:59.999999Z");
    EXPECT_EQ(*parse_rfc3339("0001-01-01T00:00:00Z"), -62'135'596'800LL * kMicrosPerSecond);
    EXPECT_EQ(*parse_rfc3339("9999-12-31T23:59:59Z"), 253'402'300'799LL * kMicrosPerSecond);
}

// Found by tests/fuzz/time_fuzz.cpp: an offset moved these past the accepted years in UTC, so a
// parsed time was clamped by format_rfc3339 (after 9999) or written with year 0000, which
// parsing refuses. Every parsed time's canonical form parses back to it.
TEST(Rfc3339, RejectsAnOffsetThatLeavesTheYearsInUtc) {
    EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59-23:59"));
    EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59.999999-00:01"));
    EXPECT_FALSE(parse_rfc3339("0001-01-01T00:00:00+00:01"));
    EXPECT_FALSE(parse_rfc3339("0001-01-01T23:58:59+23:59"));
    EXPECT_EQ(round_trip("0001-01-01T23:59:00+23:59"), "0001-01-01T00:00:00Z");
    EXPECT_EQ(round_trip("9999-12-31T23:58:59.5-00:01"), "9999-12-31T23:59:59.500000Z");
    EXPECT_EQ(round_trip("9999-12-31T23:59:59.999999Z"), "9999-12-31T23:59:59.999999Z");
}

TEST(Rfc3339, ErrorsSayWhatIsWrong) {
    EXPECT_NE(parse_rfc3339("2026-02-29T00:00:00Z").error().find("no such date"),
              std::string::npos);
    EXPECT_NE(parse_rfc3339("2026-11-22T24:00:00Z").error().find("hour"), std::string::npos);
    EXPECT_NE(parse_rfc3339("2016-12-31T23:59:60Z").error().find("leap"), std::string::npos);
    EXPECT_NE(parse_rfc3339("2026-11-22T10:15:00").error().find("time zone"), std::string::npos);
}

TEST(Rfc3339, FormatsBeforeTheEpoch) {
    EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(-kMicrosPerSecond), "1969-12-31T23:59:59Z");
    EXPECT_EQ(round_trip("1969-07-20T20:17:40Z"), "1969-07-20T20:17:40Z");
}

TEST(Rfc3339, FormatsEveryInt64WithinItsBuffer) {
    // RFC 3339 has years 0000-9999 only: a time before or after is written as the nearest time
    // it can hold (callers that answer with times check rfc3339_representable first), and the
    // calendar stays right in between: 400 Gregorian years are exactly 146097 days.
    constexpr std::int64_t kFourHundredYearsUs = 146'097LL * 86'400 * kMicrosPerSecond;
    const std::int64_t y2026 = *parse_rfc3339("2026-11-22T10:15:00.25Z");
    EXPECT_EQ(format_rfc3339(y2026 + 19 * kFourHundredYearsUs), "9626-11-22T10:15:00.250000Z");
    EXPECT_EQ(format_rfc3339(y2026 - 5 * kFourHundredYearsUs), "0026-11-22T10:15:00.250000Z");
    EXPECT_EQ(format_rfc3339(y2026 + 20 * kFourHundredYearsUs), "9999-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(y2026 - 6 * kFourHundredYearsUs), "0000-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::max()),
              "9999-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::min()), "0000-01-01T00:00:00Z");
    char buffer[kTimestampFormatBytes];
    EXPECT_LE(format_rfc3339(std::numeric_limits<std::int64_t>::min(), buffer),
              kTimestampFormatBytes);
}

TEST(Rfc3339, NeverWritesAYearOutsideZeroToNineThousandNineHundredNinetyNine) {
    const std::int64_t last = *parse_rfc3339("9999-12-31T23:59:59.999999Z");
    const std::int64_t first_of_year_one = *parse_rfc3339("0001-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(last), "9999-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(last + 1), "9999-12-31T23:59:59.999999Z");  // not 10000-01-01
    EXPECT_EQ(format_rfc3339(first_of_year_one - 1), "0000-12-31T23:59:59.999999Z");
    constexpr std::int64_t kYearUs = 366LL * 86'400 * kMicrosPerSecond;
    EXPECT_EQ(format_rfc3339(first_of_year_one - 2 * kYearUs), "0000-01-01T00:00:00Z");
    for (const std::int64_t micros : {last + 1, last + kYearUs, first_of_year_one - 2 * kYearUs,
                                      std::numeric_limits<std::int64_t>::max(),
                                      std::numeric_limits<std::int64_t>::min()}) {
        const std::string text = format_rfc3339(micros);
        EXPECT_EQ(text.size() >= 20 ? text[4] : ' ', '-') << text;
    }
}

TEST(Duration, ParsesUnits) {
    EXPECT_EQ(*parse_duration("35d"), 35LL * 86400 * 1'000'000);
    EXPECT_EQ(*parse_duration("12h"), 12LL * 3600 * 1'000'000);
    EXPECT_EQ(*parse_duration("90m"), 90LL * 60 * 1'000'000);
    EXPECT_EQ(*parse_duration("30s"), 30LL * 1'000'000);
    EXPECT_EQ(*parse_duration("1s"), 1'000'000);
    EXPECT_EQ(*parse_duration("035d"), 35LL * 86400 * 1'000'000);
    // The largest that fits in int64 microseconds, and one more.
    EXPECT_EQ(*parse_duration("106751991d"), 106'751'991LL * 86400 * 1'000'000);
    EXPECT_FALSE(parse_duration("106751992d"));
    EXPECT_EQ(*parse_duration("9223372036854s"), 9'223'372'036'854LL * 1'000'000);
    EXPECT_FALSE(parse_duration("9223372036855s"));
    for (const char* text : {"", "d", "35", "0d", "-1d", "+1d", "1.5d", "3w", "1 d", " 1d", "1D",
                             "99999999999d", "999999999d", "99999999999999999999999s"}) {
        EXPECT_FALSE(parse_duration(text)) << text;
    }
}

}  // namespace
}  // namespace ul
