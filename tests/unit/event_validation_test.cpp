// The event contract, rule by rule: every reason code with at least three lines, every boundary
// of DESIGN's table. `now` is fixed, so the arrival window is deterministic.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "schemas/canonical.h"
#include "schemas/event.h"
#include "schemas/time.h"

namespace ul {
namespace {

const std::int64_t kNow = *parse_rfc3339("2026-11-24T12:00:00Z");

// A valid event with one field replaced (raw JSON value) or removed (nullptr).
std::string event_with(const std::string& field, const char* raw_value) {
    const std::vector<std::pair<std::string, std::string>> base = {
        {"idempotency_key", "\"req-7f3a\""},
        {"tenant_id", "\"acme\""},
        {"subject", "\"user-42\""},
        {"meter", "\"tokens\""},
        {"quantity", "1500"},
        {"timestamp", "\"2026-11-22T10:15:00Z\""},
        {"properties", "{\"model\":\"gpt-x\",\"region\":\"eu\"}"}};
    std::string out = "{";
    bool replaced = false;
    for (const auto& [name, value] : base) {
        if (name == field) {
            replaced = true;
            if (raw_value == nullptr) {
                continue;
            }
        }
        if (out.size() > 1) {
            out += ',';
        }
        out += "\"" + name + "\":" + (name == field ? std::string(raw_value) : value);
    }
    if (!replaced && raw_value != nullptr) {
        out += ",\"" + field + "\":" + raw_value;
    }
    return out + "}";
}

std::string verdict(std::string_view message, ValidationOptions options = {}) {
    EventValidator validator(options);
    auto result = validator.validate(message, kNow);
    return result ? "ok" : std::string(reason_code(result.error().reason));
}

struct Case {
    std::string message;
    std::string expected;
};

void check_all(const std::vector<Case>& cases) {
    EventValidator validator;
    for (const auto& [message, expected] : cases) {
        auto result = validator.validate(message, kNow);
        const std::string got =
            result ? "ok"
                   : std::string(reason_code(result.error().reason)) + ": " + result.error().detail;
        EXPECT_EQ(got.substr(0, expected.size()), expected) << message;
    }
}

TEST(EventValidation, TheBaseEventIsValid) {
    EventValidator validator;
    auto result = validator.validate(event_with("", nullptr), kNow);
    ASSERT_TRUE(result) << result.error().detail;
    EXPECT_EQ(result->tenant_id, "acme");
    EXPECT_EQ(result->idempotency_key, "req-7f3a");
    EXPECT_EQ(result->subject, "user-42");
    EXPECT_EQ(result->meter, "tokens");
    EXPECT_EQ(result->quantity.to_string(), "1500");
    EXPECT_EQ(format_rfc3339(result->timestamp_us), "2026-11-22T10:15:00Z");
    ASSERT_EQ(result->property_count, 2U);
    EXPECT_EQ(result->properties[0].key, "model");
    EXPECT_EQ(result->properties[0].value, "gpt-x");
}

TEST(EventValidation, TooLarge) {
    const std::string padding_field = ",\"properties\":{\"blob\":\"";
    std::string exactly = event_with("properties", nullptr);
    exactly.pop_back();
    exactly += padding_field;
    const std::size_t fill = kMaxEventBytes - exactly.size() - 3;
    exactly += std::string(fill, 'x') + "\"}}";
    ASSERT_EQ(exactly.size(), kMaxEventBytes);
    // Exactly 16 KiB passes the size rule (the property then breaks the 4 KiB rule).
    EXPECT_EQ(verdict(exactly), "bad_properties");
    std::string over = exactly;
    over.insert(over.size() - 3, "x");
    check_all({{over, "too_large"},
               {std::string(kMaxEventBytes + 1, ' '), "too_large"},
               {std::string(100000, '{'), "too_large"},
               {"{" + std::string(kMaxEventBytes, '\xff') + "}", "too_large"}});
}

TEST(EventValidation, BadUtf8InKeysAndValues) {
    check_all({{event_with("subject", "\"user-\xff\""), "bad_utf8"},
               {event_with("tenant_id", "\"ac\xc3\""), "bad_utf8"},
               {"{\"idem\xc0\xafpotency_key\":\"k\"}", "bad_utf8"},
               {event_with("properties", "{\"m\xed\xa0\x80odel\":\"x\"}"), "bad_utf8"},
               {"\xff{}", "bad_utf8"}});
}

TEST(EventValidation, MalformedJson) {
    check_all({{"{\"idempotency_key\":\"k\"", "malformed_json"},
               {"{\"a\" 1}", "malformed_json"},
               {"{", "malformed_json"},
               {"", "malformed_json"},
               {"{} {}", "malformed_json"},
               {event_with("quantity", "NaN"), "malformed_json"},
               {event_with("quantity", "Infinity"), "malformed_json"},
               {event_with("quantity", "1."), "malformed_json"},
               {event_with("quantity", "01"), "malformed_json"},
               {event_with("quantity", "+1"), "malformed_json"},
               {event_with("subject", "\"\\ud800\""), "malformed_json"},  // lone surrogate
               {event_with("subject", "\"\\x41\""), "malformed_json"},
               {event_with("subject", "'single'"), "malformed_json"},
               {event_with("subject", "\"raw\x01control\""), "malformed_json"},
               {event_with("unknown", "[1,2,}"), "malformed_json"},
               {event_with("unknown", "tru"), "malformed_json"},
               {event_with("", nullptr) + "x", "malformed_json"}});
}

TEST(EventValidation, DuplicateKeys) {
    std::string twice = event_with("", nullptr);
    twice.insert(1, "\"meter\":\"other\",");
    check_all({{twice, "malformed_json: duplicate key \"meter\""},
               {"{\"tenant_id\":\"a\",\"tenant_id\":\"a\"}", "malformed_json"},
               {event_with("properties", "{\"model\":\"a\",\"model\":\"b\"}"), "bad_properties"}});
    // Also unknown fields repeated, in lenient mode.
    std::string unknown_twice = event_with("extra", "1");
    unknown_twice.insert(1, "\"extra\":2,");
    EXPECT_EQ(verdict(unknown_twice, ValidationOptions{.strict = false}), "malformed_json");
}

TEST(EventValidation, NotObject) {
    check_all({{"[1,2,3]", "not_object"},
               {"\"a string\"", "not_object"},
               {"42", "not_object"},
               {"null", "not_object"},
               {"true", "not_object"},
               {"[1,2", "malformed_json"}});
}

TEST(EventValidation, UnknownFieldOnlyInStrictMode) {
    check_all({{event_with("quantitty", "5"), "unknown_field"},
               {event_with("extra", "{\"nested\":[1,2,{\"a\":null}]}"), "unknown_field"},
               {event_with("Tenant_id", "\"x\""), "unknown_field"}});
    EXPECT_EQ(verdict(event_with("extra", "{\"nested\":[1]}"), ValidationOptions{.strict = false}),
              "ok");
    // Unknown wins over missing (fixed order).
    EXPECT_EQ(verdict("{\"x\":1}"), "unknown_field");
}

TEST(EventValidation, MissingFieldInFixedOrder) {
    check_all(
        {{event_with("idempotency_key", nullptr),
          "missing_field: missing required field \"idempotency_key\""},
         {event_with("tenant_id", nullptr), "missing_field: missing required field \"tenant_id\""},
         {event_with("meter", nullptr), "missing_field: missing required field \"meter\""},
         {event_with("quantity", nullptr), "missing_field: missing required field \"quantity\""},
         {event_with("timestamp", nullptr), "missing_field: missing required field \"timestamp\""},
         {"{}", "missing_field: missing required field \"idempotency_key\""}});
    EXPECT_EQ(verdict(event_with("subject", nullptr)), "ok");
    EXPECT_EQ(verdict(event_with("properties", nullptr)), "ok");
}

TEST(EventValidation, BadKey) {
    const std::string key128 = "\"" + std::string(128, 'k') + "\"";
    const std::string key129 = "\"" + std::string(129, 'k') + "\"";
    EXPECT_EQ(verdict(event_with("idempotency_key", key128.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("idempotency_key", "\"k\"")), "ok");
    EXPECT_EQ(verdict(event_with("idempotency_key", "\"r\\u00e9q-\\ud83d\\ude00\"")), "ok")
        << "escapes incl. a surrogate pair decode to printable UTF-8";
    check_all({{event_with("idempotency_key", key129.c_str()), "bad_key"},
               {event_with("idempotency_key", "\"\""), "bad_key"},
               {event_with("idempotency_key", "42"), "bad_key"},
               {event_with("idempotency_key", "null"), "bad_key"},
               {event_with("idempotency_key", "\"tab\\there\""), "bad_key"},
               {event_with("idempotency_key", "\"c1\\u0085\""), "bad_key"},
               {event_with("idempotency_key", "\"del\\u007f\""), "bad_key"}});
}

TEST(EventValidation, BadTenant) {
    const std::string tenant64 = "\"" + std::string(64, 't') + "\"";
    const std::string tenant65 = "\"" + std::string(65, 't') + "\"";
    EXPECT_EQ(verdict(event_with("tenant_id", tenant64.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("tenant_id", "\"Acme.Corp_1:eu-2\"")), "ok");
    check_all({{event_with("tenant_id", tenant65.c_str()), "bad_tenant"},
               {event_with("tenant_id", "\"\""), "bad_tenant"},
               {event_with("tenant_id", "\"acme corp\""), "bad_tenant"},
               {event_with("tenant_id", "\"acm\\u00e9\""), "bad_tenant"},
               {event_with("tenant_id", "\"a/b\""), "bad_tenant"},
               {event_with("tenant_id", "7"), "bad_tenant"}});
}

TEST(EventValidation, BadSubject) {
    const std::string subject128 = "\"" + std::string(128, 's') + "\"";
    const std::string subject129 = "\"" + std::string(129, 's') + "\"";
    EXPECT_EQ(verdict(event_with("subject", subject128.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("subject", "null")), "ok") << "null means absent";
    check_all({{event_with("subject", subject129.c_str()), "bad_subject"},
               {event_with("subject", "42"), "bad_subject"},
               {event_with("subject", "{\"a\":1}"), "bad_subject"},
               {event_with("subject", "\"new\\nline\""), "bad_subject"}});
}

TEST(EventValidation, BadMeter) {
    const std::string meter64 = "\"" + std::string(64, 'm') + "\"";
    const std::string meter65 = "\"" + std::string(65, 'm') + "\"";
    EXPECT_EQ(verdict(event_with("meter", meter64.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("meter", "\"api_calls.v2-eu\"")), "ok");
    check_all({{event_with("meter", meter65.c_str()), "bad_meter"},
               {event_with("meter", "\"Tokens\""), "bad_meter"},
               {event_with("meter", "\"\""), "bad_meter"},
               {event_with("meter", "\"to kens\""), "bad_meter"},
               {event_with("meter", "true"), "bad_meter"}});
}

TEST(EventValidation, Quantity) {
    for (const char* ok : {"0", "0.000001", "1000000000000", "999999999999.999999", "\"12.5\"",
                           "\"0\"", "1.5e3", "1E2", "\"1.50\"", "0.0"}) {
        EXPECT_EQ(verdict(event_with("quantity", ok)), "ok") << ok;
    }
    check_all({{event_with("quantity", "1000000000000.000001"), "bad_quantity"},
               {event_with("quantity", "1.1234567"), "bad_quantity"},
               {event_with("quantity", "\"1.1234567\""), "bad_quantity"},
               {event_with("quantity", "-1"), "bad_quantity"},
               {event_with("quantity", "\"-1\""), "bad_quantity"},
               {event_with("quantity", "\"NaN\""), "bad_quantity"},
               {event_with("quantity", "\"1e-7\""), "bad_quantity"},
               {event_with("quantity", "1e-7"), "bad_quantity"},
               {event_with("quantity", "\" 12\""), "bad_quantity"},
               {event_with("quantity", "\"\""), "bad_quantity"},
               {event_with("quantity", "true"), "bad_quantity"},
               {event_with("quantity", "null"), "bad_quantity"},
               {event_with("quantity", "[1]"), "bad_quantity"}});
}

TEST(EventValidation, Timestamp) {
    // Inclusive bounds: exactly 5 min ahead and exactly 35 days old are accepted.
    EXPECT_EQ(verdict(event_with("timestamp", "\"2026-11-24T12:05:00Z\"")), "ok");
    EXPECT_EQ(verdict(event_with("timestamp", "\"2026-10-20T12:00:00Z\"")), "ok");
    EXPECT_EQ(verdict(event_with("timestamp", "\"2026-11-22T15:45:00+05:30\"")), "ok");
    EXPECT_EQ(verdict(event_with("timestamp", "\"2026-11-21T22:15:00-12:00\"")), "ok");
    EXPECT_EQ(verdict(event_with("timestamp", "\"2026-10-31T23:59:59.9999999Z\"")), "ok");
    check_all({{event_with("timestamp", "\"2026-11-24T12:05:00.000001Z\""), "bad_timestamp"},
               {event_with("timestamp", "\"2026-10-20T11:59:59.999999Z\""), "bad_timestamp"},
               {event_with("timestamp", "\"2026-02-29T00:00:00Z\""), "bad_timestamp"},
               {event_with("timestamp", "\"2026-11-22T24:00:00Z\""), "bad_timestamp"},
               {event_with("timestamp", "\"2016-12-31T23:59:60Z\""), "bad_timestamp"},
               {event_with("timestamp", "\"2026-11-22 10:15:00Z\""), "bad_timestamp"},
               {event_with("timestamp", "1763806500"), "bad_timestamp"},
               {event_with("timestamp", "\"2026-11-22T10:15:00\""), "bad_timestamp"}});
    // The late limit is an option (--max-event-age).
    EXPECT_EQ(verdict(event_with("timestamp", "\"2026-11-22T10:15:00Z\""),
                      ValidationOptions{.max_event_age_us = 3600LL * 1'000'000}),
              "bad_timestamp");
}

TEST(EventValidation, Properties) {
    std::string sixteen = "{";
    std::string seventeen = "{";
    for (int index = 0; index < 17; ++index) {
        std::string pair = (index ? "," : "") + std::string("\"k") + std::to_string(index) + "\":1";
        if (index < 16) {
            sixteen += pair;
        }
        seventeen += pair;
    }
    sixteen += "}";
    seventeen += "}";
    EXPECT_EQ(verdict(event_with("properties", sixteen.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("properties", "{}")), "ok");
    EXPECT_EQ(verdict(event_with("properties", "null")), "ok");
    EXPECT_EQ(verdict(event_with("properties", "{\"a\":\"s\",\"b\":1.5,\"c\":true,\"d\":-2}")),
              "ok");
    const std::string big = "{\"blob\":\"" + std::string(4100, 'x') + "\"}";
    check_all({{event_with("properties", seventeen.c_str()), "bad_properties"},
               {event_with("properties", "{\"a\":{\"nested\":1}}"), "bad_properties"},
               {event_with("properties", "{\"a\":[1]}"), "bad_properties"},
               {event_with("properties", "{\"a\":null}"), "bad_properties"},
               {event_with("properties", "[1,2]"), "bad_properties"},
               {event_with("properties", "\"model=gpt\""), "bad_properties"},
               {event_with("properties", "{\"\":1}"), "bad_properties"},
               {event_with("properties", big.c_str()), "bad_properties"}});
}

TEST(EventValidation, FirstBrokenRuleWins) {
    // Bad tenant and bad meter: tenant comes first.
    std::string both = event_with("tenant_id", "\"a b\"");
    both.replace(both.find("\"tokens\""), 8, "\"Tokens\"");
    EXPECT_EQ(verdict(both), "bad_tenant");
    // Unknown field and bad UTF-8 elsewhere: bad_utf8 comes first.
    EXPECT_EQ(verdict(event_with("extra", "\"\xff\"")), "bad_utf8");
    // A malformed unknown field beats a missing field.
    EXPECT_EQ(verdict("{\"x\":[}"), "malformed_json");
}

TEST(EventValidation, ZeroCopyAndCopyGiveTheSameAnswer) {
    const std::string message = event_with("", nullptr);
    std::string padded = message + std::string(simdjson::SIMDJSON_PADDING, ' ');
    EventValidator validator;
    auto copied = validator.validate(message, kNow);
    ASSERT_TRUE(copied);
    const auto copied_hash = payload_hash(*copied);
    auto zero_copy =
        validator.validate(std::string_view(padded.data(), message.size()), padded.size(), kNow);
    ASSERT_TRUE(zero_copy);
    EXPECT_EQ(payload_hash(*zero_copy), copied_hash);
}

}  // namespace
}  // namespace ul
