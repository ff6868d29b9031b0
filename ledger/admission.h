// Admission: the pure decision at the heart of the ledger. For each message of a poll batch,
// given whether its (tenant_id, idempotency_key) is already in the store and with which payload
// hash, decide: accepted, duplicate (same payload), conflict (different payload) or invalid.
// The first event with a key wins — in the store, or earlier in the same batch.
// No I/O, no allocation once the Admitter's scratch space has grown to the batch size.
// Not thread-safe; one Admitter per ledger writer.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "schemas/canonical.h"
#include "schemas/event.h"

namespace ul {

// A fixed-width dedup key: XXH3-128 over tenant_id, one 0x00 byte, idempotency_key. tenant_id
// cannot contain 0x00, so distinct pairs give distinct inputs; a 128-bit collision among even
// 10^12 keys has probability below 10^-14.
struct DedupKey {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    friend bool operator==(const DedupKey&, const DedupKey&) = default;
    friend auto operator<=>(const DedupKey&, const DedupKey&) = default;
};
DedupKey dedup_key(std::string_view tenant_id, std::string_view idempotency_key);

enum class Verdict : std::uint8_t { accepted, duplicate, conflict, invalid };
std::string_view verdict_name(Verdict verdict);

struct Candidate {
    bool valid = false;
    Reason reason = Reason::malformed_json;  // when !valid
    DedupKey key;                            // when valid
    PayloadHash payload;                     // when valid
};

struct StoredKey {
    bool present = false;
    PayloadHash payload;  // when present
};

struct Decision {
    Verdict verdict = Verdict::invalid;
    Reason reason = Reason::malformed_json;  // when invalid
};

// Counts of outcomes; every message ends in exactly one.
struct OutcomeCounts {
    std::uint64_t accepted = 0;
    std::uint64_t duplicate = 0;
    std::uint64_t conflict = 0;
    std::uint64_t dead_lettered = 0;
    std::array<std::uint64_t, kReasonCount> dead_lettered_by_reason{};

    void add(const Decision& decision);
    std::uint64_t consumed() const { return accepted + duplicate + conflict + dead_lettered; }
    friend bool operator==(const OutcomeCounts&, const OutcomeCounts&) = default;
};

class Admitter {
  public:
    // `stored[i]` is the store's answer for `batch[i].key` (ignored for invalid candidates).
    // Writes one decision per candidate into `out` (same size as `batch`).
    void admit(std::span<const Candidate> batch, std::span<const StoredKey> stored,
               std::span<Decision> out);

  private:
    std::vector<std::uint32_t> order_;  // scratch: batch indices sorted by key
};

}  // namespace ul
