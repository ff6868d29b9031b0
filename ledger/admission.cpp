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
        case Verdict::rejected_limit:
            return "rejected_limit";
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
        case Verdict::rejected_limit:
            ++dead_lettered;
            ++dead_lettered_by_reason[static_cast<std::size_t>(Reason::limit_exceeded)];
            break;
    }
}

void Admitter::key_order(std::span<const Candidate> batch, std::vector<std::uint32_t>& order) {
    UL_CHECK(batch.size() < kDecidedByStore, "admission batch too large");
    order.clear();
    for (std::uint32_t index = 0; index < batch.size(); ++index) {
        if (batch[index].valid) {
            order.push_back(index);
        }
    }
    // Equal keys become neighbours, each group in batch order.
    std::sort(order.begin(), order.end(), [&batch](std::uint32_t left, std::uint32_t right) {
        if (batch[left].key != batch[right].key) {
            return batch[left].key < batch[right].key;
        }
        return left < right;
    });
}

void Admitter::admit(std::span<const Candidate> batch, std::span<const StoredKey> stored,
                     std::span<Decision> out) {
    key_order(batch, order_);
    admit_in_key_order(batch, stored, order_, out);
}

void Admitter::admit_in_key_order(std::span<const Candidate> batch,
                                  std::span<const StoredKey> stored,
                                  std::span<const std::uint32_t> order, std::span<Decision> out) {
    UL_CHECK(batch.size() == stored.size() && batch.size() == out.size(),
             "admit: batch, stored and out differ in size");
    UL_CHECK(batch.size() < kDecidedByStore, "admission batch too large");
    std::size_t valid_count = 0;
    for (std::uint32_t index = 0; index < batch.size(); ++index) {
        if (batch[index].valid) {
            ++valid_count;
        } else {
            out[index] = Decision{Verdict::invalid, batch[index].reason, kDecidedByStore};
        }
    }
    UL_CHECK(order.size() == valid_count, "admit: order does not hold every valid candidate");
    for (std::size_t position = 0; position < order.size(); ++position) {
        UL_CHECK(order[position] < batch.size() && batch[order[position]].valid,
                 "admit: order names an invalid candidate");
        if (position > 0) {
            const Candidate& previous = batch[order[position - 1]];
            const Candidate& current = batch[order[position]];
            UL_CHECK(previous.key < current.key ||
                         (previous.key == current.key && order[position - 1] < order[position]),
                     "admit: order is not sorted by (key, index)");
        }
    }
    std::size_t group_start = 0;
    while (group_start < order.size()) {
        const DedupKey& key = batch[order[group_start]].key;
        std::size_t group_end = group_start + 1;
        while (group_end < order.size() && batch[order[group_end]].key == key) {
            ++group_end;
        }
        const std::uint32_t first = order[group_start];
        // The winner: the stored event, else the first of the batch (accepted now).
        PayloadHash winner;
        std::uint32_t earlier = kDecidedByStore;
        std::size_t next = group_start;
        if (stored[first].present) {
            winner = stored[first].payload;
        } else {
            winner = batch[first].payload;
            earlier = first;
            out[first] = Decision{Verdict::accepted, Reason::malformed_json, kDecidedByStore};
            ++next;
        }
        for (; next < group_end; ++next) {
            const std::uint32_t index = order[next];
            out[index] =
                Decision{batch[index].payload == winner ? Verdict::duplicate : Verdict::conflict,
                         Reason::malformed_json, earlier};
        }
        group_start = group_end;
    }
}

}  // namespace ul
