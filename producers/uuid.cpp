#include "producers/uuid.h"

#include <chrono>

namespace ul {

std::string uuid_v7(std::uint64_t unix_ms, const std::array<std::uint8_t, 10>& random) {
    std::array<std::uint8_t, 16> bytes{};
    for (int index = 0; index < 6; ++index) {
        bytes[static_cast<std::size_t>(index)] =
            static_cast<std::uint8_t>(unix_ms >> (8 * (5 - index)));
    }
    bytes[6] = static_cast<std::uint8_t>(0x70U | (random[0] & 0x0FU));
    bytes[7] = random[1];
    bytes[8] = static_cast<std::uint8_t>(0x80U | (random[2] & 0x3FU));
    for (std::size_t index = 9; index < 16; ++index) {
        bytes[index] = random[index - 6];
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text;
    text.reserve(36);
    for (std::size_t index = 0; index < 16; ++index) {
        if (index == 4 || index == 6 || index == 8 || index == 10) {
            text += '-';
        }
        text += kHex[bytes[index] >> 4U];
        text += kHex[bytes[index] & 0x0FU];
    }
    return text;
}

namespace {

// std::random_device gives 32 bits per call; a single call would leave only 2^32 possible
// streams across all processes, so two producers could share one and make equal keys in the
// same millisecond. Eight calls fill the whole seed.
std::mt19937_64 seeded_generator() {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    return std::mt19937_64(seed);
}

}  // namespace

UuidV7Generator::UuidV7Generator() : random_(seeded_generator()) {}

std::string UuidV7Generator::next() {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return next(static_cast<std::uint64_t>(now));
}

std::string UuidV7Generator::next(std::uint64_t unix_ms) {
    if (unix_ms <= last_ms_) {
        // Same (or an earlier) millisecond: count up; past 12 bits, borrow the next millisecond.
        unix_ms = last_ms_;
        if (++counter_ > 0x0FFFU) {
            ++unix_ms;
            counter_ = 0;
        }
    } else {
        counter_ = static_cast<std::uint16_t>(random_() & 0x03FFU);  // room to count up
    }
    last_ms_ = unix_ms;
    std::array<std::uint8_t, 10> random{};
    random[0] = static_cast<std::uint8_t>(counter_ >> 8U);
    random[1] = static_cast<std::uint8_t>(counter_ & 0xFFU);
    const std::uint64_t bits = random_();
    for (std::size_t index = 2; index < 10; ++index) {
        random[index] = static_cast<std::uint8_t>(bits >> (8 * (index - 2)));
    }
    return uuid_v7(unix_ms, random);
}

}  // namespace ul
