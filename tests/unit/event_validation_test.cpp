// The event contract, rule by rule: every reason code with at least three lines, every boundary
// of DESIGN's table. `now` is fixed, so the arrival window is deterministic.
#include <gtest/gtest.h>
#include <simdjson.h>

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

TEST(EventValidation, ExactlySixteenKibOfValidEventPasses) {
    // JSON whitespace counts toward the size: pad a valid event to the byte.
    std::string exactly = event_with("", nullptr);
    exactly.insert(1, kMaxEventBytes - exactly.size(), ' ');
    ASSERT_EQ(exactly.size(), kMaxEventBytes);
    EXPECT_EQ(verdict(exactly), "ok");
    std::string over = exactly;
    over.insert(1, " ");
    ASSERT_EQ(over.size(), kMaxEventBytes + 1);
    check_all({{over, "too_large: message is 16385 bytes (at most 16384)"}});
    // The same through the zero-copy path.
    std::string padded = exactly + std::string(simdjson::SIMDJSON_PADDING, ' ');
    EventValidator validator;
    EXPECT_TRUE(
        validator.validate(std::string_view(padded.data(), exactly.size()), padded.size(), kNow));
}

TEST(EventValidation, BadUtf8InKeysAndValues) {
    check_all({{event_with("subject", "\"user-\xff\""), "bad_utf8"},
               {event_with("tenant_id", "\"ac\xc3\""), "bad_utf8"},
               {"{\"idem\xc0\xafpotency_key\":\"k\"}", "bad_utf8"},
               {event_with("properties", "{\"m\xed\xa0\x80odel\":\"x\"}"), "bad_utf8"},
               {event_with("properties", "{\"model\":\"gpt\xe2\x82\"}"), "bad_utf8"},  // cut
               {event_with("idempotency_key", "\"k\xf8\x88\x80\x80\x80\""), "bad_utf8"},
               {event_with("unknown\xc3\x28", "1"), "bad_utf8"},  // in an unknown key
               {"\xff{}", "bad_utf8"},
               {"{\"a\":\"\xed\xbf\xbf\"}", "bad_utf8"}});  // a raw surrogate
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
               {event_with("unknown", "[1,]"), "malformed_json"},
               {event_with("unknown", "{\"a\":1,}"), "malformed_json"},
               {event_with("unknown", "[[[[]]]"), "malformed_json"},
               {event_with("unknown", "\"\\u00\""), "malformed_json"},
               {event_with("unknown", "-Infinity"), "malformed_json"},
               {event_with("unknown", "nan"), "malformed_json"},
               {event_with("properties", "{\"a\":NaN}"), "malformed_json"},
               {event_with("properties", "{\"a\":1,}"), "malformed_json"},
               {event_with("properties", "{\"a\":{\"b\":[}}"), "malformed_json"},
               {event_with("subject", "\"tab\tinside\""), "malformed_json"},  // raw, unescaped
               {event_with("", nullptr) + "x", "malformed_json"},
               {event_with("", nullptr) + "}", "malformed_json"},
               {event_with("", nullptr) + "{}", "malformed_json"},
               {"{\"idempotency_key\":\"k\",}", "malformed_json"},
               {"{,\"idempotency_key\":\"k\"}", "malformed_json"},
               {"{\"idempotency_key\" \"k\"}", "malformed_json"},
               {"{\"idempotency_key\":\"k\"]", "malformed_json"},
               {"{idempotency_key:\"k\"}", "malformed_json"}});
}

