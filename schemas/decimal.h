// Exact fixed-point decimals in micro-units (10^-6). Quantities and money are never floating
// point; every operation that could overflow returns an error value instead of wrapping.
// Plain value types; thread-safe as values are.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/result.h"

namespace ul {

enum class DecimalError : std::uint8_t {
    empty,
    syntax,
    negative,
    too_many_fraction_digits,
    out_of_range,
    overflow,
};
std::string_view decimal_error_text(DecimalError error);

class Decimal {
  public:
    static constexpr std::int64_t kMicrosPerUnit = 1'000'000;
    static constexpr std::int64_t kMaxQuantityMicros = 1'000'000'000'000LL * kMicrosPerUnit;
    static constexpr std::size_t kFormatBytes = 32;

    constexpr Decimal() = default;
    static constexpr Decimal from_micros(std::int64_t micros) { return Decimal(micros); }
    constexpr std::int64_t micros() const { return micros_; }

    // A quantity: the JSON number grammar without a sign — digits ['.' digits] [(e|E)[+|-]digits],
    // no leading zeros but "0". The value must be exact in micro-units (trailing zeros past the
    // sixth fraction digit are fine) and at most 10^12. Exponents are applied exactly, in integer
    // arithmetic, whatever the number of digits. Errors: empty; syntax; negative (a leading '-');
    // too_many_fraction_digits (not exact in micro-units, judged first); out_of_range.
    static Result<Decimal, DecimalError> parse_quantity(std::string_view text);

    // Canonical text: "1500", "0.25", "-3.5"; never trailing zeros, never an exponent.
    // `out` must hold kFormatBytes. Returns the length written.
    std::size_t format(char* out) const;
    std::string to_string() const;

    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted <=>
    friend constexpr auto operator<=>(Decimal, Decimal) = default;

  private:
    constexpr explicit Decimal(std::int64_t micros) : micros_(micros) {}
    std::int64_t micros_ = 0;
};

Result<Decimal, DecimalError> checked_add(Decimal left, Decimal right);
Result<Decimal, DecimalError> checked_sub(Decimal left, Decimal right);

// A sum of many quantities, or money: 128-bit micro-units.
class DecimalSum {
  public:
    static constexpr std::size_t kFormatBytes = 48;

    constexpr DecimalSum() = default;
    static constexpr DecimalSum from_micros(__int128 micros) { return DecimalSum(micros); }
    constexpr __int128 micros() const { return micros_; }

    // Adds `value`; false (and unchanged) on 128-bit overflow.
    [[nodiscard]] bool add(Decimal value);
    [[nodiscard]] bool add(DecimalSum value);

    std::size_t format(char* out) const;  // canonical, like Decimal; `out` holds kFormatBytes
    std::string to_string() const;
    // Parses what format writes (and plain decimal text: an optional '-', digits, up to 6
    // significant fraction digits, no exponent); every value of the type round-trips.
    static Result<DecimalSum, DecimalError> parse(std::string_view text);

    friend constexpr auto operator<=>(DecimalSum, DecimalSum) = default;

  private:
    constexpr explicit DecimalSum(__int128 micros) : micros_(micros) {}
    __int128 micros_ = 0;
};

// quantity × unit price, for money (overage cost = units over the limit × price per unit).
// Rounding: the exact product (10^-12 units) is rounded to micro-units half away from zero —
// for the non-negative amounts of billing that is "round half up": 0.0000005 → 0.000001,
// 0.0000004999 → 0. The product is formed exactly in 192 bits, so only a result outside
// DecimalSum's range is `overflow`.
Result<DecimalSum, DecimalError> checked_multiply(DecimalSum quantity, Decimal unit_price);

}  // namespace ul
