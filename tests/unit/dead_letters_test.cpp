// Dead letters for people, pure (consumers/dead_letters.h): the cursor's text, which tenant a
// letter is about, the filters, and the JSON form of any bytes.
#include <gtest/gtest.h>

#include <string>

#include "consumers/dead_letters.h"

namespace ul {
namespace {

DeadLetterRecord letter(std::string value, std::string key = "acme",
                        std::string error = "bad_quantity") {
    DeadLetterRecord record;
    record.partition = 3;
    record.offset = 41;
    record.error = std::move(error);
    record.detail = "quantity: negative";
    record.source_partition = 7;
    record.source_offset = 1200;
    record.key = std::move(key);
    record.value = std::move(value);
    return record;
}

TEST(DeadLetters, TheCursorRoundTripsAndRefusesNonsense) {
    const DeadLetterCursor cursor = {{0, 12}, {3, 0}, {15, 9'000'000'000}};
    const std::string text = encode_dead_letter_cursor(cursor);
    EXPECT_EQ(text, "0.12_3.0_15.9000000000");
    EXPECT_EQ(decode_dead_letter_cursor(text).value(), cursor);
    EXPECT_TRUE(decode_dead_letter_cursor("").value().empty());
    for (const char* bad : {"1", "1.", ".2", "a.b", "1.2_", "1.-2", "1.2_1.3", "1.2,3.4"}) {
        EXPECT_FALSE(decode_dead_letter_cursor(bad).ok()) << bad;
    }
}

TEST(DeadLettersTenant, IsTheEventsTenantElseTheKey) {
    EXPECT_EQ(dead_letter_tenant(letter(R"({"tenant_id":"globex","quantity":-1})")), "globex");
    EXPECT_EQ(dead_letter_tenant(letter("{not json")), "acme");
    EXPECT_EQ(dead_letter_tenant(letter(R"({"tenant_id":5})")), "acme");
    DeadLetterRecord null_value = letter("");
    null_value.value_null = true;
    EXPECT_EQ(dead_letter_tenant(null_value), "acme");
}

TEST(DeadLetters, FiltersByReasonAndTenant) {
    const DeadLetterRecord record = letter(R"({"tenant_id":"globex"})");
    EXPECT_TRUE(dead_letter_matches(record, DeadLetterQuery{}));
    EXPECT_TRUE(dead_letter_matches(record, DeadLetterQuery{"bad_quantity", "globex", 100, {}}));
    EXPECT_FALSE(dead_letter_matches(record, DeadLetterQuery{"bad_key", "", 100, {}}));
    EXPECT_FALSE(dead_letter_matches(record, DeadLetterQuery{"", "acme", 100, {}}));
}

TEST(DeadLetters, TheJsonFormKeepsAnyBytesReadable) {
    EXPECT_EQ(dead_letter_json(letter(R"({"tenant_id":"globex"})")),
              R"({"partition":3,"offset":41,"published_at":null,"error":"bad_quantity",)"
              R"("detail":"quantity: negative","source":{"partition":7,"offset":1200},)"
              R"("tenant_id":"globex","key":"acme","value":"{\"tenant_id\":\"globex\"}"})");
    const std::string binary = dead_letter_json(letter(std::string("\xff\x00\x01", 3)));
    EXPECT_NE(binary.find(R"("value_base64":"/wAB")"), std::string::npos) << binary;
    DeadLetterRecord null_value = letter("");
    null_value.value_null = true;
    EXPECT_NE(dead_letter_json(null_value).find(R"("value":null)"), std::string::npos);
}

}  // namespace
}  // namespace ul