TEST(EventValidation, EscapesAndSurrogates) {
    EventValidator validator;
    // A valid pair decodes to one 4-byte character; raw UTF-8 is the same string.
    auto pair = validator.validate(event_with("subject", "\"u-\\ud83d\\ude00\""), kNow);
    ASSERT_TRUE(pair) << pair.error().detail;
    EXPECT_EQ(pair->subject, "u-\xf0\x9f\x98\x80");
    auto escaped = validator.validate(
        event_with("idempotency_key", "\"\\u0072\\u00e9q \\\"1\\\" \\/ \\\\\""), kNow);
    ASSERT_TRUE(escaped) << escaped.error().detail;
    EXPECT_EQ(escaped->idempotency_key, "r\xc3\xa9q \"1\" / \\");
    EXPECT_EQ(verdict(event_with("subject", "\"\xf0\x9f\x98\x80\"")), "ok");
    check_all({{event_with("subject", "\"\\ud800\""), "malformed_json"},         // lone high
               {event_with("subject", "\"\\udc00\""), "malformed_json"},         // lone low
               {event_with("subject", "\"\\ude00\\ud83d\""), "malformed_json"},  // reversed
               {event_with("subject", "\"\\ud800\\u0041\""), "malformed_json"},  // high + BMP
               {event_with("subject", "\"\\ud800x\""), "malformed_json"},
               {event_with("properties", "{\"\\ud800\":1}"), "malformed_json"},  // in a key
               {event_with("unknown", "\"\\udfff\""), "malformed_json"},
               {event_with("subject", "\"\\u12\""), "malformed_json"},
               {event_with("subject", "\"\\a\""), "malformed_json"}});
}

TEST(EventValidation, DuplicateKeys) {
    std::string twice = event_with("", nullptr);
    twice.insert(1, "\"meter\":\"other\",");
    check_all({{twice, "malformed_json: duplicate key \"meter\""},
               {"{\"tenant_id\":\"a\",\"tenant_id\":\"a\"}", "malformed_json"},
               {event_with("properties", "{\"model\":\"a\",\"model\":\"b\"}"), "bad_properties"},
               {event_with("properties", "{\"model\":\"a\",\"mod\\u0065l\":\"a\"}"),
                "bad_properties: duplicate property \"model\""},
               // Keys are compared after unescaping.
               {event_with("tenant\\u005fid", "\"acme\""),
                "malformed_json: duplicate key \"tenant_id\""}});
    // Also unknown fields repeated, in lenient mode.
    std::string unknown_twice = event_with("extra", "1");
    unknown_twice.insert(1, "\"extra\":2,");
    EXPECT_EQ(verdict(unknown_twice, ValidationOptions{.strict = false}), "malformed_json");
}

