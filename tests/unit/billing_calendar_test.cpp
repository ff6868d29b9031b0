// Windows and billing months: UTC hours and days, anchor days clamped in short months (leap
// and not), an anchor in America/New_York across both DST changes, chains of months without
// drift, times before 1970.
#include <gtest/gtest.h>

#include "projections/runner/windows.h"
#include "schemas/time.h"

namespace {

using ul::BillingCalendar;
using ul::Period;

std::int64_t at(const char* text) {
    auto parsed = ul::parse_rfc3339(text);
    EXPECT_TRUE(parsed) << text;
    return parsed ? *parsed : 0;
}

std::string show(const Period& period) {
    return ul::format_rfc3339(period.start_us) + " → " + ul::format_rfc3339(period.end_us);
}

BillingCalendar calendar(int anchor, const char* zone = "") {
    auto made = ul::make_billing_calendar(anchor, zone);
    EXPECT_TRUE(made) << (made ? "" : made.error());
    return made ? *made : BillingCalendar{};
}

TEST(BillingCalendar, HoursAndDaysAreUtcAndHalfOpen) {
    EXPECT_EQ(show(ul::hour_period(at("2026-11-24T10:00:00Z"))),
              "2026-11-24T10:00:00Z → 2026-11-24T11:00:00Z");
    EXPECT_EQ(show(ul::hour_period(at("2026-11-24T09:59:59.999999Z"))),
              "2026-11-24T09:00:00Z → 2026-11-24T10:00:00Z");
    EXPECT_EQ(show(ul::day_period(at("2026-11-24T00:00:00Z"))),
              "2026-11-24T00:00:00Z → 2026-11-25T00:00:00Z");
    EXPECT_EQ(show(ul::day_period(at("2026-11-23T23:59:59.999999Z"))),
              "2026-11-23T00:00:00Z → 2026-11-24T00:00:00Z");
    // An offset is converted first: 01:30+05:30 is 20:00 UTC the day before.
    EXPECT_EQ(show(ul::day_period(at("2026-11-24T01:30:00+05:30"))),
              "2026-11-23T00:00:00Z → 2026-11-24T00:00:00Z");
}

TEST(BillingCalendar, TimesBefore1970FloorDownwards) {
    EXPECT_EQ(show(ul::hour_period(-1)), "1969-12-31T23:00:00Z → 1970-01-01T00:00:00Z");
    EXPECT_EQ(show(ul::day_period(-1)), "1969-12-31T00:00:00Z → 1970-01-01T00:00:00Z");
    EXPECT_EQ(show(ul::month_period(calendar(1), -1)),
              "1969-12-01T00:00:00Z → 1970-01-01T00:00:00Z");
}

TEST(BillingCalendar, CalendarMonthInUtcByDefault) {
    const BillingCalendar utc{};
    EXPECT_EQ(show(ul::month_period(utc, at("2026-11-30T23:59:59.999999Z"))),
              "2026-11-01T00:00:00Z → 2026-12-01T00:00:00Z");
    EXPECT_EQ(show(ul::month_period(utc, at("2026-12-01T00:00:00Z"))),
              "2026-12-01T00:00:00Z → 2027-01-01T00:00:00Z");
}

TEST(BillingCalendar, Anchor31ClampsToTheEndOfFebruaryInLeapAndOtherYears) {
    const BillingCalendar anchor31 = calendar(31);
    // 2024 is a leap year: Jan 31 → Feb 29 → Mar 31.
    EXPECT_EQ(show(ul::month_period(anchor31, at("2024-02-15T12:00:00Z"))),
              "2024-01-31T00:00:00Z → 2024-02-29T00:00:00Z");
    EXPECT_EQ(show(ul::month_period(anchor31, at("2024-02-29T00:00:00Z"))),
              "2024-02-29T00:00:00Z → 2024-03-31T00:00:00Z");
    EXPECT_EQ(show(ul::month_period(anchor31, at("2024-02-28T23:59:59.999999Z"))),
              "2024-01-31T00:00:00Z → 2024-02-29T00:00:00Z");
    // 2023 is not: Jan 31 → Feb 28 → Mar 31.
    EXPECT_EQ(show(ul::month_period(anchor31, at("2023-02-28T00:00:00Z"))),
              "2023-02-28T00:00:00Z → 2023-03-31T00:00:00Z");
    EXPECT_EQ(show(ul::month_period(anchor31, at("2023-03-30T10:00:00Z"))),
              "2023-02-28T00:00:00Z → 2023-03-31T00:00:00Z");
    // April has 30 days.
    EXPECT_EQ(show(ul::month_period(anchor31, at("2023-04-30T00:00:00Z"))),
              "2023-04-30T00:00:00Z → 2023-05-31T00:00:00Z");
    // Anchors 29 and 30 in February.
    EXPECT_EQ(show(ul::month_period(calendar(30), at("2023-03-01T00:00:00Z"))),
              "2023-02-28T00:00:00Z → 2023-03-30T00:00:00Z");
    EXPECT_EQ(show(ul::month_period(calendar(29), at("2024-03-01T00:00:00Z"))),
              "2024-02-29T00:00:00Z → 2024-03-29T00:00:00Z");
}

TEST(BillingCalendar, NextPeriodChainsWithoutDriftAndReturnsToTheAnchor) {
    const BillingCalendar anchor31 = calendar(31);
    Period period = ul::month_period(anchor31, at("2024-01-31T00:00:00Z"));
    std::vector<std::string> starts;
    for (int month = 0; month < 24; ++month) {
        starts.push_back(ul::format_rfc3339(period.start_us).substr(0, 10));
        const Period next = ul::next_period(ul::WindowKind::month, anchor31, period);
        EXPECT_EQ(next.start_us, period.end_us);
        period = next;
    }
    EXPECT_EQ(starts[0], "2024-01-31");
    EXPECT_EQ(starts[1], "2024-02-29");
    EXPECT_EQ(starts[2], "2024-03-31");
    EXPECT_EQ(starts[3], "2024-04-30");
    EXPECT_EQ(starts[13], "2025-02-28");
    EXPECT_EQ(starts[23], "2025-12-31");
}

TEST(BillingCalendar, AnchorInNewYorkAcrossBothDstChanges) {
    // Anchor 10: 2024-03-10 is the day DST starts in New York (02:00 → 03:00); local midnight
    // of the 10th is still EST (UTC−5), of April 10 EDT (UTC−4).
    const BillingCalendar new_york = calendar(10, "America/New_York");
    EXPECT_EQ(show(ul::month_period(new_york, at("2024-03-20T12:00:00Z"))),
              "2024-03-10T05:00:00Z → 2024-04-10T04:00:00Z");
    // Just before local midnight of March 10 (04:59:59.999999Z = 23:59:59.999999 EST on the 9th).
    EXPECT_EQ(show(ul::month_period(new_york, at("2024-03-10T04:59:59.999999Z"))),
              "2024-02-10T05:00:00Z → 2024-03-10T05:00:00Z");
    // November 3, 2024: DST ends (02:00 EDT → 01:00 EST). The month from October 10 (EDT) to
    // November 10 (EST) is one hour longer than its days.
    const Period autumn = ul::month_period(new_york, at("2024-11-03T06:30:00Z"));
    EXPECT_EQ(show(autumn), "2024-10-10T04:00:00Z → 2024-11-10T05:00:00Z");
    EXPECT_EQ(autumn.end_us - autumn.start_us, (31LL * 24 + 1) * 3'600'000'000LL);
    // Anchor 15, calendar check around the change.
    EXPECT_EQ(show(ul::month_period(calendar(15, "America/New_York"), at("2024-11-15T04:59:59Z"))),
              "2024-10-15T04:00:00Z → 2024-11-15T05:00:00Z");
}

TEST(BillingCalendar, AMidnightInADstGapStartsAfterTheGap) {
    // America/Santiago skips local midnight: on 2024-09-08 clocks went 00:00 → 01:00 (UTC−4 →
    // UTC−3), so the month anchored on the 8th starts at 01:00 local = 04:00Z.
    const BillingCalendar santiago = calendar(8, "America/Santiago");
    EXPECT_EQ(show(ul::month_period(santiago, at("2024-09-20T00:00:00Z"))),
              "2024-09-08T04:00:00Z → 2024-10-08T03:00:00Z");
}

TEST(BillingCalendar, HalfHourZonesAndErrors) {
    EXPECT_EQ(show(ul::month_period(calendar(1, "Asia/Kolkata"), at("2026-11-30T18:29:59Z"))),
              "2026-10-31T18:30:00Z → 2026-11-30T18:30:00Z");
    EXPECT_FALSE(ul::make_billing_calendar(0, ""));
    EXPECT_FALSE(ul::make_billing_calendar(32, ""));
    auto unknown = ul::make_billing_calendar(1, "Mars/Olympus_Mons");
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().find("unknown time zone"), std::string::npos);
    EXPECT_TRUE(ul::make_billing_calendar(1, "UTC"));
}

TEST(BillingCalendar, WindowNamesRoundTrip) {
    for (const auto kind : {ul::WindowKind::hour, ul::WindowKind::day, ul::WindowKind::month}) {
        EXPECT_EQ(ul::parse_window(ul::window_name(kind)), kind);
    }
    EXPECT_FALSE(ul::parse_window("week"));
}

}  // namespace
