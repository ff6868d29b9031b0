// Time windows of the counters: UTC hours and days, and billing months (an account's anchor day
// at local midnight in its IANA time zone, via Howard Hinnant's date/tz; short months clamp:
// anchor 31 → Feb 28/29, Apr 30). Pure; thread-safe (the tz database is read-only once loaded).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "schemas/result.h"

namespace date {
class time_zone;
}

namespace ul {

enum class WindowKind : std::uint8_t { hour = 0, day = 1, month = 2 };
std::string_view window_name(WindowKind kind);  // "hour", "day", "month"
std::optional<WindowKind> parse_window(std::string_view text);

struct Period {
    std::int64_t start_us = 0;  // inclusive, µs since the Unix epoch (UTC)
    std::int64_t end_us = 0;    // exclusive
    friend bool operator==(const Period&, const Period&) = default;
};

// The billing calendar of one account: the month starts on anchor_day (1..31) at local midnight
// in `zone` (nullptr = UTC). A local midnight inside a DST gap is the first instant after the
// gap; an ambiguous one is the earlier instant.
struct BillingCalendar {
    int anchor_day = 1;
    const date::time_zone* zone = nullptr;
};

// Errors (one line): anchor outside 1..31, unknown IANA zone. An empty name is UTC.
Result<BillingCalendar, std::string> make_billing_calendar(int anchor_day,
                                                           std::string_view zone_name);

Period hour_period(std::int64_t t_us);
Period day_period(std::int64_t t_us);
Period month_period(const BillingCalendar& calendar, std::int64_t t_us);
Period period_of(WindowKind kind, const BillingCalendar& calendar, std::int64_t t_us);
// The period starting at period.end_us.
Period next_period(WindowKind kind, const BillingCalendar& calendar, const Period& period);

}  // namespace ul
