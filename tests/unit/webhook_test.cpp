// Webhook delivery primitives (projections/alerts/webhook.h): signatures, the retry schedule,
// verdicts and URLs. Pure: no network (post_webhook is in tests/integration/).
#include "projections/alerts/webhook.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr std::string_view kSecret = "whsec_test_secret";
constexpr std::string_view kBody = R"({"alert":"quota","tenant":"acme"})";
constexpr std::int64_t kTime_s = 1'700'000'000;

// ---- signatures ----

TEST(WebhookSignature, KnownAnswer) {
    // Computed once outside this code:
    //   printf '%s' '1700000000.{"alert":"quota","tenant":"acme"}' |
    //       openssl dgst -sha256 -hmac 'whsec_test_secret'
    EXPECT_EQ(ul::webhook_signature(kSecret, kTime_s, kBody),
              "t=1700000000,v1=7d8a4d370e170ac1f972b5e7a209904d15fdea3378486719a82884e612464a76");
}

TEST(WebhookSignature, VerifiesTheSignedBody) {
    const std::string header = ul::webhook_signature(kSecret, kTime_s, kBody);
    const auto verified = ul::verify_webhook_signature(kSecret, header, kBody, kTime_s + 10);
    ASSERT_TRUE(verified.ok()) << verified.error();
    EXPECT_TRUE(*verified);
}

TEST(WebhookSignature, RefusesABodyChangedByOneByte) {
    const std::string header = ul::webhook_signature(kSecret, kTime_s, kBody);
    std::string body(kBody);
    for (std::size_t index = 0; index < body.size(); ++index) {
        std::string changed = body;
        changed[index] = static_cast<char>(changed[index] ^ 0x01);
        const auto verified = ul::verify_webhook_signature(kSecret, header, changed, kTime_s);
        ASSERT_FALSE(verified.ok()) << "byte " << index;
        EXPECT_NE(verified.error().find("no v1= signature matches"), std::string::npos);
    }
    EXPECT_FALSE(ul::verify_webhook_signature(kSecret, header, body + " ", kTime_s).ok());
    EXPECT_FALSE(ul::verify_webhook_signature(kSecret, header, "", kTime_s).ok());
}

TEST(WebhookSignature, RefusesAnotherSecret) {
    const std::string header = ul::webhook_signature(kSecret, kTime_s, kBody);
    EXPECT_FALSE(ul::verify_webhook_signature("whsec_other", header, kBody, kTime_s).ok());
    EXPECT_FALSE(ul::verify_webhook_signature("", header, kBody, kTime_s).ok());
}

TEST(WebhookSignature, RefusesATimestampOutsideTheTolerance) {
    const std::string header = ul::webhook_signature(kSecret, kTime_s, kBody);
    EXPECT_TRUE(ul::verify_webhook_signature(kSecret, header, kBody, kTime_s + 300).ok());
    EXPECT_TRUE(ul::verify_webhook_signature(kSecret, header, kBody, kTime_s - 300).ok());
    const auto old = ul::verify_webhook_signature(kSecret, header, kBody, kTime_s + 301);
    ASSERT_FALSE(old.ok());
    EXPECT_NE(old.error().find("more than 300 s from now"), std::string::npos) << old.error();
    EXPECT_FALSE(ul::verify_webhook_signature(kSecret, header, kBody, kTime_s - 301).ok());
    EXPECT_FALSE(ul::verify_webhook_signature(kSecret, header, kBody, kTime_s + 61, 60).ok());
    EXPECT_TRUE(ul::verify_webhook_signature(kSecret, header, kBody, kTime_s, 0).ok());
    // Extreme clocks do not overflow.
    EXPECT_FALSE(ul::verify_webhook_signature(kSecret, header, kBody,
                                              std::numeric_limits<std::int64_t>::min())
                     .ok());
    EXPECT_FALSE(ul::verify_webhook_signature(kSecret, header, kBody,
                                              std::numeric_limits<std::int64_t>::max())
                     .ok());
}

