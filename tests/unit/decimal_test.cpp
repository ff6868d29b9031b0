#include "schemas/decimal.h"

#include <gtest/gtest.h>

#include <limits>

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

TEST(Decimal, CheckedAddAndSubDetectOverflow) {
    const auto max = Decimal::from_micros(std::numeric_limits<std::int64_t>::max());
    const auto min = Decimal::from_micros(std::numeric_limits<std::int64_t>::min());
    const auto one = Decimal::from_micros(1);
    EXPECT_EQ(checked_add(Decimal::from_micros(2), one)->micros(), 3);
    EXPECT_FALSE(checked_add(max, one));
    EXPECT_EQ(checked_add(max, one).error(), DecimalError::overflow);
    EXPECT_TRUE(checked_add(max, Decimal{}));
    EXPECT_FALSE(checked_sub(min, one));
    EXPECT_EQ(checked_sub(one, Decimal::from_micros(2))->to_string(), "-0.000001");
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

TEST(DecimalSum, ParsesAndFormatsRoundTrip) {
    for (const char* text : {"0", "1", "-1", "0.5", "-0.000001", "123456789012345678901234.5"}) {
        auto parsed = DecimalSum::parse(text);
        ASSERT_TRUE(parsed) << text;
        EXPECT_EQ(parsed->to_string(), text);
    }
    EXPECT_FALSE(DecimalSum::parse("1.0000001"));
    EXPECT_FALSE(DecimalSum::parse("1e3")) << "no exponent in stored sums";
    EXPECT_FALSE(DecimalSum::parse("abc"));
}

TEST(DecimalSum, MultiplyRoundsHalfAwayFromZeroAndDetectsOverflow) {
    const auto quantity = *DecimalSum::parse("3");
    EXPECT_EQ(checked_multiply(quantity, *Decimal::parse_quantity("0.25"))->to_string(), "0.75");
    // 0.000001 * 0.5 = 0.0000005 → rounds to 0.000001
    EXPECT_EQ(checked_multiply(*DecimalSum::parse("0.000001"), *Decimal::parse_quantity("0.5"))
                  ->to_string(),
              "0.000001");
    EXPECT_EQ(checked_multiply(*DecimalSum::parse("0.000001"), *Decimal::parse_quantity("0.4"))
                  ->to_string(),
              "0");
    EXPECT_EQ(checked_multiply(*DecimalSum::parse("-0.000001"), *Decimal::parse_quantity("0.5"))
                  ->to_string(),
              "-0.000001");
    const auto huge = DecimalSum::from_micros(std::numeric_limits<__int128>::max() / 2);
    EXPECT_EQ(checked_multiply(huge, *Decimal::parse_quantity("1000")).error(),
              DecimalError::overflow);
}

}  // namespace
}  // namespace ul
