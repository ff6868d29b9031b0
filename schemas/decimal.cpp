#include "schemas/decimal.h"

#include <algorithm>
#include <array>
#include <limits>

namespace ul {
namespace {

constexpr int kFractionDigits = 6;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Formats a non-negative 128-bit micro amount, with an optional sign, into `out`.
std::size_t format_micros(bool negative, unsigned __int128 magnitude, char* out) {
    std::array<char, 48> digits{};
    std::size_t count = 0;
    do {
        digits[count++] = static_cast<char>('0' + static_cast<int>(magnitude % 10));
        magnitude /= 10;
    } while (magnitude != 0);
    while (count <= static_cast<std::size_t>(kFractionDigits)) {
        digits[count++] = '0';  // at least one integer digit
    }
    // digits[0..5] are the fraction, least significant first.
    std::size_t fraction_start = 0;
    while (fraction_start < static_cast<std::size_t>(kFractionDigits) &&
           digits[fraction_start] == '0') {
        ++fraction_start;
    }
    std::size_t length = 0;
    if (negative) {
        out[length++] = '-';
    }
    for (std::size_t index = count; index > static_cast<std::size_t>(kFractionDigits); --index) {
        out[length++] = digits[index - 1];
    }
    if (fraction_start < static_cast<std::size_t>(kFractionDigits)) {
        out[length++] = '.';
        for (std::size_t index = kFractionDigits; index > fraction_start; --index) {
            out[length++] = digits[index - 1];
        }
    }
    return length;
}

// Exponents are clamped here: far beyond it only zero can be a micro-unit value ≤ 2^127.
constexpr std::int64_t kExponentClamp = 1'000'000;
// 2^127 < 10^39: a micro amount of more digits is out of range for every limit.
constexpr std::int64_t kMaxMicroDigits = 39;

// Parses "digits[.digits][(e|E)[+|-]digits]" into micro-units exactly, at most `limit`.
// The value is read as significant digits S times 10^scale (leading and trailing zeros of the
// digit string removed), so any number of digits is handled exactly: "1" followed by 50 zeros
// and "e-45" is 100000. Fraction digits are judged before the range: a value that is both
// inexact in micro-units and too large is `too_many_fraction_digits`.
Result<unsigned __int128, DecimalError> parse_unsigned(std::string_view text, bool allow_exponent,
                                                       bool json_grammar, unsigned __int128 limit) {
    if (text.empty()) {
        return unexpected(DecimalError::empty);
    }
    std::size_t position = 0;
    auto skip_digits = [&text, &position] {
        const std::size_t start = position;
        while (position < text.size() && is_digit(text[position])) {
            ++position;
        }
        return text.substr(start, position - start);
    };
    const std::string_view integer = skip_digits();
    if (integer.empty()) {
        return unexpected(DecimalError::syntax);
    }
    if (json_grammar && integer.size() > 1 && integer.front() == '0') {
        return unexpected(DecimalError::syntax);  // leading zeros
    }
    std::string_view fraction;
    if (position < text.size() && text[position] == '.') {
        ++position;
        fraction = skip_digits();
        if (fraction.empty()) {
            return unexpected(DecimalError::syntax);
        }
    }
    std::int64_t exponent = 0;
    if (allow_exponent && position < text.size() &&
        (text[position] == 'e' || text[position] == 'E')) {
        ++position;
        bool exponent_negative = false;
        if (position < text.size() && (text[position] == '+' || text[position] == '-')) {
            exponent_negative = text[position] == '-';
            ++position;
        }
        const std::string_view exponent_digits = skip_digits();
        if (exponent_digits.empty()) {
            return unexpected(DecimalError::syntax);
        }
        for (const char c : exponent_digits) {
            exponent = std::min(exponent * 10 + (c - '0'), kExponentClamp);
        }
        if (exponent_negative) {
            exponent = -exponent;
        }
    }
    if (position != text.size()) {
        return unexpected(DecimalError::syntax);
    }

    // The digit string is integer ++ fraction; value = digits * 10^(exponent - |fraction|).
    const std::size_t total = integer.size() + fraction.size();
    auto digit_at = [&integer, &fraction](std::size_t index) {
        return index < integer.size() ? integer[index] : fraction[index - integer.size()];
    };
    std::size_t first = 0;
    while (first < total && digit_at(first) == '0') {
        ++first;
    }
    if (first == total) {
        return static_cast<unsigned __int128>(0);
    }
    std::size_t end = total;
    while (digit_at(end - 1) == '0') {
        --end;
    }
    const auto significant = static_cast<std::int64_t>(end - first);
    // Micro-units = S * 10^micro_exponent, and S ends in a non-zero digit.
    const std::int64_t micro_exponent = exponent - static_cast<std::int64_t>(fraction.size()) +
                                        static_cast<std::int64_t>(total - end) + kFractionDigits;
    if (micro_exponent < 0) {
        return unexpected(DecimalError::too_many_fraction_digits);
    }
    if (significant + micro_exponent > kMaxMicroDigits) {
        return unexpected(DecimalError::out_of_range);
    }
    unsigned __int128 micros = 0;
    for (std::size_t index = first; index < end; ++index) {
        const auto digit = static_cast<unsigned>(digit_at(index) - '0');
        if (micros > (limit - digit) / 10) {
            return unexpected(DecimalError::out_of_range);
        }
        micros = micros * 10 + digit;
    }
    for (std::int64_t step = 0; step < micro_exponent; ++step) {
        if (micros > limit / 10) {
            return unexpected(DecimalError::out_of_range);
        }
        micros *= 10;
    }
    return micros;
}

}  // namespace

std::string_view decimal_error_text(DecimalError error) {
    switch (error) {
        case DecimalError::empty:
            return "empty";
        case DecimalError::syntax:
            return "not a decimal number";
        case DecimalError::negative:
            return "negative";
        case DecimalError::too_many_fraction_digits:
            return "more than 6 fraction digits";
        case DecimalError::out_of_range:
            return "out of range";
        case DecimalError::overflow:
            return "overflow";
    }
    return "unknown";
}

Result<Decimal, DecimalError> Decimal::parse_quantity(std::string_view text) {
    if (!text.empty() && text.front() == '-') {
        return unexpected(DecimalError::negative);
    }
    auto parsed = parse_unsigned(text, true, true, kMaxQuantityMicros);
    if (!parsed) {
        return unexpected(parsed.error());
    }
    return Decimal(static_cast<std::int64_t>(*parsed));
}

std::size_t Decimal::format(char* out) const {
    const bool negative = micros_ < 0;
    const unsigned __int128 magnitude =
        negative ? static_cast<unsigned __int128>(-static_cast<__int128>(micros_))
                 : static_cast<unsigned __int128>(micros_);
    return format_micros(negative, magnitude, out);
}

std::string Decimal::to_string() const {
    char buffer[kFormatBytes];
    return {buffer, format(buffer)};
}

Result<Decimal, DecimalError> checked_add(Decimal left, Decimal right) {
    std::int64_t sum = 0;
    if (__builtin_add_overflow(left.micros(), right.micros(), &sum)) {
        return unexpected(DecimalError::overflow);
    }
    return Decimal::from_micros(sum);
}

Result<Decimal, DecimalError> checked_sub(Decimal left, Decimal right) {
    std::int64_t difference = 0;
    if (__builtin_sub_overflow(left.micros(), right.micros(), &difference)) {
        return unexpected(DecimalError::overflow);
    }
    return Decimal::from_micros(difference);
}

bool DecimalSum::add(Decimal value) {
    return add(DecimalSum(value.micros()));
}

bool DecimalSum::add(DecimalSum value) {
    __int128 sum = 0;
    if (__builtin_add_overflow(micros_, value.micros_, &sum)) {
        return false;
    }
    micros_ = sum;
    return true;
}

std::size_t DecimalSum::format(char* out) const {
    const bool negative = micros_ < 0;
    // -(min) overflows; its magnitude is computed in unsigned arithmetic.
    const unsigned __int128 magnitude = negative ? ~static_cast<unsigned __int128>(micros_) + 1
                                                 : static_cast<unsigned __int128>(micros_);
    return format_micros(negative, magnitude, out);
}

std::string DecimalSum::to_string() const {
    char buffer[kFormatBytes];
    return {buffer, format(buffer)};
}

Result<DecimalSum, DecimalError> DecimalSum::parse(std::string_view text) {
    const bool negative = !text.empty() && text.front() == '-';
    if (negative) {
        text.remove_prefix(1);
    }
    // The magnitude of the most negative sum is one more than the largest positive one.
    const auto limit =
        static_cast<unsigned __int128>(std::numeric_limits<__int128>::max()) + (negative ? 1U : 0U);
    auto parsed = parse_unsigned(text, false, false, limit);
    if (!parsed) {
        return unexpected(parsed.error());
    }
    // Two's complement negation in unsigned arithmetic: exact for the most negative sum too.
    const unsigned __int128 bits = negative ? ~*parsed + 1 : *parsed;
    return DecimalSum(static_cast<__int128>(bits));
}

Result<DecimalSum, DecimalError> checked_multiply(DecimalSum quantity, Decimal unit_price) {
    // micros(q) × micros(p) is in 10^-12 units: up to 2^127 × 2^63, so the product is formed in
    // three 64-bit limbs (192 bits) and divided by 10^6 exactly; only the result must fit.
    const bool negative = (quantity.micros() < 0) != (unit_price.micros() < 0);
    const unsigned __int128 quantity_magnitude =
        quantity.micros() < 0 ? ~static_cast<unsigned __int128>(quantity.micros()) + 1
                              : static_cast<unsigned __int128>(quantity.micros());
    const std::uint64_t price_magnitude = unit_price.micros() < 0
                                              ? ~static_cast<std::uint64_t>(unit_price.micros()) + 1
                                              : static_cast<std::uint64_t>(unit_price.micros());
    constexpr unsigned kLimbBits = 64;
    const auto low = static_cast<std::uint64_t>(quantity_magnitude);
    const auto high = static_cast<std::uint64_t>(quantity_magnitude >> kLimbBits);
    const unsigned __int128 low_product = static_cast<unsigned __int128>(low) * price_magnitude;
    const unsigned __int128 high_product =
        static_cast<unsigned __int128>(high) * price_magnitude + (low_product >> kLimbBits);
    const std::array<std::uint64_t, 3> limbs = {
        static_cast<std::uint64_t>(high_product >> kLimbBits),
        static_cast<std::uint64_t>(high_product), static_cast<std::uint64_t>(low_product)};
    // Long division by 10^6, most significant limb first.
    constexpr std::uint64_t kDivisor = Decimal::kMicrosPerUnit;
    std::array<std::uint64_t, 3> quotient{};
    std::uint64_t remainder = 0;
    for (std::size_t index = 0; index < limbs.size(); ++index) {
        const unsigned __int128 current =
            (static_cast<unsigned __int128>(remainder) << kLimbBits) | limbs[index];
        quotient[index] = static_cast<std::uint64_t>(current / kDivisor);
        remainder = static_cast<std::uint64_t>(current % kDivisor);
    }
    if (quotient[0] != 0) {
        return unexpected(DecimalError::overflow);
    }
    unsigned __int128 magnitude =
        (static_cast<unsigned __int128>(quotient[1]) << kLimbBits) | quotient[2];
    // The result must fit: up to 2^127 - 1, or 2^127 for a negative result.
    const unsigned __int128 limit =
        static_cast<unsigned __int128>(std::numeric_limits<__int128>::max()) + (negative ? 1U : 0U);
    if (magnitude > limit) {
        return unexpected(DecimalError::overflow);
    }
    if (remainder * 2 >= kDivisor) {
        ++magnitude;  // half away from zero; cannot wrap, magnitude <= 2^127 here
        if (magnitude > limit) {
            return unexpected(DecimalError::overflow);
        }
    }
    const unsigned __int128 bits = negative ? ~magnitude + 1 : magnitude;
    return DecimalSum::from_micros(static_cast<__int128>(bits));
}

}  // namespace ul
