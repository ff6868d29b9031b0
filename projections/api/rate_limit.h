// A per-key token bucket for the query API (429 with Retry-After). The clock is passed in.
// Thread-safe (one mutex); memory bounded: at most max_keys buckets, the least recently used
// is dropped (a dropped key starts again with a full bucket).
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ul {

struct RateLimitOptions {
    double requests_per_second = 50;  // a rate, not money: double is fine
    double burst = 100;
};

class RateLimiter {
  public:
    explicit RateLimiter(RateLimitOptions options, std::size_t max_keys = 100'000);
    // 0: allowed (a token taken); otherwise the whole seconds to wait (≥ 1, at most a day) for
    // Retry-After. A clock that goes backwards never mints tokens.
    std::int64_t take(std::string_view key, std::int64_t now_us);

  private:
    struct Bucket {
        double tokens = 0;
        std::int64_t updated_us = 0;
        std::list<std::string>::iterator age;
    };
    RateLimitOptions options_;
    std::size_t max_keys_;
    std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
    std::list<std::string> ages_;  // most recently used first
};

}  // namespace ul