TEST(WebhookSignature, AcceptsAnyOrderSeveralV1AndOtherSchemes) {
    const std::string header = ul::webhook_signature(kSecret, kTime_s, kBody);
    const std::string signature = header.substr(header.find("v1=") + 3);
    const std::string stale = ul::webhook_signature("whsec_old", kTime_s, kBody);
    const std::string stale_signature = stale.substr(stale.find("v1=") + 3);
    for (const std::string& reordered :
         {"v1=" + signature + ",t=1700000000",
          "t=1700000000,v1=" + stale_signature + ",v1=" + signature,
          "v0=abc, t=1700000000 , v1=" + signature,
          "v1=" + stale_signature + ",v1=" + signature + ",t=1700000000,scheme=whatever"}) {
        const auto verified = ul::verify_webhook_signature(kSecret, reordered, kBody, kTime_s);
        EXPECT_TRUE(verified.ok()) << reordered << ": " << verified.error();
    }
    EXPECT_FALSE(
        ul::verify_webhook_signature(kSecret, "t=1700000000,v1=" + stale_signature, kBody, kTime_s)
            .ok());
}

TEST(WebhookSignature, RefusesAMalformedHeader) {
    const std::string header = ul::webhook_signature(kSecret, kTime_s, kBody);
    const std::string signature = header.substr(header.find("v1=") + 3);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "malformed"},
        {"garbage", "malformed"},
        {"v1=" + signature, "no t="},
        {"t=1700000000", "no v1="},
        {"t=1700000000,v0=" + signature, "no v1="},
        {"t=abc,v1=" + signature, "not a number"},
        {"t=-1700000000,v1=" + signature, "not a number"},
        {"t=,v1=" + signature, "not a number"},
        {"t=1700000000,t=1700000000,v1=" + signature, "more than one t="},
        {"t=1700000000,,v1=" + signature, "malformed"},
        {"=x,t=1700000000,v1=" + signature, "malformed"},
        {"t=1700000000,v1=" + signature.substr(1), "no v1= signature matches"},
        {"t=1700000000,v1=" + std::string(9000, 'a'), "longer than 8192"},
    };
    for (const auto& [text, why] : cases) {
        const auto verified = ul::verify_webhook_signature(kSecret, text, kBody, kTime_s);
        ASSERT_FALSE(verified.ok()) << text;
        EXPECT_NE(verified.error().find(why), std::string::npos)
            << text << " → " << verified.error();
    }
}

// ---- the retry schedule ----

const ul::RetrySchedule kSchedule{10s, 2, 1h, 24h};

// min(first * 2^(attempt-1), max_delay) for kSchedule.
milliseconds base_of(std::uint32_t attempt) {
    const std::int64_t doubling = std::int64_t{1} << std::min<std::uint32_t>(attempt - 1, 20);
    return std::min<milliseconds>(kSchedule.first * doubling, kSchedule.max_delay);
}

