#include "schemas/canonical.h"

#include <gtest/gtest.h>

#include "schemas/time.h"

#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ul {
namespace {

const std::int64_t kNow = *parse_rfc3339("2026-11-24T12:00:00Z");

std::string canonical_of(std::string_view message) {
    EventValidator validator;
    auto event = validator.validate(message, kNow);
    EXPECT_TRUE(event) << (event ? "" : event.error().detail);
    std::string out;
    if (event) {
        append_canonical_event(*event, out);
    }
    return out;
}

PayloadHash hash_of(std::string_view message) {
    EventValidator validator;
    auto event = validator.validate(message, kNow);
    EXPECT_TRUE(event) << message;
    return event ? payload_hash(*event) : PayloadHash{};
}

TEST(Canonical, FixedOrderCanonicalValues) {
    EXPECT_EQ(canonical_of(R"({"timestamp":"2026-11-22T15:45:00.5+05:30","quantity":1.50,)"
                           R"("meter":"tokens","tenant_id":"acme","idempotency_key":"k\u00e9",)"
                           R"("properties":{"z":"1","a":2.50,"m":true,"q":"say \"hi\""}})"),
              R"({"idempotency_key":"ké","tenant_id":"acme","meter":"tokens","quantity":"1.5",)"
              R"("timestamp":"2026-11-22T10:15:00.500000Z","properties":{"a":2.5,"m":true,)"
              R"("q":"say \"hi\"","z":"1"}})");
}

TEST(Canonical, SameMeaningSameHash) {
    const auto base = hash_of(
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z"})");
    EXPECT_EQ(
        base,
        hash_of(
            R"({"tenant_id":"acme","idempotency_key":"k","meter":"tokens","quantity":"1500","timestamp":"2026-11-22T10:15:00+00:00"})"));
    EXPECT_EQ(
        base,
        hash_of(
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1.5e3,"timestamp":"2026-11-22T11:15:00.000+01:00"})"));
    EXPECT_EQ(
        base,
        hash_of(
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500.000,"timestamp":"2026-11-22T10:15:00Z","subject":null,"properties":null})"));
}

TEST(Canonical, SameMeaningSameHashTable) {
    // Each row: two spellings of one event. The base fields fill in what a row leaves out.
    auto event = [](std::string_view fields) {
        return R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens",)" +
               std::string(fields) + "}";
    };
    const std::vector<std::pair<std::string, std::string>> rows = {
        {R"("quantity":"12.5","timestamp":"2026-11-22T10:15:00Z")",
         R"("quantity":12.5,"timestamp":"2026-11-22T10:15:00Z")"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z")",
         R"("quantity":"1.0000000","timestamp":"2026-11-22T10:15:00Z")"},
        {R"("quantity":0,"timestamp":"2026-11-22T10:15:00Z")",
         R"("quantity":0e5,"timestamp":"2026-11-22T10:15:00Z")"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00.5Z")",
         R"("quantity":1,"timestamp":"2026-11-22t10:15:00.500000999z")"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z")",
         R"("quantity":1,"timestamp":"2026-11-21T22:15:00-12:00")"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","subject":"u\u00e9")",
         R"("subject":"u)"
         "\xc3\xa9"
         R"(","timestamp":"2026-11-22T10:15:00Z","quantity":1)"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"b":"2","a":1})",
         R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":1.0,"b":"2"})"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{})",
         R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z")"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"n":-0})",
         R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"n":0})"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"n":2.5e1})",
         R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"n":25.000})"},
        {R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"s":"a/b"})",
         R"("quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"s":"a\/b"})"},
    };
    for (const auto& [left, right] : rows) {
        EXPECT_EQ(hash_of(event(left)), hash_of(event(right))) << left << " vs " << right;
        EXPECT_EQ(canonical_of(event(left)), canonical_of(event(right)));
    }
}

