#include "schemas/canonical.h"

#include <gtest/gtest.h>

#include "schemas/time.h"

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
}

TEST(Canonical, HexRoundTrip) {
    const PayloadHash hash{0xfedcba9876543210ULL, 0x1ULL};
    EXPECT_EQ(to_hex(hash), "fedcba98765432100000000000000001");
    EXPECT_EQ(*hash_from_hex(to_hex(hash)), hash);
    EXPECT_FALSE(hash_from_hex("xyz"));
}

}  // namespace
}  // namespace ul
