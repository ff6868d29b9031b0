#include "projections/api/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace ul {

RateLimiter::RateLimiter(RateLimitOptions options, std::size_t max_keys)
    : options_(options), max_keys_(std::max<std::size_t>(1, max_keys)) {}

std::int64_t RateLimiter::take(std::string_view key, std::int64_t now_us) {
    std::lock_guard lock(mutex_);
    auto found = buckets_.find(std::string(key));
    if (found == buckets_.end()) {
        if (buckets_.size() >= max_keys_) {
            buckets_.erase(ages_.back());
            ages_.pop_back();
        }
        ages_.emplace_front(key);
        found =
            buckets_.emplace(std::string(key), Bucket{options_.burst, now_us, ages_.begin()}).first;
    } else {
        ages_.splice(ages_.begin(), ages_, found->second.age);
    }
    Bucket& bucket = found->second;
    const double elapsed =
        static_cast<double>(std::max<std::int64_t>(0, now_us - bucket.updated_us)) / 1e6;
    bucket.tokens =
        std::min(options_.burst, bucket.tokens + elapsed * options_.requests_per_second);
    bucket.updated_us = std::max(bucket.updated_us, now_us);
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return 0;
    }
    // A rate of 0 (or a burst under one token) never refills enough: the wait is capped, so the
    // conversion below never sees infinity or NaN.
    constexpr double kMaxWaitSeconds = 24.0 * 3600.0;
    double wait = (1.0 - bucket.tokens) / options_.requests_per_second;
    if (!(wait < kMaxWaitSeconds)) {
        wait = kMaxWaitSeconds;
    }
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
}

}  // namespace ul