TEST(Canonical, AnyChangeOfMeaningChangesTheHash) {
    const std::string base =
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z"})";
    const auto hash = hash_of(base);
    for (
        const char* changed : {
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1501,"timestamp":"2026-11-22T10:15:00Z"})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"token","quantity":1500,"timestamp":"2026-11-22T10:15:00Z"})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:01Z"})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","subject":"u"})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":"1"}})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":1}})",
            R"({"idempotency_key":"k2","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z"})",
            R"({"idempotency_key":"k","tenant_id":"Acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z"})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500.000001,"timestamp":"2026-11-22T10:15:00Z"})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00.000001Z"})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","subject":""})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":true}})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":"true"}})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","properties":{"b":"1"}})",
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":"1","b":"1"}})",
        }) {
        EXPECT_NE(hash_of(changed), hash) << changed;
    }
}

TEST(Canonical, LedgerEntryRoundTripsItsHeader) {
    EventValidator validator;
    auto event = validator.validate(
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z"})",
        kNow);
    ASSERT_TRUE(event);
    LedgerEntryHeader header{3, 17, 1234, PayloadHash{0x0123456789abcdefULL, 42}};
    std::string encoded;
    append_ledger_entry(header, *event, encoded);
    EXPECT_EQ(
        encoded.substr(0, 97),
        R"({"partition":3,"sequence":17,"source_offset":1234,"prev_hash":"0123456789abcdef000000000000002a",)");
    auto decoded = decode_ledger_entry_header(encoded);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(decoded->header.partition, 3U);
    EXPECT_EQ(decoded->header.sequence, 17U);
    EXPECT_EQ(decoded->header.source_offset, 1234);
    EXPECT_EQ(decoded->header.prev_hash, header.prev_hash);
    std::string canonical;
    append_canonical_event(*event, canonical);
    EXPECT_EQ(decoded->event_json, canonical);
    EXPECT_NE(entry_hash(encoded), entry_hash(encoded + " "));
    EXPECT_FALSE(decode_ledger_entry_header("{\"partition\":x}"));
    EXPECT_FALSE(decode_ledger_entry_header(encoded.substr(0, 50)));
    EXPECT_FALSE(decode_ledger_entry_header(encoded.substr(0, encoded.size() - 1)));
    std::string leading_zero = encoded;
    leading_zero.replace(leading_zero.find(":3,"), 3, ":03,");
    EXPECT_FALSE(decode_ledger_entry_header(leading_zero));
    std::string upper_hex = encoded;
    upper_hex.replace(upper_hex.find("abcdef"), 6, "ABCDEF");
    EXPECT_FALSE(decode_ledger_entry_header(upper_hex));
    std::string not_an_object = encoded;
    not_an_object.replace(not_an_object.find("\"event\":{") + 8, 1, "[");
    EXPECT_FALSE(decode_ledger_entry_header(not_an_object));
}

TEST(Canonical, LedgerEntryLimitsAndChain) {
    EventValidator validator;
    auto event = validator.validate(
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z"})",
        kNow);
    ASSERT_TRUE(event);
    const LedgerEntryHeader extremes{
        std::numeric_limits<std::uint32_t>::max(), std::numeric_limits<std::uint64_t>::max(),
        std::numeric_limits<std::int64_t>::min(), PayloadHash{~0ULL, ~0ULL}};
    std::string encoded;
    append_ledger_entry(extremes, *event, encoded);
    auto decoded = decode_ledger_entry_header(encoded);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(decoded->header.partition, extremes.partition);
    EXPECT_EQ(decoded->header.sequence, extremes.sequence);
    EXPECT_EQ(decoded->header.source_offset, extremes.source_offset);
    EXPECT_EQ(decoded->header.prev_hash, extremes.prev_hash);
    // The chain: each entry carries the hash of the encoded bytes before it.
    std::string first;
    append_ledger_entry(LedgerEntryHeader{0, 0, 10, PayloadHash{}}, *event, first);
    std::string second;
    append_ledger_entry(LedgerEntryHeader{0, 1, 11, entry_hash(first)}, *event, second);
    EXPECT_EQ(decode_ledger_entry_header(second)->header.prev_hash, entry_hash(first));
    EXPECT_EQ(entry_hash(first), hash_bytes(first));
    EXPECT_NE(entry_hash(first), entry_hash(second));
    // The canonical-event variant writes the same bytes.
    std::string canonical;
    append_canonical_event(*event, canonical);
    std::string from_canonical;
    append_ledger_entry_canonical(LedgerEntryHeader{0, 1, 11, entry_hash(first)}, canonical,
                                  from_canonical);
    EXPECT_EQ(from_canonical, second);
}

