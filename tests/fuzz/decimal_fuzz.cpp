// Fuzzes exact decimals (schemas/decimal.h): Decimal::parse_quantity and DecimalSum::parse on
// the bytes as text. Invariants: what parses formats to canonical text that parses back to the
// same value; a quantity is a DecimalSum of the same micros; and any 64- or 128-bit value made
// from the first bytes formats to text that DecimalSum::parse reads back exactly.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "schemas/decimal.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void check_quantity(std::string_view text) {
    auto quantity = ul::Decimal::parse_quantity(text);
    if (!quantity) {
        FUZZ_CHECK(!ul::decimal_error_text(quantity.error()).empty(), "an error has a text");
        return;
    }
    FUZZ_CHECK(quantity->micros() >= 0, "a quantity is never negative");
    FUZZ_CHECK(quantity->micros() <= ul::Decimal::kMaxQuantityMicros, "a quantity is <= 10^12");
    const std::string canonical = quantity->to_string();
    auto again = ul::Decimal::parse_quantity(canonical);
    FUZZ_CHECK(again.ok(), "a quantity's canonical text does not parse");
    FUZZ_CHECK(*again == *quantity, "a quantity's canonical text parses to another value");
    FUZZ_CHECK(again->to_string() == canonical, "a canonical text is not a fixed point");
    auto sum = ul::DecimalSum::parse(canonical);
    FUZZ_CHECK(sum.ok() && sum->micros() == quantity->micros(),
               "DecimalSum::parse disagrees with a quantity's canonical text");
}

void check_sum(std::string_view text) {
    auto sum = ul::DecimalSum::parse(text);
    if (!sum) {
        return;
    }
    const std::string canonical = sum->to_string();
    auto again = ul::DecimalSum::parse(canonical);
    FUZZ_CHECK(again.ok(), "a sum's canonical text does not parse");
    FUZZ_CHECK(*again == *sum, "a sum's canonical text parses to another value");
    FUZZ_CHECK(again->to_string() == canonical, "a sum's canonical text is not a fixed point");
}

void check_values(const std::uint8_t* data, std::size_t size) {
    if (size >= sizeof(std::int64_t)) {
        std::int64_t micros = 0;
        std::memcpy(&micros, data, sizeof micros);
        const auto decimal = ul::Decimal::from_micros(micros);
        auto parsed = ul::DecimalSum::parse(decimal.to_string());
        FUZZ_CHECK(parsed.ok() && parsed->micros() == micros, "a Decimal does not round-trip");
    }
    if (size >= sizeof(__int128)) {
        __int128 micros = 0;
        std::memcpy(&micros, data, sizeof micros);
        const auto sum = ul::DecimalSum::from_micros(micros);
        auto parsed = ul::DecimalSum::parse(sum.to_string());
        FUZZ_CHECK(parsed.ok() && parsed->micros() == micros, "a DecimalSum does not round-trip");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_quantity(text);
    check_sum(text);
    check_values(data, size);
    return 0;
}
