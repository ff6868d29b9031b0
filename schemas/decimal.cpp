#include "schemas/decimal.h"

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

// Parses "digits[.digits][(e|E)[+|-]digits]" into micro-units exactly, bounded by `limit`.
Result<unsigned __int128, DecimalError> parse_unsigned(std::string_view text, bool allow_exponent,
                                                       bool json_grammar, unsigned __int128 limit) {
    if (text.empty()) {
        return unexpected(DecimalError::empty);
    }
    std::size_t position = 0;
    // Significant digits as an integer, and the power of ten they are scaled by.
    unsigned __int128 digits = 0;
    int scale = 0;  // value = digits * 10^scale
    bool overflowed = false;
    int dropped_nonzero = 0;
    auto take_digit = [&](char c, bool fraction) {
        if (fraction) {
            --scale;
        }
        if (digits > (std::numeric_limits<unsigned __int128>::max() / 100)) {
            // Too many digits to hold: only zeros may be dropped from the fraction exactly.
            if (fraction) {
                ++scale;
                if (c != '0') {
                    ++dropped_nonzero;
                }
            } else {
                overflowed = true;
            }
            return;
        }
        digits = digits * 10 + static_cast<unsigned>(c - '0');
    };
    const std::size_t integer_start = position;
    while (position < text.size() && is_digit(text[position])) {
        take_digit(text[position], false);
        ++position;
    }
    const std::size_t integer_digits = position - integer_start;
    if (integer_digits == 0) {
        return unexpected(DecimalError::syntax);
    }
    if (json_grammar && integer_digits > 1 && text[integer_start] == '0') {
        return unexpected(DecimalError::syntax);  // leading zeros
    }
    if (position < text.size() && text[position] == '.') {
        ++position;
        const std::size_t fraction_start = position;
        while (position < text.size() && is_digit(text[position])) {
            take_digit(text[position], true);
            ++position;
        }
        if (position == fraction_start) {
            return unexpected(DecimalError::syntax);
        }
    }
    if (allow_exponent && position < text.size() &&
        (text[position] == 'e' || text[position] == 'E')) {
        ++position;
        bool exponent_negative = false;
        if (position < text.size() && (text[position] == '+' || text[position] == '-')) {
            exponent_negative = text[position] == '-';
            ++position;
        }
        const std::size_t exponent_start = position;
        long exponent = 0;
        while (position < text.size() && is_digit(text[position])) {
            if (exponent < 100000) {
                exponent = exponent * 10 + (text[position] - '0');
            }
            ++position;
        }
        if (position == exponent_start) {
            return unexpected(DecimalError::syntax);
        }
        const long signed_exponent = exponent_negative ? -exponent : exponent;
        if (signed_exponent > 1000 || signed_exponent < -1000) {
            // Far outside any micro-unit value unless the digits are zero.
            if (digits == 0 && dropped_nonzero == 0) {
                return static_cast<unsigned __int128>(0);
            }
            return unexpected(signed_exponent > 0 ? DecimalError::out_of_range
                                                  : DecimalError::too_many_fraction_digits);
        }
        scale += static_cast<int>(signed_exponent);
    }
    if (position != text.size()) {
        return unexpected(DecimalError::syntax);
    }
    if (overflowed) {
        return unexpected(DecimalError::out_of_range);
    }
    if (dropped_nonzero > 0) {
        return unexpected(DecimalError::too_many_fraction_digits);
    }
    // Convert digits * 10^scale to micro-units: digits * 10^(scale + 6).
    int shift = scale + kFractionDigits;
    while (shift < 0) {
        if (digits % 10 != 0) {
            return unexpected(DecimalError::too_many_fraction_digits);
        }
        digits /= 10;
        ++shift;
    }
    while (shift > 0 && digits != 0) {
        if (digits > limit / 10) {
            return unexpected(DecimalError::out_of_range);
        }
        digits *= 10;
        --shift;
    }
    if (digits > limit) {
        return unexpected(DecimalError::out_of_range);
    }
    return digits;
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
    const auto limit = static_cast<unsigned __int128>(std::numeric_limits<__int128>::max());
    auto parsed = parse_unsigned(text, false, false, limit);
    if (!parsed) {
        return unexpected(parsed.error());
    }
    const auto magnitude = static_cast<__int128>(*parsed);
    return DecimalSum(negative ? -magnitude : magnitude);
}

Result<DecimalSum, DecimalError> checked_multiply(DecimalSum quantity, Decimal unit_price) {
    // micros(q) * micros(p) is in 10^-12 units; divide by 10^6 rounding half away from zero.
    __int128 product = 0;
    if (__builtin_mul_overflow(quantity.micros(), static_cast<__int128>(unit_price.micros()),
                               &product)) {
        return unexpected(DecimalError::overflow);
    }
    const __int128 quotient = product / Decimal::kMicrosPerUnit;
    const __int128 remainder = product % Decimal::kMicrosPerUnit;
    __int128 rounded = quotient;
    if (remainder * 2 >= Decimal::kMicrosPerUnit) {
        ++rounded;
    } else if (remainder * 2 <= -Decimal::kMicrosPerUnit) {
        --rounded;
    }
    return DecimalSum::from_micros(rounded);
}

}  // namespace ul