TEST(Canonical, EveryFieldChangeIsSeenAgainstEveryOther) {
    // Pairwise: the hashes of all these events differ from each other.
    const std::vector<std::string> events = {
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z"})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":1}})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":"1"}})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":1.5}})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z","subject":"a"})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z","subject":"b"})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"a","quantity":1,"timestamp":"2026-11-22T10:15:00Z"})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"b","quantity":1,"timestamp":"2026-11-22T10:15:00Z"})",
        R"({"idempotency_key":"a","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z"})",
        R"({"idempotency_key":"k","tenant_id":"a","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:00Z"})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":2,"timestamp":"2026-11-22T10:15:00Z"})",
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":1,"timestamp":"2026-11-22T10:15:01Z"})",
    };
    std::vector<PayloadHash> hashes;
    for (const auto& message : events) {
        hashes.push_back(hash_of(message));
    }
    for (std::size_t left = 0; left < hashes.size(); ++left) {
        for (std::size_t right = left + 1; right < hashes.size(); ++right) {
            EXPECT_NE(hashes[left], hashes[right]) << events[left] << " vs " << events[right];
        }
    }
}

TEST(Canonical, StringsAreReescapedMinimally) {
    // Only '"', '\' and C0 controls are escaped (\n \r \t \b \f by name, others \u00XX);
    // "\/", DEL, C1 controls, U+2028 and every other character are written as raw UTF-8.
    EXPECT_EQ(
        canonical_of(
            R"({"idempotency_key":"q\"b\\s\/\u00e9","tenant_id":"acme","meter":"m","quantity":1,)"
            R"("timestamp":"2026-11-22T10:15:00Z","properties":)"
            R"({"v":"t\tn\nr\rb\bf\f\u0001\u001f\u007f\u0085\u2028\u0000"}})"),
        "{\"idempotency_key\":\"q\\\"b\\\\s/\xc3\xa9\",\"tenant_id\":\"acme\",\"meter\":\"m\","
        "\"quantity\":\"1\",\"timestamp\":\"2026-11-22T10:15:00Z\",\"properties\":"
        "{\"v\":\"t\\tn\\nr\\rb\\bf\\f\\u0001\\u001f\x7f\xc2\x85\xe2\x80\xa8\\u0000\"}}");
}

TEST(Canonical, PropertyNumbersInCanonicalFormWhenExact) {
    EXPECT_EQ(
        canonical_of(
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"m","quantity":1,"timestamp":"2026-11-22T10:15:00Z","properties":{"a":-2.50e1,"b":1e400,"c":0.1234567,"d":-0.0,"e":1E2,"f":-0.000001}})"),
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"m","quantity":"1","timestamp":"2026-11-22T10:15:00Z","properties":{"a":-25,"b":1e400,"c":0.1234567,"d":0,"e":100,"f":-0.000001}})");
}

TEST(Canonical, PropertyKeysSortByUnsignedBytes) {
    // "é" is 0xC3 0xA9: after every ASCII key; a prefix sorts before its extensions.
    EXPECT_EQ(
        canonical_of(
            R"({"idempotency_key":"k","tenant_id":"acme","meter":"m","quantity":1,)"
            R"("timestamp":"2026-11-22T10:15:00Z","properties":{"\u00e9":1,"ab":2,"Z":3,"a":4,"z":5}})"),
        R"({"idempotency_key":"k","tenant_id":"acme","meter":"m","quantity":"1",)"
        R"("timestamp":"2026-11-22T10:15:00Z","properties":{"Z":3,"a":4,"ab":2,"z":5,")"
        "\xc3\xa9"
        R"(":1}})");
}