TEST(RetrySchedule, DelaysGrowUntilTheCap) {
    // The jitter span is base/2 + 1 values: random 0 gives base/2, random base/2 gives base.
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 1, 0ms, 0), 5s);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 1, 0ms, 5000), 10s);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 2, 0ms, 10000), 20s);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 3, 0ms, 20000), 40s);
    milliseconds previous{0};
    for (std::uint32_t attempt = 1; attempt <= 12; ++attempt) {
        const auto delay = ul::next_retry_delay(kSchedule, attempt, 0ms, 0);
        ASSERT_TRUE(delay.has_value());
        EXPECT_EQ(*delay, base_of(attempt) / 2) << attempt;
        EXPECT_GE(*delay, previous);
        previous = *delay;
    }
    // Capped at max_delay however many attempts, without overflow.
    for (const std::uint32_t attempt : {10U, 13U, 64U, 65U, 1000U, 4'000'000'000U}) {
        EXPECT_EQ(ul::next_retry_delay(kSchedule, attempt, 0ms, 0), 30min) << attempt;
        EXPECT_EQ(ul::next_retry_delay(kSchedule, attempt, 0ms, 1'800'000), 1h) << attempt;
    }
    // Factor 1: constant.
    const ul::RetrySchedule constant{1s, 1, 1h, 24h};
    EXPECT_EQ(ul::next_retry_delay(constant, 4'000'000'000U, 0ms, 500), 1s);
}

TEST(RetrySchedule, JitterStaysWithinHalfBaseAndBase) {
    std::random_device device;
    const auto seed = device();
    std::mt19937_64 random(seed);
    SCOPED_TRACE("seed " + std::to_string(seed));
    for (std::uint32_t attempt = 1; attempt <= 15; ++attempt) {
        const milliseconds base = base_of(attempt);
        bool saw_low_half = false;
        bool saw_high_half = false;
        for (int draw = 0; draw < 200; ++draw) {
            const auto delay = ul::next_retry_delay(kSchedule, attempt, 0ms, random());
            ASSERT_TRUE(delay.has_value());
            EXPECT_GE(*delay, base / 2);
            EXPECT_LE(*delay, base);
            saw_low_half = saw_low_half || *delay < base * 3 / 4;
            saw_high_half = saw_high_half || *delay >= base * 3 / 4;
        }
        EXPECT_TRUE(saw_low_half && saw_high_half) << "attempt " << attempt;
    }
    // A base of 1 ms: the delay is 0 or 1 ms.
    const ul::RetrySchedule tiny{1ms, 1, 1ms, 1h};
    EXPECT_EQ(ul::next_retry_delay(tiny, 1, 0ms, 0), 0ms);
    EXPECT_EQ(ul::next_retry_delay(tiny, 1, 0ms, 1), 1ms);
    EXPECT_EQ(ul::next_retry_delay(tiny, 5, 0ms, 3), 1ms);
}

TEST(RetrySchedule, GivesUpAfterGiveUpAfter) {
    // The top of the jitter: delay 10 s after attempt 1.
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 1, 24h - 10s, 5000), 10s);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 1, 24h - 10s + 1ms, 5000), std::nullopt);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 30, 23h, 0), 30min);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 30, 24h - 29min, 0), std::nullopt);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 1, 24h, 0), std::nullopt);
    EXPECT_EQ(ul::next_retry_delay(kSchedule, 1, 48h, 0), std::nullopt);
    // A whole run of attempts with the top delay: gives up within give_up_after.
    milliseconds elapsed{0};
    std::uint32_t attempts = 0;
    for (std::uint32_t attempt = 1;; ++attempt) {
        const auto delay = ul::next_retry_delay(kSchedule, attempt, elapsed,
                                                std::numeric_limits<std::uint64_t>::max());
        if (!delay) {
            break;
        }
        elapsed += *delay;
        attempts = attempt;
        ASSERT_LT(attempt, 100U);
    }
    EXPECT_LE(elapsed, 24h);
    EXPECT_GT(elapsed, 23h);
    EXPECT_GT(attempts, 20U);
}

TEST(RetrySchedule, ParsesTheFlagSyntax) {
    const auto parsed = ul::parse_retry_schedule("10s,2,1h,24h");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(*parsed, ul::RetrySchedule{});
    const auto spaced = ul::parse_retry_schedule(" 500ms , 3 , 90s , 2d ");
    ASSERT_TRUE(spaced.ok()) << spaced.error();
    EXPECT_EQ(*spaced, (ul::RetrySchedule{500ms, 3, 90s, 48h}));
    const auto minutes = ul::parse_retry_schedule("1m,1,1m,30d");
    ASSERT_TRUE(minutes.ok()) << minutes.error();
    EXPECT_EQ(*minutes, (ul::RetrySchedule{1min, 1, 1min, 720h}));
}

TEST(RetrySchedule, BadTextNamesThePart) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "has 1 part(s); want 4"},
        {"10s,2,1h", "has 3 part(s); want 4"},
        {"10s,2,1h,24h,5", "has 5 part(s); want 4"},
        {"10,2,1h,24h", "part 1 (first) \"10\": no unit"},
        {"10x,2,1h,24h", "part 1 (first) \"10x\": unknown unit \"x\""},
        {"s,2,1h,24h", "part 1 (first) \"s\": not a duration"},
        {"0s,2,1h,24h", "part 1 (first) \"0s\": must be positive"},
        {"-1s,2,1h,24h", "part 1 (first)"},
        {"10s,0,1h,24h", "part 2 (factor) \"0\": not an integer 1..100"},
        {"10s,2.5,1h,24h", "part 2 (factor) \"2.5\""},
        {"10s,101,1h,24h", "part 2 (factor)"},
        {"10s,2,,24h", "part 3 (max_delay) \"\""},
        {"10s,2,5s,24h", "part 3 (max_delay) \"5s\": shorter than part 1 (first)"},
        {"10s,2,1h,31d", "part 4 (give_up_after) \"31d\": longer than 30d"},
        {"10s,2,1h,99999999999h", "part 4 (give_up_after) \"99999999999h\": number too large"},
        {"10s,2,1h,1 h", "part 4 (give_up_after)"},
    };
    for (const auto& [text, why] : cases) {
        const auto parsed = ul::parse_retry_schedule(text);
        ASSERT_FALSE(parsed.ok()) << text;
        EXPECT_NE(parsed.error().find(why), std::string::npos) << text << " → " << parsed.error();
    }
}

