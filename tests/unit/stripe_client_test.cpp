// The Stripe client's pure parts (projections/billing/stripe_client.h): form encoding, the token
// bucket and the circuit breaker on an injected clock, backoff bounds, verdicts, body parsers,
// and that the secret key never shows in a loader's error. No network (the client's own errors
// are checked in tests/integration/stripe_client_test.cpp).
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "projections/billing/stripe_client.h"

namespace {

using namespace std::chrono_literals;
constexpr std::int64_t kSecond_us = 1'000'000;

TEST(StripeForm, KeepsUnreservedAndBracketsInKeysAndEncodesTheRest) {
    EXPECT_EQ(ul::form_encode({}), "");
    EXPECT_EQ(ul::form_encode({{"a", "b"}}), "a=b");
    EXPECT_EQ(ul::form_encode({{"payload[value]", "12"}, {"payload[stripe_customer_id]", "cus_1"}}),
              "payload[value]=12&payload[stripe_customer_id]=cus_1");
    EXPECT_EQ(ul::form_encode({{"line_items[0][price]", "price_1"}}),
              "line_items[0][price]=price_1");
    EXPECT_EQ(ul::form_encode({{"k", "A-Z a.z_0~9"}}), "k=A-Z%20a.z_0~9");
    EXPECT_EQ(ul::form_encode({{"url", "https://x.com/s?id={CHECKOUT_SESSION_ID}&a=b+c"}}),
              "url=https%3A%2F%2Fx.com%2Fs%3Fid%3D%7BCHECKOUT_SESSION_ID%7D%26a%3Db%2Bc");
    EXPECT_EQ(ul::form_encode({{"v", "[x]"}}), "v=%5Bx%5D");  // brackets kept in keys only
    EXPECT_EQ(ul::form_encode({{"a b", "\xc3\xa9"}}), "a%20b=%C3%A9");
    EXPECT_EQ(ul::form_encode({{"empty", ""}, {"x", "1"}}), "empty=&x=1");
}

TEST(StripeTokenBucket, StartsFullRefillsAtTheRateAndSaysHowLongToWait) {
    const std::int64_t start_us = 1'000 * kSecond_us;
    ul::TokenBucket bucket(10, 3, start_us);  // 10/s: one token every 100 ms
    EXPECT_EQ(bucket.wait_us(start_us), 0);
    EXPECT_TRUE(bucket.try_take(start_us));
    EXPECT_TRUE(bucket.try_take(start_us));
    EXPECT_TRUE(bucket.try_take(start_us));
    EXPECT_FALSE(bucket.try_take(start_us));
    EXPECT_EQ(bucket.wait_us(start_us), 100'000);
    EXPECT_EQ(bucket.wait_us(start_us + 40'000), 60'000);
    EXPECT_FALSE(bucket.try_take(start_us + 99'999));
    EXPECT_TRUE(bucket.try_take(start_us + 100'000));
    EXPECT_FALSE(bucket.try_take(start_us + 100'000));
    // A long idle refills to the burst, never more.
    const std::int64_t later_us = start_us + 3600 * kSecond_us;
    for (int take = 0; take < 3; ++take) {
        EXPECT_TRUE(bucket.try_take(later_us)) << take;
    }
    EXPECT_FALSE(bucket.try_take(later_us));
    // A clock that goes backwards mints nothing.
    EXPECT_FALSE(bucket.try_take(start_us));
    EXPECT_GT(bucket.wait_us(start_us), 0);
}

TEST(StripeCircuitBreaker, OpensAfterConsecutiveFailuresAndTriesOnceAfterThePause) {
    ul::CircuitBreaker breaker(3, 60s);
    std::int64_t now_us = 5'000 * kSecond_us;
    EXPECT_EQ(breaker.state(now_us), ul::BreakerState::closed);
    EXPECT_TRUE(breaker.allow(now_us));
    breaker.record_failure(now_us);
    breaker.record_failure(now_us);
    breaker.record_success();  // a success resets the count
    EXPECT_EQ(breaker.consecutive_failures(), 0);
    breaker.record_failure(now_us);
    breaker.record_failure(now_us);
    EXPECT_EQ(breaker.state(now_us), ul::BreakerState::closed);
    EXPECT_EQ(breaker.opened_until_us(), 0);
    breaker.record_failure(now_us);
    EXPECT_EQ(breaker.consecutive_failures(), 3);
    EXPECT_EQ(breaker.state(now_us), ul::BreakerState::open);
    EXPECT_EQ(breaker.opened_until_us(), now_us + 60 * kSecond_us);
    EXPECT_FALSE(breaker.allow(now_us));
    EXPECT_FALSE(breaker.allow(now_us + 60 * kSecond_us - 1));

    // Half-open: one trial, no second one while it is out.
    now_us += 60 * kSecond_us;
    EXPECT_EQ(breaker.state(now_us), ul::BreakerState::half_open);
    EXPECT_TRUE(breaker.allow(now_us));
    EXPECT_FALSE(breaker.allow(now_us + 1));
    // The trial fails: open for another whole pause.
    breaker.record_failure(now_us + 10);
    EXPECT_EQ(breaker.state(now_us + 10), ul::BreakerState::open);
    EXPECT_EQ(breaker.opened_until_us(), now_us + 10 + 60 * kSecond_us);
    EXPECT_FALSE(breaker.allow(now_us + 20));

    // After that pause, a trial that succeeds closes it.
    now_us += 10 + 60 * kSecond_us;
    EXPECT_TRUE(breaker.allow(now_us));
    breaker.record_success();
    EXPECT_EQ(breaker.state(now_us), ul::BreakerState::closed);
    EXPECT_EQ(breaker.opened_until_us(), 0);
    EXPECT_TRUE(breaker.allow(now_us));
    EXPECT_TRUE(breaker.allow(now_us));
}

TEST(StripeCircuitBreaker, ATrialWhoseResultNeverCameIsReplacedAfterAnotherPause) {
    ul::CircuitBreaker breaker(1, 10s);
    breaker.record_failure(0);
    EXPECT_TRUE(breaker.allow(10 * kSecond_us));
    EXPECT_FALSE(breaker.allow(20 * kSecond_us - 1));
    EXPECT_TRUE(breaker.allow(20 * kSecond_us));
}

TEST(StripeCircuitBreaker, DefaultsAreFiveFailuresAndFifteenMinutes) {
    ul::CircuitBreaker breaker;
    for (int failure = 0; failure < 4; ++failure) {
        breaker.record_failure(0);
    }
    EXPECT_TRUE(breaker.allow(0));
    breaker.record_failure(0);
    EXPECT_EQ(breaker.opened_until_us(), 15 * 60 * kSecond_us);
    EXPECT_EQ(ul::to_string(breaker.state(1)), "open");
}

TEST(StripeBackoff, FullJitterWithinTheGrowingCeilingAndRetryAfterAsALowerBound) {
    const ul::StripeBackoff backoff{500ms, 8000ms};
    const std::uint64_t seed = std::random_device{}();
    std::mt19937_64 random(seed);
    SCOPED_TRACE("seed " + std::to_string(seed));
    for (std::uint32_t attempt = 0; attempt < 80; ++attempt) {
        const std::int64_t ceiling_ms = attempt >= 4 ? 8000 : 500LL << attempt;
        for (int draw = 0; draw < 50; ++draw) {
            const auto delay = ul::stripe_backoff_delay(backoff, attempt, std::nullopt, random());
            EXPECT_GE(delay.count(), 0);
            EXPECT_LE(delay.count(), ceiling_ms) << attempt;
        }
    }
    // The ends: random 0 gives 0 ms, random == ceiling gives the ceiling.
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 0, std::nullopt, 0), 0ms);
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 0, std::nullopt, 500), 500ms);
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 2, std::nullopt, 2000), 2000ms);
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 64, std::nullopt, 8000), 8000ms);
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 0xffffffffU, std::nullopt, 8000), 8000ms);
    // Retry-After is a floor, even above the cap; a day at most.
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 0, 30, 7), 30'000ms);
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 4, 1, 7000), 7000ms);
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 0, 0, 7), 7ms);
    EXPECT_EQ(ul::stripe_backoff_delay(backoff, 0, 10'000'000, 7),
              std::chrono::milliseconds{24LL * 3600 * 1000});
}