TEST(Canonical, PinnedBytesAndHash) {
    // The canonical form and its hash are stored forever: this pins both. If this test fails,
    // the ledger format changed: that needs a format version, not a new expected value.
    const std::string message =
        R"({"idempotency_key":"req-7f3a","tenant_id":"acme","subject":"user-42","meter":"tokens","quantity":1500,"timestamp":"2026-11-22T10:15:00Z","properties":{"model":"gpt-x","region":"eu"}})";
    EXPECT_EQ(
        canonical_of(message),
        R"({"idempotency_key":"req-7f3a","tenant_id":"acme","subject":"user-42","meter":"tokens","quantity":"1500","timestamp":"2026-11-22T10:15:00Z","properties":{"model":"gpt-x","region":"eu"}})");
    EXPECT_EQ(to_hex(hash_of(message)), "203b22f999afc0087d0f1b8eb9368ab9");
    EXPECT_EQ(hash_of(message), hash_bytes(canonical_of(message)));
}

TEST(Canonical, HexRoundTrip) {
    const PayloadHash hash{0xfedcba9876543210ULL, 0x1ULL};
    EXPECT_EQ(to_hex(hash), "fedcba98765432100000000000000001");
    EXPECT_EQ(*hash_from_hex(to_hex(hash)), hash);
    EXPECT_FALSE(hash_from_hex("xyz"));
}

}  // namespace
}  // namespace ul

namespace ul {
namespace {

// decode_canonical_event must give exactly what the validator gives for the canonical bytes.
void expect_decodes_like_the_validator(const std::string& canonical) {
    EventValidator validator;
    auto validated = validator.validate(canonical, kNow);
    ASSERT_TRUE(validated) << canonical << ": " << validated.error().detail;
    UsageEvent decoded;
    std::string scratch;
    auto read = decode_canonical_event(canonical, decoded, scratch);
    ASSERT_TRUE(read) << canonical << ": " << read.error();
    EXPECT_EQ(decoded.idempotency_key, validated->idempotency_key) << canonical;
    EXPECT_EQ(decoded.tenant_id, validated->tenant_id) << canonical;
    EXPECT_EQ(decoded.has_subject, validated->has_subject) << canonical;
    EXPECT_EQ(decoded.subject, validated->subject) << canonical;
    EXPECT_EQ(decoded.meter, validated->meter) << canonical;
    EXPECT_EQ(decoded.quantity.micros(), validated->quantity.micros()) << canonical;
    EXPECT_EQ(decoded.timestamp_us, validated->timestamp_us) << canonical;
    ASSERT_EQ(decoded.property_count, validated->property_count) << canonical;
    for (std::size_t index = 0; index < decoded.property_count; ++index) {
        EXPECT_EQ(decoded.properties[index].key, validated->properties[index].key) << canonical;
        EXPECT_EQ(decoded.properties[index].value, validated->properties[index].value) << canonical;
        EXPECT_EQ(decoded.properties[index].kind, validated->properties[index].kind) << canonical;
    }
    // And it writes back the same bytes.
    std::string again;
    append_canonical_event(decoded, again);
    EXPECT_EQ(again, canonical);
}

TEST(CanonicalDecode, GivesWhatTheValidatorGivesForEveryShapeOfEvent) {
    for (
        const char* message : {
            R"({"idempotency_key":"k","tenant_id":"t","meter":"m","quantity":1,"timestamp":"2026-11-24T11:00:00Z"})",
            R"({"idempotency_key":"k \"q\" \\ é / \u2028","tenant_id":"a.b:c-d_e","subject":"","meter":"m.x-y_z","quantity":"0.000001","timestamp":"2026-11-24T11:00:00.250000+02:00","properties":{"c":"\n\t\b\f\r \u0001 \u001f"}})",
            R"({"idempotency_key":"k","tenant_id":"t","subject":"u \"1\"","meter":"m","quantity":1.5e3,"timestamp":"2026-11-24T11:00:00Z","properties":{"z":"last","a":true,"n":-2.50e1,"big":1e400,"f":false,"frac":0.1234567,"esc \"k\"":"v\\\n","zero":-0,"e":""}})",
            R"({"idempotency_key":"k","tenant_id":"t","meter":"m","quantity":"1000000000000","timestamp":"2026-11-24T11:00:00Z","properties":{}})",
        }) {
        expect_decodes_like_the_validator(canonical_of(message));
    }
}

