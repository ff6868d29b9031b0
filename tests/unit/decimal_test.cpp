#include "schemas/decimal.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace ul {
namespace {

std::string canonical(std::string_view text) {
    auto parsed = Decimal::parse_quantity(text);
    return parsed ? parsed->to_string()
                  : "error:" + std::string(decimal_error_text(parsed.error()));
}

TEST(Decimal, ParsesBoundariesExactly) {
    EXPECT_EQ(canonical("0"), "0");
    EXPECT_EQ(canonical("0.000001"), "0.000001");
    EXPECT_EQ(Decimal::parse_quantity("0.000001")->micros(), 1);
    EXPECT_EQ(canonical("1000000000000"), "1000000000000");
    EXPECT_EQ(canonical("999999999999.999999"), "999999999999.999999");
    EXPECT_EQ(Decimal::parse_quantity("999999999999.999999")->micros(), 999'999'999'999'999'999LL);
    EXPECT_EQ(canonical("1000000000000.000001"), "error:out of range");
    EXPECT_EQ(canonical("1000000000001"), "error:out of range");
    EXPECT_EQ(canonical("99999999999999999999999999999999999999999"), "error:out of range");
}

TEST(Decimal, SixFractionDigitsYesSevenNo) {
    EXPECT_EQ(canonical("1.123456"), "1.123456");
    EXPECT_EQ(canonical("1.1234567"), "error:more than 6 fraction digits");
    EXPECT_EQ(canonical("0.0000001"), "error:more than 6 fraction digits");
    // Trailing zeros past the sixth digit do not change the value: still exact.
    EXPECT_EQ(canonical("1.0000000"), "1");
    EXPECT_EQ(canonical("0.1000000000000000000000000000000000000000000000"), "0.1");
}

TEST(Decimal, CanonicalFormHasNoTrailingZerosOrExponent) {
    EXPECT_EQ(canonical("1.50"), "1.5");
    EXPECT_EQ(canonical("1500"), "1500");
    EXPECT_EQ(canonical("0.25"), "0.25");
    EXPECT_EQ(canonical("10.000"), "10");
    EXPECT_EQ(canonical("0.0"), "0");
}

TEST(Decimal, ExponentsAreAppliedExactly) {
    EXPECT_EQ(canonical("1.5e3"), "1500");
    EXPECT_EQ(canonical("1E3"), "1000");
    EXPECT_EQ(canonical("1e+2"), "100");
    EXPECT_EQ(canonical("25e-2"), "0.25");
    EXPECT_EQ(canonical("1e-6"), "0.000001");
    EXPECT_EQ(canonical("1e-7"), "error:more than 6 fraction digits");
    EXPECT_EQ(canonical("1e12"), "1000000000000");
    EXPECT_EQ(canonical("1e13"), "error:out of range");
    EXPECT_EQ(canonical("1e999999999"), "error:out of range");
    EXPECT_EQ(canonical("0e999999999"), "0");
    EXPECT_EQ(canonical("1e-999999999"), "error:more than 6 fraction digits");
}

TEST(Decimal, RejectsWhatIsNotADecimal) {
    EXPECT_EQ(canonical(""), "error:empty");
    EXPECT_EQ(canonical("-1"), "error:negative");
    EXPECT_EQ(canonical("-0"), "error:negative");
    EXPECT_EQ(canonical("+1"), "error:not a decimal number");
    EXPECT_EQ(canonical("NaN"), "error:not a decimal number");
    EXPECT_EQ(canonical("Infinity"), "error:not a decimal number");
    EXPECT_EQ(canonical("1."), "error:not a decimal number");
    EXPECT_EQ(canonical(".5"), "error:not a decimal number");
    EXPECT_EQ(canonical("01"), "error:not a decimal number");
    EXPECT_EQ(canonical("1e"), "error:not a decimal number");
    EXPECT_EQ(canonical(" 1"), "error:not a decimal number");
    EXPECT_EQ(canonical("1 "), "error:not a decimal number");
    EXPECT_EQ(canonical("1,5"), "error:not a decimal number");
    EXPECT_EQ(canonical("0x10"), "error:not a decimal number");
}

TEST(Decimal, AnyNumberOfDigitsIsReadExactly) {
    // Digits beyond 128 bits are fine when the value is exact and in range.
    EXPECT_EQ(canonical("1" + std::string(50, '0') + "e-45"), "100000");
    EXPECT_EQ(canonical("1" + std::string(50, '0') + "e-38"), "1000000000000");
    EXPECT_EQ(canonical("1" + std::string(50, '0') + "e-37"), "error:out of range");
    EXPECT_EQ(canonical("0." + std::string(60, '0') + "1e61"), "1");
    EXPECT_EQ(canonical("0." + std::string(60, '0') + "1e55"), "0.000001");
    EXPECT_EQ(canonical("0." + std::string(60, '0') + "1e54"), "error:more than 6 fraction digits");
    EXPECT_EQ(canonical(std::string(45, '9')), "error:out of range");
    EXPECT_EQ(canonical("0.000001e6"), "1");
    EXPECT_EQ(canonical("1000000e-12"), "0.000001");
    EXPECT_EQ(canonical("0e-999999999999999999999999"), "0");
    EXPECT_EQ(canonical("1e0000000000000000000000012"), "1000000000000");
    // Inexact and too large at once: the fraction is judged first.
    EXPECT_EQ(canonical("10000000000000.0000001"), "error:more than 6 fraction digits");
}

TEST(Decimal, FormatsEveryInt64) {
    EXPECT_EQ(Decimal::from_micros(std::numeric_limits<std::int64_t>::max()).to_string(),
              "9223372036854.775807");
    EXPECT_EQ(Decimal::from_micros(std::numeric_limits<std::int64_t>::min()).to_string(),
              "-9223372036854.775808");
    EXPECT_EQ(Decimal::from_micros(-1).to_string(), "-0.000001");
    EXPECT_EQ(Decimal::from_micros(-1'500'000).to_string(), "-1.5");
    EXPECT_EQ(Decimal::from_micros(10).to_string(), "0.00001");
    EXPECT_EQ(Decimal{}.to_string(), "0");
    char buffer[Decimal::kFormatBytes];
    EXPECT_EQ(Decimal::from_micros(250'000).format(buffer), 4U);
    EXPECT_EQ(std::string_view(buffer, 4), "0.25");
}

TEST(Decimal, OrdersByValue) {
    EXPECT_LT(*Decimal::parse_quantity("0.999999"), *Decimal::parse_quantity("1"));
    EXPECT_EQ(*Decimal::parse_quantity("1.5e3"), *Decimal::parse_quantity("1500.000"));
    EXPECT_GT(Decimal::from_micros(1), Decimal::from_micros(-1));
}

TEST(Decimal, CheckedAddAndSubDetectOverflow) {
    const auto max = Decimal::from_micros(std::numeric_limits<std::int64_t>::max());
    const auto min = Decimal::from_micros(std::numeric_limits<std::int64_t>::min());
    const auto one = Decimal::from_micros(1);
    const auto minus_one = Decimal::from_micros(-1);
    EXPECT_EQ(checked_add(Decimal::from_micros(2), one)->micros(), 3);
    // INT64_MAX edges.
    EXPECT_EQ(checked_add(max, Decimal{})->micros(), std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(checked_add(Decimal::from_micros(std::numeric_limits<std::int64_t>::max() - 1), one)
                  ->micros(),
              std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(checked_add(max, one).error(), DecimalError::overflow);
    EXPECT_EQ(checked_add(one, max).error(), DecimalError::overflow);
    EXPECT_EQ(checked_add(max, max).error(), DecimalError::overflow);
    EXPECT_EQ(checked_sub(max, minus_one).error(), DecimalError::overflow);
    EXPECT_EQ(checked_sub(Decimal{}, min).error(), DecimalError::overflow);
    // INT64_MIN edges.
    EXPECT_EQ(checked_sub(min, one).error(), DecimalError::overflow);
    EXPECT_EQ(checked_add(min, minus_one).error(), DecimalError::overflow);
    EXPECT_EQ(checked_sub(min, Decimal{})->micros(), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(checked_add(max, min)->micros(), -1);
    EXPECT_EQ(checked_sub(max, max)->micros(), 0);
    EXPECT_EQ(checked_sub(one, Decimal::from_micros(2))->to_string(), "-0.000001");
    // The largest quantities add without overflow: 9 × 10^12 units still fit in int64.
    const auto largest = Decimal::from_micros(Decimal::kMaxQuantityMicros);
    EXPECT_EQ(checked_add(largest, largest)->to_string(), "2000000000000");
}

TEST(DecimalSum, AddsIn128BitsAndRefusesToWrap) {
    DecimalSum sum;
    const auto max_quantity = Decimal::from_micros(Decimal::kMaxQuantityMicros);
    for (int index = 0; index < 1000; ++index) {
        ASSERT_TRUE(sum.add(max_quantity));
    }
    EXPECT_EQ(sum.to_string(), "1000000000000000");
    auto near_max = DecimalSum::from_micros(std::numeric_limits<__int128>::max() - 1);
    EXPECT_TRUE(near_max.add(Decimal::from_micros(1)));
    const auto before = near_max;
    EXPECT_FALSE(near_max.add(Decimal::from_micros(1)));
    EXPECT_EQ(near_max, before) << "a failed add leaves the sum unchanged";
    auto near_min = DecimalSum::from_micros(std::numeric_limits<__int128>::min());
    EXPECT_FALSE(near_min.add(Decimal::from_micros(-1)));
    EXPECT_EQ(near_min.to_string(), "-170141183460469231731687303715884.105728");
    EXPECT_EQ(before.to_string(), "170141183460469231731687303715884.105727");
}

TEST(DecimalSum, AddsSumsAndRefusesToWrapEitherWay) {
    const auto max = DecimalSum::from_micros(std::numeric_limits<__int128>::max());
    const auto min = DecimalSum::from_micros(std::numeric_limits<__int128>::min());
    auto sum = max;
    EXPECT_TRUE(sum.add(DecimalSum{}));
    EXPECT_FALSE(sum.add(DecimalSum::from_micros(1)));
    EXPECT_FALSE(sum.add(max));
    EXPECT_EQ(sum, max);
    EXPECT_TRUE(sum.add(min));
    EXPECT_EQ(sum.micros(), -1);
    auto low = min;
    EXPECT_FALSE(low.add(DecimalSum::from_micros(-1)));
    EXPECT_FALSE(low.add(min));
    EXPECT_EQ(low, min);
    EXPECT_TRUE(low.add(Decimal::from_micros(std::numeric_limits<std::int64_t>::max())));
}

TEST(DecimalSum, ParsesAndFormatsRoundTrip) {
    for (const char* text : {"0", "1", "-1", "0.5", "-0.000001", "123456789012345678901234.5",
                             "170141183460469231731687303715884.105727",
                             "-170141183460469231731687303715884.105728"}) {
        auto parsed = DecimalSum::parse(text);
        ASSERT_TRUE(parsed) << text;
        EXPECT_EQ(parsed->to_string(), text);
    }
    EXPECT_EQ(DecimalSum::parse("170141183460469231731687303715884.105727")->micros(),
              std::numeric_limits<__int128>::max());
    EXPECT_EQ(DecimalSum::parse("-170141183460469231731687303715884.105728")->micros(),
              std::numeric_limits<__int128>::min());
    EXPECT_EQ(DecimalSum::parse("170141183460469231731687303715884.105728").error(),
              DecimalError::out_of_range);
    EXPECT_EQ(DecimalSum::parse("-170141183460469231731687303715884.105729").error(),
              DecimalError::out_of_range);
    EXPECT_EQ(DecimalSum::parse("1.0000001").error(), DecimalError::too_many_fraction_digits);
    EXPECT_EQ(DecimalSum::parse("1e3").error(), DecimalError::syntax) << "no exponent in sums";
    EXPECT_EQ(DecimalSum::parse("abc").error(), DecimalError::syntax);
    EXPECT_EQ(DecimalSum::parse("").error(), DecimalError::empty);
    EXPECT_EQ(DecimalSum::parse("-").error(), DecimalError::empty);
    EXPECT_EQ(DecimalSum::parse("--1").error(), DecimalError::syntax);
    EXPECT_EQ(DecimalSum::parse("-0")->micros(), 0);
}

TEST(DecimalSum, MultiplyRoundsHalfUpToMicroUnits) {
    auto product = [](std::string_view quantity, std::string_view price) {
        auto result =
            checked_multiply(*DecimalSum::parse(quantity), *Decimal::parse_quantity(price));
        return result ? result->to_string()
                      : "error:" + std::string(decimal_error_text(result.error()));
    };
    EXPECT_EQ(product("3", "0.25"), "0.75");
    EXPECT_EQ(product("1500", "0.000002"), "0.003");
    EXPECT_EQ(product("0", "123.456"), "0");
    EXPECT_EQ(product("123.456", "0"), "0");
    // 0.000001 × 0.5 = 0.0000005 → rounds up; × 0.499999 → down.
    EXPECT_EQ(product("0.000001", "0.5"), "0.000001");
    EXPECT_EQ(product("0.000001", "0.499999"), "0");
    EXPECT_EQ(product("0.000003", "0.5"), "0.000002");  // 0.0000015 → up, not to even
    EXPECT_EQ(product("0.333333", "3"), "0.999999");
    // Negative quantities (corrections) round half away from zero, symmetric with positive ones.
    EXPECT_EQ(product("-0.000001", "0.5"), "-0.000001");
    EXPECT_EQ(product("-0.000001", "0.499999"), "0");
    EXPECT_EQ(product("-2", "1.5"), "-3");
}

TEST(DecimalSum, MultiplyIsExactUpTo128BitsAndRefusesToWrap) {
    const auto max = DecimalSum::from_micros(std::numeric_limits<__int128>::max());
    const auto min = DecimalSum::from_micros(std::numeric_limits<__int128>::min());
    const auto one = Decimal::from_micros(Decimal::kMicrosPerUnit);
    const auto minus_one = Decimal::from_micros(-Decimal::kMicrosPerUnit);
    // The intermediate product exceeds 128 bits, the result does not: exact.
    EXPECT_EQ(checked_multiply(max, one)->micros(), std::numeric_limits<__int128>::max());
    EXPECT_EQ(checked_multiply(min, one)->micros(), std::numeric_limits<__int128>::min());
    EXPECT_EQ(checked_multiply(max, minus_one)->micros(), -std::numeric_limits<__int128>::max());
    EXPECT_EQ(checked_multiply(min, minus_one).error(), DecimalError::overflow)
        << "-(-2^127) does not fit";
    EXPECT_EQ(checked_multiply(max, Decimal::from_micros(1'000'001)).error(),
              DecimalError::overflow);
    EXPECT_EQ(checked_multiply(max, Decimal::from_micros(std::numeric_limits<std::int64_t>::max()))
                  .error(),
              DecimalError::overflow);
    EXPECT_EQ(checked_multiply(min, Decimal::from_micros(std::numeric_limits<std::int64_t>::min()))
                  .error(),
              DecimalError::overflow);
    const auto huge = DecimalSum::from_micros(std::numeric_limits<__int128>::max() / 2);
    EXPECT_EQ(checked_multiply(huge, *Decimal::parse_quantity("1000")).error(),
              DecimalError::overflow);
    EXPECT_EQ(checked_multiply(huge, *Decimal::parse_quantity("2"))->micros(),
              std::numeric_limits<__int128>::max() - 1);
    // max × 0.5 = 2^126 - 0.5 micro → rounds half away from zero to 2^126.
    EXPECT_EQ(checked_multiply(max, Decimal::from_micros(500'000))->micros(),
              static_cast<__int128>(1) << 126);
    // Rounding itself can leave the range: q = (2^128 - 1) / 3 micros × 1.5 = 2^127 - 0.5 micros
    // → 2^127, one past the largest sum; the negative twin lands exactly on the smallest.
    const __int128 third = static_cast<__int128>(~static_cast<unsigned __int128>(0) / 3);
    const auto one_and_a_half = Decimal::from_micros(1'500'000);
    EXPECT_EQ(checked_multiply(DecimalSum::from_micros(third), one_and_a_half).error(),
              DecimalError::overflow);
    EXPECT_EQ(checked_multiply(DecimalSum::from_micros(-third), one_and_a_half)->micros(),
              std::numeric_limits<__int128>::min());
    EXPECT_EQ(checked_multiply(DecimalSum::from_micros(third - 1), one_and_a_half)->micros(),
              std::numeric_limits<__int128>::max() - 1);
}

}  // namespace
}  // namespace ul