ul::HttpCallResult answer(int status,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    ul::HttpCallResult result;
    result.status = status;
    result.headers = std::move(headers);
    return result;
}

TEST(StripeVerdicts, ClassifiesStatusesNetworkErrorsAndShouldRetry) {
    using ul::StripeVerdict;
    EXPECT_EQ(ul::classify_stripe(answer(200)), StripeVerdict::ok);
    EXPECT_EQ(ul::classify_stripe(answer(201)), StripeVerdict::ok);
    for (const int status : {408, 409, 429, 500, 502, 503, 504}) {
        EXPECT_EQ(ul::classify_stripe(answer(status)), StripeVerdict::retry) << status;
    }
    for (const int status : {300, 400, 401, 402, 403, 404, 422}) {
        EXPECT_EQ(ul::classify_stripe(answer(status)), StripeVerdict::permanent) << status;
    }
    ul::HttpCallResult timed_out;
    timed_out.error = "timed out after 10 ms while waiting for the answer";
    timed_out.timed_out = true;
    EXPECT_EQ(ul::classify_stripe(timed_out), StripeVerdict::retry);
    ul::HttpCallResult refused;
    refused.error = "connect to 127.0.0.1:1: Connection refused";
    EXPECT_EQ(ul::classify_stripe(refused), StripeVerdict::retry);
    // Stripe-Should-Retry overrides the status, either way (any case of the name).
    EXPECT_EQ(ul::classify_stripe(answer(400, {{"Stripe-Should-Retry", "true"}})),
              StripeVerdict::retry);
    EXPECT_EQ(ul::classify_stripe(answer(503, {{"stripe-should-retry", "false"}})),
              StripeVerdict::permanent);
    EXPECT_EQ(ul::classify_stripe(answer(200, {{"Stripe-Should-Retry", "false"}})),
              StripeVerdict::ok);
}

