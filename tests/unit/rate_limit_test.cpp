// RateLimiter: a pure token bucket per key with the clock passed in, so every case is exact
// (rates and times are binary fractions: no floating-point noise in the expectations).
#include "projections/api/rate_limit.h"

#include <gtest/gtest.h>

#include <string>

namespace {

constexpr std::int64_t kSecondUs = 1'000'000;

TEST(RateLimit, BurstIsAllowedAtOnceThenRefused) {
    ul::RateLimiter limiter({.requests_per_second = 1, .burst = 5});
    for (int request = 0; request < 5; ++request) {
        EXPECT_EQ(limiter.take("key", 0), 0) << request;
    }
    EXPECT_GT(limiter.take("key", 0), 0);
    EXPECT_GT(limiter.take("key", 0), 0);  // a refused request takes no token, and gets none
}

TEST(RateLimit, RefillsAtTheRateAndNeverAboveTheBurst) {
    ul::RateLimiter limiter({.requests_per_second = 4, .burst = 2});
    EXPECT_EQ(limiter.take("key", 0), 0);
    EXPECT_EQ(limiter.take("key", 0), 0);
    EXPECT_GT(limiter.take("key", 0), 0);
    EXPECT_GT(limiter.take("key", kSecondUs / 8), 0);  // half a token
    EXPECT_EQ(limiter.take("key", kSecondUs / 4), 0);  // one token
    EXPECT_GT(limiter.take("key", kSecondUs / 4), 0);
    // An hour idle refills to the burst (2), not to 4 × 3600.
    const std::int64_t later_us = 3600 * kSecondUs;
    EXPECT_EQ(limiter.take("key", later_us), 0);
    EXPECT_EQ(limiter.take("key", later_us), 0);
    EXPECT_GT(limiter.take("key", later_us), 0);
}

TEST(RateLimit, RetryAfterIsWholeSecondsRoundedUp) {
    // 2 per second: the next token is 0.5 s away, which is 1 s in Retry-After (never 0).
    ul::RateLimiter fast({.requests_per_second = 2, .burst = 1});
    EXPECT_EQ(fast.take("key", 0), 0);
    EXPECT_EQ(fast.take("key", 0), 1);
    // 0.25 per second: 4 s for a whole token; 2 s after, half of it is there: 2 s more.
    ul::RateLimiter slow({.requests_per_second = 0.25, .burst = 1});
    EXPECT_EQ(slow.take("key", 0), 0);
    EXPECT_EQ(slow.take("key", 0), 4);
    EXPECT_EQ(slow.take("key", 2 * kSecondUs), 2);
    EXPECT_EQ(slow.take("key", 2 * kSecondUs + 1), 2);  // 1.999999 s: still rounds up to 2
    EXPECT_EQ(slow.take("key", 5 * kSecondUs), 0);
    // 3 per second: a third of a second, up to 1.
    ul::RateLimiter thirds({.requests_per_second = 3, .burst = 1});
    EXPECT_EQ(thirds.take("key", 0), 0);
    EXPECT_EQ(thirds.take("key", 0), 1);
}

TEST(RateLimit, RetryAfterIsBoundedWhenTheRateIsZero) {
    ul::RateLimiter never({.requests_per_second = 0, .burst = 1});
    EXPECT_EQ(never.take("key", 0), 0);
    EXPECT_EQ(never.take("key", 0), 24 * 3600);
}

TEST(RateLimit, KeysHaveTheirOwnBuckets) {
    ul::RateLimiter limiter({.requests_per_second = 1, .burst = 1});
    EXPECT_EQ(limiter.take("tenant-a", 0), 0);
    EXPECT_GT(limiter.take("tenant-a", 0), 0);
    EXPECT_EQ(limiter.take("tenant-b", 0), 0);
    EXPECT_EQ(limiter.take(std::string("tenant-a\0x", 10), 0), 0);  // keys are bytes, not C strings
}

TEST(RateLimit, AClockGoingBackwardsMintsNoTokens) {
    ul::RateLimiter limiter({.requests_per_second = 1, .burst = 1});
    EXPECT_EQ(limiter.take("key", 10 * kSecondUs), 0);
    EXPECT_GT(limiter.take("key", 5 * kSecondUs), 0);
    EXPECT_GT(limiter.take("key", 10 * kSecondUs), 0);  // the token comes at 11 s, not at 6 s
    EXPECT_EQ(limiter.take("key", 11 * kSecondUs), 0);
}

TEST(RateLimit, EvictsTheLeastRecentlyUsedKeyAtTheBound) {
    ul::RateLimiter limiter({.requests_per_second = 1, .burst = 1}, 2);
    EXPECT_EQ(limiter.take("a", 0), 0);
    EXPECT_EQ(limiter.take("b", 0), 0);
    EXPECT_GT(limiter.take("a", 0), 0);  // a is now the most recently used
    EXPECT_EQ(limiter.take("c", 0), 0);  // evicts b, not a
    EXPECT_GT(limiter.take("a", 0), 0);  // a kept its empty bucket
    EXPECT_EQ(limiter.take("b", 0), 0);  // b was forgotten: a full bucket again (evicts c)
    EXPECT_EQ(limiter.take("c", 0), 0);  // c too (evicts a)
    EXPECT_EQ(limiter.take("a", 0), 0);
}

TEST(RateLimit, ManyKeysStayWithinTheBound) {
    ul::RateLimiter limiter({.requests_per_second = 1, .burst = 1}, 100);
    for (int key = 0; key < 10'000; ++key) {
        EXPECT_EQ(limiter.take("key-" + std::to_string(key), 0), 0);
    }
    // The last 100 keys are remembered (refused), the first ones were evicted (allowed again).
    EXPECT_GT(limiter.take("key-9999", 0), 0);
    EXPECT_GT(limiter.take("key-9900", 0), 0);
    EXPECT_EQ(limiter.take("key-0", 0), 0);
}

}  // namespace