// ---- verdicts ----

TEST(DeliveryVerdict, StatusesAndNetworkErrors) {
    const auto verdict = [](int status) {
        return ul::classify_delivery(ul::WebhookResponse{status, "", false});
    };
    EXPECT_EQ(verdict(200), ul::DeliveryVerdict::delivered);
    EXPECT_EQ(verdict(204), ul::DeliveryVerdict::delivered);
    EXPECT_EQ(verdict(202), ul::DeliveryVerdict::delivered);
    for (const int status : {408, 425, 429, 500, 502, 503, 504}) {
        EXPECT_EQ(verdict(status), ul::DeliveryVerdict::retry) << status;
    }
    for (const int status : {301, 302, 400, 401, 403, 404, 405, 410, 413, 422}) {
        EXPECT_EQ(verdict(status), ul::DeliveryVerdict::failed) << status;
    }
    EXPECT_EQ(ul::classify_delivery(ul::WebhookResponse{0, "timed out after 300 ms", true}),
              ul::DeliveryVerdict::retry);
    EXPECT_EQ(ul::classify_delivery(ul::WebhookResponse{0, "connect: Connection refused", false}),
              ul::DeliveryVerdict::retry);
}

// ---- URLs ----

TEST(WebhookUrl, ParsesHostPortAndTarget) {
    const std::vector<std::pair<std::string, ul::WebhookUrl>> cases = {
        {"http://example.com", {false, "example.com", "80", "/"}},
        {"https://example.com", {true, "example.com", "443", "/"}},
        {"HTTPS://hooks.example.com:8443/a/b?x=1&y=2",
         {true, "hooks.example.com", "8443", "/a/b?x=1&y=2"}},
        {"http://127.0.0.1:9000/hook", {false, "127.0.0.1", "9000", "/hook"}},
        {"http://[::1]:8080/", {false, "::1", "8080", "/"}},
        {"https://[2001:db8::1]/x", {true, "2001:db8::1", "443", "/x"}},
        {"http://example.com?x=1", {false, "example.com", "80", "/?x=1"}},
        {"http://my_host-1.internal:080/", {false, "my_host-1.internal", "80", "/"}},
    };
    for (const auto& [text, expected] : cases) {
        const auto parsed = ul::parse_webhook_url(text);
        ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.error();
        EXPECT_EQ(*parsed, expected) << text;
    }
}

TEST(WebhookUrl, RefusesWhatIsNotAWebhookUrl) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "no scheme"},
        {"example.com/hook", "no scheme"},
        {"ftp://example.com/", "scheme \"ftp\" is not http or https"},
        {"http://", "no host"},
        {"http:///path", "no host"},
        {"http://:80/", "no host"},
        {"http://example.com:/", "port \"\""},
        {"http://example.com:0/", "port \"0\""},
        {"http://example.com:65536/", "port \"65536\""},
        {"http://example.com:http/", "port \"http\""},
        {"http://user:pass@example.com/", "user info"},
        {"http://example.com/a#frag", "fragment"},
        {"http://exa mple.com/", "space or a control character"},
        {"http://example.com/\r\nX: y", "space or a control character"},
        {"http://ex%41mple.com/", "has a character other than"},
        {"http://[::1/", "unclosed ["},
        {"http://[example.com]/", "not an IPv6 address"},
        {"http://[::1]x/", "after its host"},
        {"http://" + std::string(3000, 'a'), "longer than 2048"},
    };
    for (const auto& [text, why] : cases) {
        const auto parsed = ul::parse_webhook_url(text);
        ASSERT_FALSE(parsed.ok()) << text;
        EXPECT_NE(parsed.error().find(why), std::string::npos) << text << " → " << parsed.error();
    }
}

}  // namespace
