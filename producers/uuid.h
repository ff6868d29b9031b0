// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, 12-bit rand_a used as a counter so
// UUIDs made in the same millisecond by one generator sort in the order they were made, variant
// 0b10, 62 random bits. Used as the idempotency key when a caller gives none.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>

namespace ul {

// The pure form: `random` supplies rand_a (first 2 bytes, 12 bits used) and rand_b (8 bytes).
std::string uuid_v7(std::uint64_t unix_ms, const std::array<std::uint8_t, 10>& random);

// Not thread-safe; callers serialize (UsageProducer holds one behind a mutex).
class UuidV7Generator {
  public:
    UuidV7Generator();   // seeded with 256 bits from std::random_device
    std::string next();  // reads the system clock
    // Monotonic: never smaller than the previous UUID, even when `unix_ms` steps back (then the
    // previous millisecond is reused and the counter goes on).
    std::string next(std::uint64_t unix_ms);

  private:
    std::mt19937_64 random_;
    std::uint64_t last_ms_ = 0;
    std::uint16_t counter_ = 0;
};

}  // namespace ul
