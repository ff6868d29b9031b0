// Time as int64 microseconds since the Unix epoch, UTC. Strict RFC 3339 in, canonical RFC 3339
// out. Pure functions: the clock is always passed in by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/result.h"

namespace ul {

inline constexpr std::int64_t kMicrosPerSecond = 1'000'000;
inline constexpr std::size_t kTimestampFormatBytes = 32;

// YYYY-MM-DD('T'|'t')HH:MM:SS[.fraction]('Z'|'z'|+HH:MM|-HH:MM), years 0001–9999. Offsets are
// honoured. Impossible dates, hour 24, minute or second 60 (leap seconds) and offsets past ±23:59
// are rejected, and so is a time the offset moves outside those years in UTC
// ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00"): every parsed time is at least
// kRfc3339FirstParsedUs, and its canonical form (format_rfc3339) parses back to it. Fraction
// digits past microseconds are truncated, never rounded.
// The error is a one-line human detail.
Result<std::int64_t, std::string> parse_rfc3339(std::string_view text);

// The times RFC 3339 can write (years 0000-9999): 0000-01-01T00:00:00Z through
// 9999-12-31T23:59:59.999999Z.
inline constexpr std::int64_t kRfc3339FirstUs = -62'167'219'200LL * kMicrosPerSecond;
inline constexpr std::int64_t kRfc3339LastUs = 253'402'300'799LL * kMicrosPerSecond + 999'999;
// The first time parse_rfc3339 accepts: 0001-01-01T00:00:00Z.
inline constexpr std::int64_t kRfc3339FirstParsedUs = -62'135'596'800LL * kMicrosPerSecond;
constexpr bool rfc3339_representable(std::int64_t micros) {
    return micros >= kRfc3339FirstUs && micros <= kRfc3339LastUs;
}

// Canonical UTC form: "2026-11-22T10:15:00Z", or with exactly six fraction digits when the
// fraction is not zero ("2026-11-22T10:15:00.250000Z"). `out` must hold kTimestampFormatBytes;
// returns the length written. Defined for every int64 and always RFC 3339 (a four-digit year):
// a time outside years 0000-9999 (which parsing never produces) is written as the nearest one
// inside, kRfc3339FirstUs or kRfc3339LastUs. Answers that must not show a clamped time check
// rfc3339_representable first (the query API answers 400 out_of_range).
std::size_t format_rfc3339(std::int64_t micros, char* out);
std::string format_rfc3339(std::int64_t micros);

// "<positive integer><unit>", unit one of s, m, h, d: "35d", "12h", "90m", "30s"; in
// microseconds, and an error when that does not fit in int64.
Result<std::int64_t, std::string> parse_duration(std::string_view text);

}  // namespace ul
