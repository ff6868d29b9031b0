#include "schemas/time.h"

#include <date/date.h>

#include <algorithm>

#include "schemas/check.h"
#include "schemas/text.h"

namespace ul {
namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;

bool read_digits(std::string_view text, std::size_t position, std::size_t count, int& value) {
    if (position + count > text.size()) {
        return false;
    }
    value = 0;
    for (std::size_t index = position; index < position + count; ++index) {
        const char c = text[index];
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    return true;
}

// Writes `value` as exactly `width` decimal digits, zero-padded; returns the end.
char* put_digits(char* out, int value, int width) {
    for (int index = width - 1; index >= 0; --index) {
        out[index] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return out + width;
}

}  // namespace

Result<std::int64_t, std::string> parse_rfc3339(std::string_view text) {
    auto fail = [&text](const char* why) {
        return unexpected(std::string("timestamp \"").append(utf8_prefix(text, 64)) + "\": " + why);
    };
    int year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (!read_digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
        !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day) ||
        (text[10] != 'T' && text[10] != 't') || !read_digits(text, 11, 2, hour) ||
        text[13] != ':' || !read_digits(text, 14, 2, minute) || text[16] != ':' ||
        !read_digits(text, 17, 2, second)) {
        return fail("not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac]Z or ±HH:MM)");
    }
    if (year < 1) {
        return fail("year 0000 is out of range");
    }
    const date::year_month_day calendar_date{date::year{year},
                                             date::month{static_cast<unsigned>(month)},
                                             date::day{static_cast<unsigned>(day)}};
    if (!calendar_date.ok()) {
        return fail("no such date");
    }
    if (hour > 23) {
        return fail("hour out of range (00-23)");
    }
    if (minute > 59) {
        return fail("minute out of range (00-59)");
    }
    if (second > 59) {
        return fail("second out of range (00-59; leap seconds are not accepted)");
    }
    std::size_t position = 19;
    std::int64_t fraction_micros = 0;
    if (position < text.size() && text[position] == '.') {
        ++position;
        const std::size_t start = position;
        while (position < text.size() && text[position] >= '0' && text[position] <= '9') {
            if (position - start < 6) {
                fraction_micros = fraction_micros * 10 + (text[position] - '0');
            }
            ++position;  // digits past microseconds are truncated
        }
        if (position == start) {
            return fail("empty fraction of a second");
        }
        for (std::size_t digits = position - start; digits < 6; ++digits) {
            fraction_micros *= 10;
        }
    }
    if (position >= text.size()) {
        return fail("missing time zone (Z or ±HH:MM)");
    }
    std::int64_t offset_seconds = 0;
    const char zone = text[position];
    if (zone == 'Z' || zone == 'z') {
        ++position;
    } else if (zone == '+' || zone == '-') {
        int offset_hours = 0;
        int offset_minutes = 0;
        if (!read_digits(text, position + 1, 2, offset_hours) || position + 3 >= text.size() ||
            text[position + 3] != ':' || !read_digits(text, position + 4, 2, offset_minutes)) {
            return fail("bad time zone offset (±HH:MM)");
        }
        if (offset_hours > 23 || offset_minutes > 59) {
            return fail("time zone offset out of range");
        }
        offset_seconds = (std::int64_t{offset_hours} * 3600 + std::int64_t{offset_minutes} * 60) *
                         (zone == '-' ? -1 : 1);
        position += 6;
    } else {
        return fail("bad time zone (Z or ±HH:MM)");
    }
    if (position != text.size()) {
        return fail("trailing characters");
    }
    const std::int64_t days = date::sys_days(calendar_date).time_since_epoch().count();
    const std::int64_t seconds = days * kSecondsPerDay + std::int64_t{hour} * 3600 +
                                 std::int64_t{minute} * 60 + second - offset_seconds;
    const std::int64_t micros = seconds * kMicrosPerSecond + fraction_micros;
    // The offset can move a time at either end past the years parsing accepts, in UTC: a time
    // format_rfc3339 would clamp (after 9999) or write with a year parsing refuses (0000).
    if (micros < kRfc3339FirstParsedUs || micros > kRfc3339LastUs) {
        return fail("out of range in UTC (years 0001-9999)");
    }
    return micros;
}

std::size_t format_rfc3339(std::int64_t micros, char* out) {
    micros = std::clamp(micros, kRfc3339FirstUs, kRfc3339LastUs);  // never a 5-digit year
    // Floor division: times before 1970 are negative.
    std::int64_t seconds = micros / kMicrosPerSecond;
    std::int64_t fraction = micros % kMicrosPerSecond;
    if (fraction < 0) {
        fraction += kMicrosPerSecond;
        --seconds;
    }
    std::int64_t days = seconds / kSecondsPerDay;
    std::int64_t second_of_day = seconds % kSecondsPerDay;
    if (second_of_day < 0) {
        second_of_day += kSecondsPerDay;
        --days;
    }
    const date::year_month_day calendar_date{date::sys_days{date::days{days}}};
    const int year = static_cast<int>(calendar_date.year());
    UL_CHECK(year >= 0 && year <= 9999, "a clamped time has a four-digit year");

    char* cursor = put_digits(out, year, 4);
    *cursor++ = '-';
    cursor = put_digits(cursor, static_cast<int>(static_cast<unsigned>(calendar_date.month())), 2);
    *cursor++ = '-';
    cursor = put_digits(cursor, static_cast<int>(static_cast<unsigned>(calendar_date.day())), 2);
    *cursor++ = 'T';
    cursor = put_digits(cursor, static_cast<int>(second_of_day / 3600), 2);
    *cursor++ = ':';
    cursor = put_digits(cursor, static_cast<int>(second_of_day / 60 % 60), 2);
    *cursor++ = ':';
    cursor = put_digits(cursor, static_cast<int>(second_of_day % 60), 2);
    if (fraction != 0) {
        *cursor++ = '.';
        cursor = put_digits(cursor, static_cast<int>(fraction), 6);
    }
    *cursor++ = 'Z';
    const auto length = static_cast<std::size_t>(cursor - out);
    UL_CHECK(length <= kTimestampFormatBytes, "timestamp does not fit its buffer");
    return length;
}

std::string format_rfc3339(std::int64_t micros) {
    char buffer[kTimestampFormatBytes];
    return {buffer, format_rfc3339(micros, buffer)};
}

Result<std::int64_t, std::string> parse_duration(std::string_view text) {
    auto fail = [&text] {
        return unexpected("\"" + std::string(utf8_prefix(text, 32)) +
                          "\" is not a duration: write a positive whole number and a unit "
                          "s, m, h or d (e.g. 35d, 12h)");
    };
    if (text.size() < 2) {
        return fail();
    }
    std::int64_t unit_seconds = 0;
    switch (text.back()) {
        case 's':
            unit_seconds = 1;
            break;
        case 'm':
            unit_seconds = 60;
            break;
        case 'h':
            unit_seconds = 3600;
            break;
        case 'd':
            unit_seconds = 86400;
            break;
        default:
            return fail();
    }
    std::int64_t count = 0;
    for (std::size_t index = 0; index + 1 < text.size(); ++index) {
        const char c = text[index];
        if (c < '0' || c > '9' || __builtin_mul_overflow(count, 10, &count) ||
            __builtin_add_overflow(count, c - '0', &count)) {
            return fail();
        }
    }
    std::int64_t micros = 0;
    if (count <= 0 || __builtin_mul_overflow(count, unit_seconds * kMicrosPerSecond, &micros)) {
        return fail();
    }
    return micros;
}

}  // namespace ul
