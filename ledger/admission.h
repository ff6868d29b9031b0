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

// A fixed-width dedup key: XXH3-128 over tenant_id, one 0x00 byte, idempotency_key.
// Why that is safe to use as the identity of (tenant_id, idempotency_key):
// - Injective input: tenant_id is 1–64 of [A-Za-z0-9._:-] (never 0x00), so the first 0x00 ends
//   it and distinct pairs give distinct byte strings ("ab"+"c" ≠ "a"+"bc").
// - Collisions: for n distinct keys the chance that any two share a 128-bit hash is at most
//   n²/2^129: 10^12 keys (three years at 10,000 events/s) give < 1.5·10^-15. XXH3-128 is not
//   cryptographic, so a client that crafts colliding keys on purpose could make its own second
//   event a "duplicate" or "conflict" of its own first one: it can only hurt its own tenant when
//   keys are hashed together with the tenant id, which is why tenant_id is part of the input.
// The key is stored big-endian (high, then low), so byte order = numeric order.
struct DedupKey {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    friend bool operator==(const DedupKey&, const DedupKey&) = default;
    friend auto operator<=>(const DedupKey&, const DedupKey&) = default;
};
DedupKey dedup_key(std::string_view tenant_id, std::string_view idempotency_key);

// rejected_limit: valid and new, but a hard limit refused it (ledger/limits.h); it is not an
// entry, it is dead-lettered with reason limit_exceeded, and its key is kept so that a retry is
// a duplicate of that first verdict.
enum class Verdict : std::uint8_t { accepted, duplicate, conflict, invalid, rejected_limit };
std::string_view verdict_name(Verdict verdict);

struct Candidate {
    bool valid = false;
    Reason reason = Reason::malformed_json;  // when !valid
    DedupKey key;                            // when valid
    PayloadHash payload;                     // when valid
};

// The store's answer for one dedup key.
struct StoredKey {
    bool present = false;
    PayloadHash payload;          // when present
    std::uint32_t partition = 0;  // when present: where the stored event is in the ledger
    std::uint64_t sequence = 0;
    // The stored event was refused by a hard limit: (partition, sequence) is its dead letter.
    bool rejected = false;
};

// For duplicates and conflicts: which earlier event decided it.
inline constexpr std::uint32_t kDecidedByStore = 0xFFFFFFFFU;

struct Decision {
    Verdict verdict = Verdict::invalid;
    Reason reason = Reason::malformed_json;  // when invalid
    // When duplicate or conflict: kDecidedByStore, or the index in the batch of the first
    // message with this key (accepted by this same batch).
    std::uint32_t earlier = kDecidedByStore;
    friend bool operator==(const Decision&, const Decision&) = default;
};

// Counts of outcomes; every message ends in exactly one. A rejected_limit event is stored as a
// dead letter with reason limit_exceeded (one place in the store's byte layout); rejected_limit()
// and invalid() tell the two apart.
struct OutcomeCounts {
    std::uint64_t accepted = 0;
    std::uint64_t duplicate = 0;
    std::uint64_t conflict = 0;
    std::uint64_t dead_lettered = 0;
    std::array<std::uint64_t, kReasonCount> dead_lettered_by_reason{};

    void add(const Decision& decision);
    std::uint64_t consumed() const { return accepted + duplicate + conflict + dead_lettered; }
    std::uint64_t rejected_limit() const {
        return dead_lettered_by_reason[static_cast<std::size_t>(Reason::limit_exceeded)];
    }
    std::uint64_t invalid() const { return dead_lettered - rejected_limit(); }
    friend bool operator==(const OutcomeCounts&, const OutcomeCounts&) = default;
};

class Admitter {
  public:
    // `stored[i]` is the store's answer for `batch[i].key` (ignored for invalid candidates).
    // Writes one decision per candidate into `out` (same size as `batch`).
    void admit(std::span<const Candidate> batch, std::span<const StoredKey> stored,
               std::span<Decision> out);

    // The same, for a caller that has already sorted the valid candidates: `order` holds the
    // index of every valid candidate exactly once, sorted by (key, index). Checked.
    static void admit_in_key_order(std::span<const Candidate> batch,
                                   std::span<const StoredKey> stored,
                                   std::span<const std::uint32_t> order, std::span<Decision> out);

    // Sorts the indices of the valid candidates of `batch` by (key, index) into `order`.
    static void key_order(std::span<const Candidate> batch, std::vector<std::uint32_t>& order);

  private:
    std::vector<std::uint32_t> order_;  // scratch: batch indices sorted by key
};

}  // namespace ul