TEST(EventValidation, NotObject) {
    check_all({{"[1,2,3]", "not_object"},
               {"\"a string\"", "not_object"},
               {"42", "not_object"},
               {" 1e999 ", "not_object"},
               {"null", "not_object"},
               {"true", "not_object"},
               {"[]", "not_object"},
               // A root that is not an object is still checked for syntax first.
               {"[1,2", "malformed_json"},
               {"[1,{\"a\":}]", "malformed_json"},
               {"\"abc\" x", "malformed_json"},
               {"\"abc\" \"d\"", "malformed_json"},
               {"42 43", "malformed_json"},
               {"true x", "malformed_json"},
               {"null null", "malformed_json"},
               {"[1] 2", "malformed_json"},
               {"\"\\ud800\"", "malformed_json"},
               {"-", "malformed_json"},
               {"nul", "malformed_json"}});
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
    // The limit counts bytes after unescaping, not characters: 64 × "é" is 128 bytes.
    std::string e64 = "\"";
    for (int index = 0; index < 64; ++index) {
        e64 += "\\u00e9";
    }
    const std::string e65 = e64 + "\\u00e9\"";
    e64 += "\"";
    EXPECT_EQ(verdict(event_with("idempotency_key", e64.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("idempotency_key", e65.c_str())), "bad_key");
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
    check_all({{event_with("timestamp", "\"2026-11-24T12:05:01Z\""),
                "bad_timestamp: timestamp \"2026-11-24T12:05:01Z\" is more than 5m in the future"},
               {event_with("timestamp", "\"2026-10-01T00:00:00Z\""),
                "bad_timestamp: timestamp \"2026-10-01T00:00:00Z\" is older than the late-arrival "
                "limit of 35d"},
               // The window is judged on the instant, after the offset: 17:35:00+05:30 is
               // 12:05:00Z (ok), 17:35:01+05:30 is one second too far.
               {event_with("timestamp", "\"2026-11-24T17:35:00+05:30\""), "ok"},
               {event_with("timestamp", "\"2026-11-24T17:35:01+05:30\""), "bad_timestamp"},
               {event_with("timestamp", "\"2026-10-20T00:00:00-12:00\""), "ok"},
               {event_with("timestamp", "\"2026-10-19T23:59:59-12:00\""), "bad_timestamp"},
               // Truncation, not rounding, at the future bound: .9999999 stays inside.
               {event_with("timestamp", "\"2026-11-24T12:04:59.9999999Z\""), "ok"},
               {event_with("timestamp", "\"2028-02-29T00:00:00Z\""),
                "bad_timestamp: timestamp "
                "\"2028-02-29T00:00:00Z\" is "
                "more than"},
               {event_with("timestamp", "\"\""), "bad_timestamp"},
               {event_with("timestamp", "null"), "bad_timestamp"},
               {event_with("timestamp", "{\"at\":1}"), "bad_timestamp"}});
    // A leap day in the window is fine: 2028-02-29 with now on 2028-03-01.
    EventValidator leap_validator;
    EXPECT_TRUE(leap_validator.validate(event_with("timestamp", "\"2028-02-29T23:00:00Z\""),
                                        *parse_rfc3339("2028-03-01T00:00:00Z")));
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
    // The 4 KiB limit is on the raw JSON text of the object, as written.
    const std::string exactly = "{\"blob\":\"" + std::string(4096 - 11, 'x') + "\"}";
    ASSERT_EQ(exactly.size(), 4096U);
    const std::string one_more = "{\"blob\":\"" + std::string(4096 - 10, 'x') + "\"}";
    const std::string spaced = "{ \"blob\" : \"" + std::string(4096 - 15, 'x') + "\" }";
    ASSERT_EQ(spaced.size(), 4096U);
    EXPECT_EQ(verdict(event_with("properties", exactly.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("properties", spaced.c_str())), "ok");
    EXPECT_EQ(verdict(event_with("properties", (spaced + "  ").c_str())), "ok")
        << "whitespace after the object is not part of it";
    check_all({{event_with("properties", seventeen.c_str()), "bad_properties"},
               {event_with("properties", "{\"a\":{\"nested\":1}}"), "bad_properties"},
               {event_with("properties", "{\"a\":[1]}"), "bad_properties"},
               {event_with("properties", "{\"a\":null}"), "bad_properties"},
               {event_with("properties", "[1,2]"), "bad_properties"},
               {event_with("properties", "\"model=gpt\""), "bad_properties"},
               {event_with("properties", "{\"\":1}"), "bad_properties"},
               {event_with("properties", big.c_str()), "bad_properties"},
               {event_with("properties", one_more.c_str()),
                "bad_properties: properties is 4097 bytes of JSON"},
               {event_with("properties", "{\"a\\u0001\":1}"), "bad_properties"},
               {event_with("properties", ("{\"" + std::string(65, 'k') + "\":1}").c_str()),
                "bad_properties"},
               {event_with("properties", "42"), "bad_properties"},
               {event_with("properties", "true"), "bad_properties"}});
    EXPECT_EQ(verdict(event_with("properties", ("{\"" + std::string(64, 'k') + "\":1}").c_str())),
              "ok");
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

TEST(EventValidation, FixingOneRuleAtATimeRevealsTheNextInOrder) {
    // Every field rule broken at once; fix them in order and watch the reason move down the list.
    std::vector<std::pair<std::string, std::string>> fields = {
        {"extra", "1"},
        {"idempotency_key", "\"\""},
        {"tenant_id", "\"a b\""},
        {"subject", "7"},
        {"meter", "\"Tokens\""},
        {"quantity", "-1"},
        {"timestamp", "\"2026-02-29T00:00:00Z\""},
        {"properties", "[1]"}};
    const std::vector<std::pair<std::string, std::string>> fixes = {
        {"extra", ""},
        {"idempotency_key", "\"k\""},
        {"tenant_id", "\"acme\""},
        {"subject", "\"u\""},
        {"meter", "\"tokens\""},
        {"quantity", "1"},
        {"timestamp", "\"2026-11-24T11:00:00Z\""},
        {"properties", "{}"}};
    const std::vector<std::string> reasons = {"unknown_field", "bad_key",        "bad_tenant",
                                              "bad_subject",   "bad_meter",      "bad_quantity",
                                              "bad_timestamp", "bad_properties", "ok"};
    auto render = [&fields] {
        std::string out = "{";
        for (const auto& [name, value] : fields) {
            if (value.empty()) {
                continue;
            }
            out += (out.size() > 1 ? ",\"" : "\"") + name + "\":" + value;
        }
        return out + "}";
    };
    // Missing fields come before all the value rules: drop the meter first.
    auto meter = fields[4];
    fields[4].second.clear();
    fields[0].second.clear();
    EXPECT_EQ(verdict(render()), "missing_field");
    fields[4] = meter;
    fields[0].second = "1";
    for (std::size_t step = 0; step < fixes.size(); ++step) {
        EXPECT_EQ(verdict(render()), reasons[step]) << render();
        fields[step].second = fixes[step].second;
    }
    EXPECT_EQ(verdict(render()), "ok") << render();
}

TEST(EventValidation, LenientModeIgnoresUnknownFieldsEntirely) {
    EventValidator validator(ValidationOptions{.strict = false});
    auto result =
        validator.validate(event_with("trace", "{\"id\":[1,2,3],\"sampled\":true}"), kNow);
    ASSERT_TRUE(result) << result.error().detail;
    std::string canonical;
    append_canonical_event(*result, canonical);
    EXPECT_EQ(canonical.find("trace"), std::string::npos);
    // Still: syntax, then the field rules in order.
    EXPECT_EQ(verdict(event_with("trace", "[1,"), ValidationOptions{.strict = false}),
              "malformed_json");
    EXPECT_EQ(verdict("{\"trace\":1}", ValidationOptions{.strict = false}), "missing_field");
    EXPECT_EQ(verdict(event_with("Meter", "\"x\"")), "unknown_field") << "names are exact";
}

TEST(EventValidation, QuantityForms) {
    EventValidator validator;
    for (const auto& [raw, expected] : std::vector<std::pair<std::string, std::string>>{
             {"1500", "1500"},
             {"\"1500\"", "1500"},
             {"1.5e3", "1500"},
             {"\"1.5E+3\"", "1500"},
             {"\"12.5\"", "12.5"},
             {"12.50", "12.5"},
             {"\"\\u0031\"", "1"},
             {"0.000001", "0.000001"},
             {"1e-6", "0.000001"},
             {"1.0000000", "1"},
             {"1000000000000", "1000000000000"},
             {"999999999999.999999", "999999999999.999999"}}) {
        auto result = validator.validate(event_with("quantity", raw.c_str()), kNow);
        ASSERT_TRUE(result) << raw << ": " << result.error().detail;
        EXPECT_EQ(result->quantity.to_string(), expected) << raw;
    }
    check_all({{event_with("quantity", "\"1.5e-7\""),
                "bad_quantity: quantity \"1.5e-7\": more than 6 fraction digits"},
               {event_with("quantity", "1e13"), "bad_quantity: quantity \"1e13\": out of range"},
               {event_with("quantity", "\"Infinity\""), "bad_quantity"},
               {event_with("quantity", "\"0x10\""), "bad_quantity"},
               {event_with("quantity", "\"+1\""), "bad_quantity"},
               {event_with("quantity", "\".5\""), "bad_quantity"},
               {event_with("quantity", "\"1.\""), "bad_quantity"},
               {event_with("quantity", "\"01\""), "bad_quantity"},
               {event_with("quantity", "-0"), "bad_quantity: quantity \"-0\": negative"},
               {event_with("quantity", "{\"value\":1}"), "bad_quantity"}});
}

TEST(EventValidation, SubjectNullEmptyAndAbsent) {
    EventValidator validator;
    auto null_subject = validator.validate(event_with("subject", "null"), kNow);
    ASSERT_TRUE(null_subject);
    EXPECT_FALSE(null_subject->has_subject);
    auto empty_subject = validator.validate(event_with("subject", "\"\""), kNow);
    ASSERT_TRUE(empty_subject);
    EXPECT_TRUE(empty_subject->has_subject);
    EXPECT_EQ(empty_subject->subject, "");
    auto absent = validator.validate(event_with("subject", nullptr), kNow);
    ASSERT_TRUE(absent);
    EXPECT_FALSE(absent->has_subject);
}

TEST(EventValidation, PropertyValuesKeepTheirKind) {
    EventValidator validator;
    auto result = validator.validate(
        event_with("properties", "{\"s\":\"a\\nb\",\"n\":-2.50e1 ,\"t\":true,\"f\":false}"), kNow);
    ASSERT_TRUE(result) << result.error().detail;
    ASSERT_EQ(result->property_count, 4U);
    EXPECT_EQ(result->properties[0].value, "a\nb");
    EXPECT_EQ(result->properties[0].kind, PropertyKind::string);
    EXPECT_EQ(result->properties[1].value, "-2.50e1") << "the raw number token, trimmed";
    EXPECT_EQ(result->properties[1].kind, PropertyKind::number);
    EXPECT_EQ(result->properties[2].value, "true");
    EXPECT_EQ(result->properties[2].kind, PropertyKind::boolean);
    EXPECT_EQ(result->properties[3].value, "false");
}

TEST(EventValidation, TheValidatorIsReusableAfterAnyVerdict) {
    EventValidator validator;
    const std::string good = event_with("", nullptr);
    for (int round = 0; round < 3; ++round) {
        EXPECT_TRUE(validator.validate(good, kNow));
        EXPECT_FALSE(validator.validate("{\"a\":[", kNow));
        EXPECT_FALSE(validator.validate(std::string(kMaxEventBytes + 1, ' '), kNow));
        EXPECT_FALSE(validator.validate("\xff", kNow));
        auto result = validator.validate(event_with("tenant_id", "\"globex\""), kNow);
        ASSERT_TRUE(result);
        EXPECT_EQ(result->tenant_id, "globex");
    }
}

TEST(EventValidation, EveryReasonHasItsCode) {
    const std::vector<std::string_view> expected = {
        "too_large",     "bad_utf8",      "malformed_json", "not_object",    "unknown_field",
        "missing_field", "bad_key",       "bad_tenant",     "bad_subject",   "bad_meter",
        "bad_quantity",  "bad_timestamp", "bad_properties", "limit_exceeded"};
    ASSERT_EQ(expected.size(), kReasonCount);
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        EXPECT_EQ(reason_code(static_cast<Reason>(index)), expected[index]);
    }
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

// Details quote at most 64 bytes of the offending text; the cut never splits a UTF-8 character, so
// a detail stays valid UTF-8 (and JSON, and a Kafka header a consumer can decode).
TEST(EventValidation, DetailsAreCutAtACharacterBoundary) {
    for (const std::string character : {"\u00e9", "\u20ac", "\U0001F600"}) {
        for (std::size_t before = 58; before <= 66; ++before) {
            const std::string text = std::string(before, 'a') + character + std::string(80, 'b');
            const std::vector<std::pair<std::string, std::string>> cases = {
                {"tenant_id", "\"" + text + "\""},
                {"timestamp", "\"" + text + "\""},
                {text, "1"},  // an unknown field
            };
            EventValidator validator;
            for (const auto& [field, value] : cases) {
                const auto result = validator.validate(event_with(field, value.c_str()), kNow);
                ASSERT_FALSE(result);
                const std::string& detail = result.error().detail;
                EXPECT_TRUE(simdjson::validate_utf8(detail.data(), detail.size()))
                    << field.substr(0, 8) << " with " << before << " bytes before: " << detail;
                EXPECT_NE(detail.find(std::string(std::min<std::size_t>(before, 58), 'a')),
                          std::string::npos)
                    << detail;
            }
        }
    }
}

}  // namespace
}  // namespace ul
