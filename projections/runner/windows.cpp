#include "projections/runner/windows.h"

#include <date/date.h>
#include <date/tz.h>

#include <chrono>
#include <exception>

namespace ul {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMicrosPerHour = 3'600 * kMicrosPerSecond;
constexpr std::int64_t kMicrosPerDay = 24 * kMicrosPerHour;

std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
    const std::int64_t quotient = value / divisor;
    return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

using Seconds = std::chrono::seconds;

// The local civil day of instant `t_us` in `zone` (nullptr: UTC).
date::year_month_day local_day(const date::time_zone* zone, std::int64_t t_us) {
    const date::sys_seconds instant{Seconds(floor_div(t_us, kMicrosPerSecond))};
    if (zone == nullptr) {
        return {date::floor<date::days>(instant)};
    }
    const auto info = zone->get_info(instant);
    const date::local_seconds local{instant.time_since_epoch() + info.offset};
    return date::year_month_day(date::floor<date::days>(local));
}

// The UTC instant (µs) of local midnight starting `day` in `zone`: inside a DST gap the first
// instant after it; when ambiguous the earlier one.
std::int64_t local_midnight_us(const date::time_zone* zone, date::year_month_day day) {
    const date::local_seconds local{date::local_days(day).time_since_epoch()};
    std::int64_t seconds = 0;
    if (zone == nullptr) {
        seconds = local.time_since_epoch().count();
    } else {
        const auto info = zone->get_info(local);
        switch (info.result) {
            case date::local_info::unique:
            case date::local_info::ambiguous:
                seconds = (local.time_since_epoch() - info.first.offset).count();
                break;
            case date::local_info::nonexistent:
                seconds = info.second.begin.time_since_epoch().count();
                break;
        }
    }
    return seconds * kMicrosPerSecond;
}

// The anchor day in (year, month), clamped to the month's length.
date::year_month_day anchor_in(date::year_month month, int anchor_day) {
    const auto last = static_cast<unsigned>(
        date::year_month_day_last(month.year(), date::month_day_last(month.month())).day());
    const unsigned day = std::min(static_cast<unsigned>(anchor_day), last);
    return {month.year(), month.month(), date::day(day)};
}

std::int64_t month_start_us(const BillingCalendar& calendar, date::year_month month) {
    return local_midnight_us(calendar.zone, anchor_in(month, calendar.anchor_day));
}

}  // namespace

std::string_view window_name(WindowKind kind) {
    switch (kind) {
        case WindowKind::hour:
            return "hour";
        case WindowKind::day:
            return "day";
        case WindowKind::month:
            return "month";
    }
    return "?";
}

std::optional<WindowKind> parse_window(std::string_view text) {
    if (text == "hour") {
        return WindowKind::hour;
    }
    if (text == "day") {
        return WindowKind::day;
    }
    if (text == "month") {
        return WindowKind::month;
    }
    return std::nullopt;
}

Result<BillingCalendar, std::string> make_billing_calendar(int anchor_day,
                                                           std::string_view zone_name) {
    if (anchor_day < 1 || anchor_day > 31) {
        return unexpected("billing anchor day " + std::to_string(anchor_day) + " is outside 1..31");
    }
    BillingCalendar calendar;
    calendar.anchor_day = anchor_day;
    if (zone_name.empty() || zone_name == "UTC") {
        return calendar;
    }
    try {
        calendar.zone = date::locate_zone(std::string(zone_name));
    } catch (const std::exception& error) {
        return unexpected("unknown time zone '" + std::string(zone_name) +
                          "' (an IANA name such as America/New_York)");
    }
    return calendar;
}

Period hour_period(std::int64_t t_us) {
    const std::int64_t start = floor_div(t_us, kMicrosPerHour) * kMicrosPerHour;
    return Period{start, start + kMicrosPerHour};
}

Period day_period(std::int64_t t_us) {
    const std::int64_t start = floor_div(t_us, kMicrosPerDay) * kMicrosPerDay;
    return Period{start, start + kMicrosPerDay};
}

Period month_period(const BillingCalendar& calendar, std::int64_t t_us) {
    const auto today = local_day(calendar.zone, t_us);
    const date::year_month month(today.year(), today.month());
    const std::int64_t this_start = month_start_us(calendar, month);
    if (t_us >= this_start) {
        return Period{this_start, month_start_us(calendar, month + date::months(1))};
    }
    return Period{month_start_us(calendar, month - date::months(1)), this_start};
}

Period period_of(WindowKind kind, const BillingCalendar& calendar, std::int64_t t_us) {
    switch (kind) {
        case WindowKind::hour:
            return hour_period(t_us);
        case WindowKind::day:
            return day_period(t_us);
        case WindowKind::month:
            return month_period(calendar, t_us);
    }
    return hour_period(t_us);
}

Period next_period(WindowKind kind, const BillingCalendar& calendar, const Period& period) {
    return period_of(kind, calendar, period.end_us);
}

}  // namespace ul