TEST(CanonicalDecode, AnythingButTheCanonicalFormIsAnErrorNotAWrongEvent) {
    UsageEvent event;
    std::string scratch;
    const std::string good =
        canonical_of(R"({"idempotency_key":"k","tenant_id":"t","meter":"m","quantity":1,)"
                     R"("timestamp":"2026-11-24T11:00:00Z","properties":{"a":"b"}})");
    ASSERT_TRUE(decode_canonical_event(good, event, scratch));
    for (
        const std::string& bad : {
            std::string(
                R"({"tenant_id":"t","idempotency_key":"k","meter":"m","quantity":"1","timestamp":"2026-11-24T11:00:00Z"})"),
            std::string(
                R"({"idempotency_key":"k","tenant_id":"t","meter":"m","quantity":1,"timestamp":"2026-11-24T11:00:00Z"})"),
            std::string(
                R"({"idempotency_key":"k","tenant_id":"t","meter":"m","quantity":"1","timestamp":"2026-11-24T11:00:00Z"} )"),
            std::string(
                R"({"idempotency_key":"k\u0041","tenant_id":"t","meter":"m","quantity":"1","timestamp":"2026-11-24T11:00:00Z"})"),
            std::string(
                R"({"idempotency_key":"k","tenant_id":"t","meter":"m","quantity":"1","timestamp":"yesterday"})"),
            good.substr(0, good.size() - 1),
            std::string(
                R"({"idempotency_key":"k","tenant_id":"t","meter":"m","quantity":"1","timestamp":"2026-11-24T11:00:00Z","properties":{"a":}})"),
        }) {
        EXPECT_FALSE(decode_canonical_event(bad, event, scratch)) << bad;
    }
}

TEST(CanonicalDecode, RandomEventsDecodeLikeTheValidator) {
    const unsigned seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    // Keys and subjects are printable; property values may hold controls too.
    const std::string printable = "ab\"\\/\xc3\xa9 {}:,";
    const std::string any = printable + "\n\x01\x1f\t";
    auto text_of = [&](const std::string& alphabet, std::size_t max) {
        std::string out;
        for (std::size_t length = 1 + random() % max; out.size() < length;) {
            const char c = alphabet[random() % alphabet.size()];
            out += c == '\xc3'   ? std::string("\xc3\xa9")
                   : c == '\xa9' ? std::string("e")
                                 : std::string(1, c);
        }
        return out;
    };
    auto text = [&](std::size_t max) { return text_of(printable, max); };
    auto quoted = [](const std::string& value) {
        std::string out;
        append_json_string(out, value);
        return out;
    };
    for (int round = 0; round < 500; ++round) {
        std::string message = R"({"idempotency_key":)" + quoted(text(20)) + R"(,"tenant_id":"t)" +
                              std::to_string(random() % 100) + "\"";
        if (random() % 2 == 0) {
            message += R"(,"subject":)" + quoted(random() % 4 == 0 ? "" : text(10));
        }
        message += R"(,"meter":"m","quantity":")" + std::to_string(random() % 100000) + "." +
                   std::to_string(random() % 1000) + R"(","timestamp":"2026-11-24T1)" +
                   std::to_string(random() % 2) + ":" + std::to_string(10 + random() % 50) +
                   ":00Z\"";
        if (random() % 3 != 0) {
            message += R"(,"properties":{)";
            const int count = static_cast<int>(random() % 5);
            for (int index = 0; index < count; ++index) {
                message +=
                    (index > 0 ? "," : "") + quoted("k" + std::to_string(index) + text(5)) + ":";
                switch (random() % 3) {
                    case 0:
                        message += quoted(text_of(any, 8));
                        break;
                    case 1:
                        message += std::to_string(static_cast<int>(random() % 2000) - 1000) + ".5";
                        break;
                    default:
                        message += random() % 2 == 0 ? "true" : "false";
                        break;
                }
            }
            message += "}";
        }
        message += "}";
        expect_decodes_like_the_validator(canonical_of(message));
        if (HasFatalFailure()) {
            return;
        }
    }
}

}  // namespace
}  // namespace ul
