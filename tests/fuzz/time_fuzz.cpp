// Fuzzes time parsing (schemas/time.h): parse_rfc3339 and parse_duration on the bytes as text.
// Invariants: a parsed time is at least 0001-01-01T00:00:00Z, representable, and its canonical
// text (format_rfc3339) parses back to it; any int64 made from the first bytes formats to 20 or
// 27 bytes that parse (to itself when representable, else to the clamped end), except times
// before year 0001 (year 0000 is written, never parsed); a parsed duration is positive.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "schemas/time.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void check_rfc3339(std::string_view text) {
    auto parsed = ul::parse_rfc3339(text);
    if (!parsed) {
        FUZZ_CHECK(!parsed.error().empty(), "a refused time has a detail");
        return;
    }
    FUZZ_CHECK(*parsed >= ul::kRfc3339FirstParsedUs && ul::rfc3339_representable(*parsed),
               "a parsed time is outside years 0001-9999");
    const std::string canonical = ul::format_rfc3339(*parsed);
    auto again = ul::parse_rfc3339(canonical);
    FUZZ_CHECK(again.ok(), "a time's canonical text does not parse");
    FUZZ_CHECK(*again == *parsed, "a time's canonical text parses to another time");
}

void check_format(const std::uint8_t* data, std::size_t size) {
    if (size < sizeof(std::int64_t)) {
        return;
    }
    std::int64_t micros = 0;
    std::memcpy(&micros, data, sizeof micros);
    char buffer[ul::kTimestampFormatBytes];
    const std::size_t length = ul::format_rfc3339(micros, buffer);
    FUZZ_CHECK(length > 0 && length <= sizeof buffer, "format_rfc3339 wrote a bad length");
    const std::string_view text(buffer, length);
    FUZZ_CHECK(length == 20 || length == 27, "format_rfc3339 wrote an odd length");
    auto parsed = ul::parse_rfc3339(text);
    if (micros < ul::kRfc3339FirstParsedUs) {
        // Year 0000 (or clamped to 0000-01-01): written, but refused by parsing.
        FUZZ_CHECK(!parsed.ok() && text.starts_with("0000-"), "a time before 0001 parses");
        return;
    }
    FUZZ_CHECK(parsed.ok(), "format_rfc3339 wrote text that does not parse");
    if (ul::rfc3339_representable(micros)) {
        FUZZ_CHECK(*parsed == micros, "a representable time does not round-trip");
    } else {
        FUZZ_CHECK(*parsed == ul::kRfc3339LastUs, "a time after 9999 is not clamped to the end");
    }
}

void check_duration(std::string_view text) {
    auto duration = ul::parse_duration(text);
    if (duration) {
        FUZZ_CHECK(*duration > 0, "a parsed duration is not positive");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_rfc3339(text);
    check_duration(text);
    check_format(data, size);
    return 0;
}