TEST(StripeParse, ErrorBodiesMeterListsSummariesAndSessions) {
    EXPECT_EQ(ul::stripe_error_text(
                  R"({"error":{"type":"invalid_request_error","code":"resource_missing",)"
                  R"("message":"No such customer: 'cus_x'"}})"),
              "invalid_request_error/resource_missing: No such customer: 'cus_x'");
    EXPECT_EQ(ul::stripe_error_text(R"({"error":{"type":"api_error","message":"boom"}})"),
              "api_error: boom");
    EXPECT_FALSE(ul::stripe_error_text("<html>bad gateway</html>"));
    EXPECT_FALSE(ul::stripe_error_text(R"({"id":"x"})"));

    bool has_more = true;
    auto meters = ul::parse_meter_list(
        R"({"object":"list","data":[{"id":"mtr_1","event_name":"api_calls","display_name":"API",)"
        R"("status":"active"}],"has_more":false})",
        &has_more);
    ASSERT_TRUE(meters) << meters.error();
    ASSERT_EQ(meters->size(), 1U);
    EXPECT_EQ(meters->front().id, "mtr_1");
    EXPECT_EQ(meters->front().event_name, "api_calls");
    EXPECT_FALSE(has_more);
    EXPECT_FALSE(ul::parse_meter_list(R"({"object":"list"})", nullptr));

    auto summaries = ul::parse_meter_event_summaries(
        R"({"object":"list","data":[)"
        R"({"id":"mtrusg_1","aggregated_value":25,"start_time":1700000000,"end_time":1700003600},)"
        R"({"id":"mtrusg_2","aggregated_value":17.0,"start_time":1700003600,"end_time":1700007200}],)"
        R"("has_more":true})",
        &has_more);
    ASSERT_TRUE(summaries) << summaries.error();
    EXPECT_EQ(summaries->total, 42);
    ASSERT_EQ(summaries->summaries.size(), 2U);
    EXPECT_EQ(summaries->summaries[1].id, "mtrusg_2");
    EXPECT_EQ(summaries->summaries[1].start_time_s, 1'700'003'600);
    EXPECT_TRUE(has_more);
    EXPECT_FALSE(ul::parse_meter_event_summaries(
        R"({"data":[{"id":"mtrusg_1","aggregated_value":2.5}],"has_more":false})", nullptr));
    EXPECT_FALSE(ul::parse_meter_event_summaries(
        R"({"data":[{"aggregated_value":9223372036854775807},{"aggregated_value":1}]})", nullptr));

    auto session = ul::parse_session(R"({"id":"cs_test_1","url":"https://checkout/x"})");
    ASSERT_TRUE(session) << session.error();
    EXPECT_EQ(session->id, "cs_test_1");
    EXPECT_EQ(session->url, "https://checkout/x");
    EXPECT_FALSE(ul::parse_session(R"({"url":"x"})"));
}

constexpr const char* kSecret = "sk_test_SECRETvalue0123456789";

TEST(StripeSecret, LoadsFromAFileTrimmedOrFromTheEnvironment) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("stripe_key_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = (dir / "key").string();
    std::ofstream(path) << "  " << kSecret << "\n\n";
    auto key = ul::load_stripe_secret_key(path);
    ASSERT_TRUE(key) << key.error();
    EXPECT_EQ(*key, kSecret);

    ::setenv("STRIPE_SECRET_KEY", "sk_test_from_env", 1);  // NOLINT(concurrency-mt-unsafe)
    key = ul::load_stripe_secret_key("");
    ASSERT_TRUE(key) << key.error();
    EXPECT_EQ(*key, "sk_test_from_env");
    ::unsetenv("STRIPE_SECRET_KEY");  // NOLINT(concurrency-mt-unsafe)
    key = ul::load_stripe_secret_key("");
    ASSERT_FALSE(key);
    EXPECT_NE(key.error().find("STRIPE_SECRET_KEY"), std::string::npos);

    EXPECT_FALSE(ul::load_stripe_secret_key((dir / "missing").string()));
    // A malformed key is refused without being echoed.
    std::ofstream(path) << "sk_test_SECRET value\n";
    key = ul::load_stripe_secret_key(path);
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().find("SECRET"), std::string::npos) << key.error();
    EXPECT_EQ(key.error().find("sk_test"), std::string::npos) << key.error();
    std::ofstream(path) << "   \n";
    key = ul::load_stripe_secret_key(path);
    ASSERT_FALSE(key);
    std::filesystem::remove_all(dir);
}

}  // namespace
