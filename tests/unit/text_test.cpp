// Cutting text at a UTF-8 character boundary (schemas/text.h).
#include "schemas/text.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <array>
#include <cstdint>
#include <string>

namespace ul {
namespace {

TEST(Utf8Prefix, FittingTextIsKeptWhole) {
    EXPECT_EQ(utf8_prefix("", 0), "");
    EXPECT_EQ(utf8_prefix("abc", 3), "abc");
    EXPECT_EQ(utf8_prefix("h\u00e9", 3), "h\u00e9");
    EXPECT_EQ(utf8_prefix("abc", 2), "ab");
    EXPECT_EQ(utf8_prefix("abc", 0), "");
}

TEST(Utf8Prefix, NeverEndsInsideACharacter) {
    // 2, 3 and 4 byte characters, cut at every byte inside them.
    EXPECT_EQ(utf8_prefix("a\u00e9b", 2), "a");
    EXPECT_EQ(utf8_prefix("a\u00e9b", 3), "a\u00e9");
    EXPECT_EQ(utf8_prefix("a\u20acb", 2), "a");
    EXPECT_EQ(utf8_prefix("a\u20acb", 3), "a");
    EXPECT_EQ(utf8_prefix("a\u20acb", 4), "a\u20ac");
    EXPECT_EQ(utf8_prefix("a\U0001F600b", 4), "a");
    EXPECT_EQ(utf8_prefix("a\U0001F600b", 5), "a\U0001F600");
    EXPECT_EQ(utf8_prefix("\U0001F600", 3), "");
}

TEST(Utf8Prefix, EveryCutOfValidTextIsValidAndAsLongAsPossible) {
    const std::string text = "x\u00e9\u20ac\U0001F600y\u00e9\U0001F600\u20acz";
    for (std::size_t max = 0; max <= text.size() + 1; ++max) {
        const std::string_view prefix = utf8_prefix(text, max);
        EXPECT_LE(prefix.size(), max);
        EXPECT_EQ(text.compare(0, prefix.size(), prefix), 0);
        EXPECT_TRUE(simdjson::validate_utf8(prefix.data(), prefix.size())) << max;
        EXPECT_GE(prefix.size() + 3, std::min(max, text.size())) << max;
    }
}

}  // namespace
}  // namespace ul

namespace {

TEST(SplitExact, GivesExactlyTheFieldsOrNothing) {
    std::array<std::string_view, 3> fields;
    EXPECT_TRUE(ul::split_exact("a\tb\t", '\t', fields));
    EXPECT_EQ(fields[0], "a");
    EXPECT_EQ(fields[1], "b");
    EXPECT_EQ(fields[2], "");
    EXPECT_FALSE(ul::split_exact("a\tb", '\t', fields));        // too few
    EXPECT_FALSE(ul::split_exact("a\tb\tc\td", '\t', fields));  // too many
    std::int64_t value = 0;
    EXPECT_TRUE(ul::parse_integer("-42", value));
    EXPECT_EQ(value, -42);
    for (const char* bad : {"", "4x", " 4", "99999999999999999999"}) {
        EXPECT_FALSE(ul::parse_integer(bad, value)) << bad;
    }
}

}  // namespace
