// The signed control plane (schemas/account.h): HMAC-SHA256 signatures of account records and
// tombstones, and the staleness rule that refuses replays.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "schemas/account.h"

namespace {

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";

TEST(AccountSignature, HmacSha256MatchesRfc4231) {
    // RFC 4231 test case 2.
    EXPECT_EQ(ul::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AccountSignature, ASignedAccountVerifies) {
    const std::string value = R"({"tenant_id":"acme","plan":"pro"})";
    const std::string signature = ul::account_signature(kSecret, "acme", value);
    EXPECT_EQ(signature.size(), 64U);
    EXPECT_EQ(ul::check_account_signature(kSecret, "acme", value, signature),
              ul::SignatureCheck::ok);
}

TEST(AccountSignature, AnythingChangedFails) {
    const std::string value = R"({"tenant_id":"acme","plan":"pro"})";
    const std::string signature = ul::account_signature(kSecret, "acme", value);
    // Another secret, another key (the value moved to another tenant), another value.
    EXPECT_EQ(ul::check_account_signature("another secret", "acme", value, signature),
              ul::SignatureCheck::bad);
    EXPECT_EQ(ul::check_account_signature(kSecret, "globex", value, signature),
              ul::SignatureCheck::bad);
    EXPECT_EQ(ul::check_account_signature(kSecret, "acme", R"({"tenant_id":"acme","plan":"free"})",
                                          signature),
              ul::SignatureCheck::bad);
    EXPECT_EQ(ul::check_account_signature(kSecret, "acme", value, signature.substr(1)),
              ul::SignatureCheck::bad);
    EXPECT_EQ(ul::check_account_signature(kSecret, "acme", value, std::nullopt),
              ul::SignatureCheck::missing);
    EXPECT_EQ(ul::check_account_signature(kSecret, "acme", value, std::string_view()),
              ul::SignatureCheck::bad);
}

TEST(AccountSignature, ATombstoneSignsItsKeyAndTime) {
    const std::string deleted_at = "2026-12-02T10:00:00Z";
    const std::string signature = ul::tombstone_signature(kSecret, "acme", deleted_at);
    EXPECT_EQ(ul::check_tombstone_signature(kSecret, "acme", deleted_at, signature),
              ul::SignatureCheck::ok);
    EXPECT_EQ(ul::check_tombstone_signature(
                  kSecret, "acme", std::string_view("2026-12-03T10:00:00Z"), signature),
              ul::SignatureCheck::bad);
    EXPECT_EQ(ul::check_tombstone_signature(kSecret, "globex", deleted_at, signature),
              ul::SignatureCheck::bad);
    EXPECT_EQ(ul::check_tombstone_signature(kSecret, "acme", std::nullopt, signature),
              ul::SignatureCheck::bad);
    EXPECT_EQ(ul::check_tombstone_signature(kSecret, "acme", deleted_at, std::nullopt),
              ul::SignatureCheck::missing);
    // An account's signature is not a tombstone's: the kinds are part of what is signed.
    EXPECT_NE(ul::account_signature(kSecret, "acme", deleted_at), signature);
}

TEST(AccountSignature, OlderOrEqualRecordsAreStale) {
    EXPECT_FALSE(ul::account_record_is_stale(100, std::nullopt));
    EXPECT_FALSE(ul::account_record_is_stale(101, 100));
    EXPECT_TRUE(ul::account_record_is_stale(100, 100));
    EXPECT_TRUE(ul::account_record_is_stale(99, 100));
}

}  // namespace
