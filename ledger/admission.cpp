#include "ledger/admission.h"

#include <xxhash.h>

#include <algorithm>
#include <array>

#include "schemas/check.h"

namespace ul {

DedupKey dedup_key(std::string_view tenant_id, std::string_view idempotency_key) {
    // Valid events bound both parts (64 + 1 + 128 bytes), so one stack buffer suffices.
    UL_CHECK(tenant_id.size() <= kMaxTenantBytes && idempotency_key.size() <= kMaxKeyBytes,
             "dedup_key of an unvalidated event");
    std::array<char, kMaxTenantBytes + 1 + kMaxKeyBytes> input{};
    std::copy(tenant_id.begin(), tenant_id.end(), input.begin());
    input[tenant_id.size()] = '\0';
    std::copy(idempotency_key.begin(), idempotency_key.end(),
              input.begin() + static_cast<std::ptrdiff_t>(tenant_id.size() + 1));
    const XXH128_hash_t hash =
        XXH3_128bits(input.data(), tenant_id.size() + 1 + idempotency_key.size());
    return DedupKey{hash.high64, hash.low64};
}

std::string_view verdict_name(Verdict verdict) {
    switch (verdict) {
        case Verdict::accepted:
            return "accepted";
        case Verdict::duplicate:
            return "duplicate";
        case Verdict::conflict:
            return "conflict";
        case Verdict::invalid:
            return "invalid";
    }
    return "unknown";
}

void OutcomeCounts::add(const Decision& decision) {
    switch (decision.verdict) {
        case Verdict::accepted:
            ++accepted;
            break;
        case Verdict::duplicate:
            ++duplicate;
            break;
        case Verdict::conflict:
            ++conflict;
            break;
        case Verdict::invalid:
            ++dead_lettered;
            ++dead_lettered_by_reason[static_cast<std::size_t>(decision.reason)];
            break;
    }
}

void Admitter::admit(std::span<const Candidate> batch, std::span<const StoredKey> stored,
                     std::span<Decision> out) {
    UL_CHECK(batch.size() == stored.size() && batch.size() == out.size(),
             "admit: batch, stored and out differ in size");
    order_.clear();
    for (std::uint32_t index = 0; index < batch.size(); ++index) {
        if (batch[index].valid) {
            order_.push_back(index);
        } else {
            out[index] = Decision{Verdict::invalid, batch[index].reason};
        }
    }
    // Equal keys become neighbours, each group in batch order (stable by index).
    std::sort(order_.begin(), order_.end(), [&batch](std::uint32_t left, std::uint32_t right) {
        if (batch[left].key != batch[right].key) {
            return batch[left].key < batch[right].key;
        }
        return left < right;
    });
    std::size_t group_start = 0;
    while (group_start < order_.size()) {
        const DedupKey& key = batch[order_[group_start]].key;
        std::size_t group_end = group_start + 1;
        while (group_end < order_.size() && batch[order_[group_end]].key == key) {
            ++group_end;
        }
        const std::uint32_t first = order_[group_start];
        // The winner: the stored event, else the first of the batch (accepted now).
        PayloadHash winner;
        std::size_t next = group_start;
        if (stored[first].present) {
            winner = stored[first].payload;
        } else {
            winner = batch[first].payload;
            out[first] = Decision{Verdict::accepted, Reason::malformed_json};
            ++next;
        }
        for (; next < group_end; ++next) {
            const std::uint32_t index = order_[next];
            out[index] =
                Decision{batch[index].payload == winner ? Verdict::duplicate : Verdict::conflict,
                         Reason::malformed_json};
        }
        group_start = group_end;
    }
}

}  // namespace ul
