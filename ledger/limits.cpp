#include "ledger/limits.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "schemas/check.h"

namespace ul {
namespace {

void put_u64(char* out, std::uint64_t value) {
    for (int shift = 56, index = 0; shift >= 0; shift -= 8, ++index) {
        out[index] = static_cast<char>((value >> static_cast<unsigned>(shift)) & 0xFFU);
    }
}

std::uint64_t get_u64(const char* in) {
    std::uint64_t value = 0;
    for (int index = 0; index < 8; ++index) {
        value = (value << 8U) | static_cast<std::uint8_t>(in[index]);
    }
    return value;
}

// XXH3-128 of tenant, 0x00, meter. Tenant ids (≤ 64 bytes) never hold 0x00: injective input.
XXH128_hash_t tenant_meter_hash(std::string_view tenant, std::string_view meter) {
    std::array<char, 160> input{};
    UL_CHECK(tenant.size() + 1 + meter.size() <= input.size(), "limit cell: ids too long");
    std::memcpy(input.data(), tenant.data(), tenant.size());
    std::memcpy(input.data() + tenant.size() + 1, meter.data(), meter.size());
    return XXH3_128bits(input.data(), tenant.size() + 1 + meter.size());
}

}  // namespace

LimitCellKey limit_cell_key(std::string_view tenant, std::string_view meter,
                            std::int64_t period_start_us) {
    const XXH128_hash_t hash = tenant_meter_hash(tenant, meter);
    LimitCellKey key{};
    key[0] = 'l';
    put_u64(key.data() + 1, hash.high64);
    put_u64(key.data() + 9, hash.low64);
    put_u64(key.data() + 17,
            static_cast<std::uint64_t>(period_start_us) ^ (std::uint64_t{1} << 63U));
    return key;
}

void decide_hard_limits(std::span<const LimitCheck> checks, std::span<LimitCell> cells,
                        std::span<Decision> decisions, std::span<std::int64_t> used_after) {
    UL_CHECK(checks.size() == decisions.size() && checks.size() == used_after.size(),
             "decide_hard_limits: checks, decisions and used_after differ in size");
    for (std::size_t index = 0; index < checks.size(); ++index) {
        const LimitCheck& check = checks[index];
        if (check.cell < 0) {
            used_after[index] = 0;
            continue;
        }
        UL_CHECK(static_cast<std::size_t>(check.cell) < cells.size(),
                 "decide_hard_limits: a cell out of range");
        LimitCell& cell = cells[static_cast<std::size_t>(check.cell)];
        if (decisions[index].verdict == Verdict::accepted) {
            // used ≤ limit ≤ 10^18 and quantity ≤ 10^18: the sum fits in int64 (< 9.2·10^18).
            const std::int64_t total = cell.used_micros + check.quantity_micros;
            if (total <= cell.limit_micros) {
                cell.used_micros = total;
            } else {
                decisions[index] =
                    Decision{Verdict::rejected_limit, Reason::limit_exceeded, kDecidedByStore};
            }
        }
        used_after[index] = cell.used_micros;
    }
}

LeaseOp lease_op_of(const UsageEvent& event, const DedupKey& own_key) {
    if (const auto released = lease_release_of(event)) {
        return LeaseOp{true, dedup_key(event.tenant_id, *released), 0};
    }
    // Event times are within the validator's bounds (±decades), far from int64's end.
    return LeaseOp{false, own_key, event.timestamp_us + lease_ttl_us_of(event)};
}

WalletKey wallet_key(std::string_view tenant) {
    const XXH128_hash_t hash = XXH3_128bits(tenant.data(), tenant.size());
    WalletKey key{};
    key[0] = 'w';
    put_u64(key.data() + 1, hash.high64);
    put_u64(key.data() + 9, hash.low64);
    return key;
}

LeaseCellKey lease_cell_key(std::string_view tenant, std::string_view meter) {
    const XXH128_hash_t hash = tenant_meter_hash(tenant, meter);
    LeaseCellKey key{};
    key[0] = 'q';
    put_u64(key.data() + 1, hash.high64);
    put_u64(key.data() + 9, hash.low64);
    return key;
}

std::string encode_lease_cell(const std::vector<LeaseRecord>& held) {
    std::string out(held.size() * 32, '\0');
    for (std::size_t index = 0; index < held.size(); ++index) {
        char* at = out.data() + index * 32;
        put_u64(at, held[index].lease.high);
        put_u64(at + 8, held[index].lease.low);
        put_u64(at + 16, static_cast<std::uint64_t>(held[index].expires_us));
        put_u64(at + 24, static_cast<std::uint64_t>(held[index].slots_micros));
    }
    return out;
}

std::optional<std::vector<LeaseRecord>> decode_lease_cell(std::string_view value) {
    if (value.size() % 32 != 0) {
        return std::nullopt;
    }
    std::vector<LeaseRecord> held(value.size() / 32);
    for (std::size_t index = 0; index < held.size(); ++index) {
        const char* at = value.data() + index * 32;
        held[index] = LeaseRecord{DedupKey{get_u64(at), get_u64(at + 8)},
                                  static_cast<std::int64_t>(get_u64(at + 16)),
                                  static_cast<std::int64_t>(get_u64(at + 24))};
    }
    return held;
}

void decide_leases(std::span<const LeaseCheck> checks, std::span<LeaseCell> cells,
                   std::span<Decision> decisions, std::span<LeaseResult> results) {
    UL_CHECK(checks.size() == results.size(), "decide_leases: checks and results differ in size");
    for (std::size_t index = 0; index < checks.size(); ++index) {
        const LeaseCheck& check = checks[index];
        UL_CHECK(check.cell < cells.size() && check.candidate < decisions.size(),
                 "decide_leases: an index out of range");
        LeaseCell& cell = cells[check.cell];
        Decision& decision = decisions[check.candidate];
        LeaseResult& result = results[index];
        result = LeaseResult{};
        if (decision.verdict == Verdict::accepted) {
            std::erase_if(cell.held, [&](const LeaseRecord& held) {
                return held.expires_us <= check.time_us;
            });
            if (check.op.release) {
                const auto before = cell.held.size();
                std::erase_if(cell.held, [&](const LeaseRecord& held) {
                    return held.lease == check.op.lease;
                });
                result.released = cell.held.size() != before;
            } else {
                std::int64_t held = 0;  // ≤ limit ≤ 10^18
                for (const LeaseRecord& record : cell.held) {
                    held += record.slots_micros;
                }
                if (held + check.slots_micros <= cell.limit_micros) {
                    cell.held.push_back(
                        LeaseRecord{check.op.lease, check.op.expires_us, check.slots_micros});
                    result.expires_us = check.op.expires_us;
                } else {
                    decision =
                        Decision{Verdict::rejected_limit, Reason::limit_exceeded, kDecidedByStore};
                    for (const LeaseRecord& record : cell.held) {
                        result.expires_us = result.expires_us == 0
                                                ? record.expires_us
                                                : std::min(result.expires_us, record.expires_us);
                    }
                }
            }
        }
        for (const LeaseRecord& record : cell.held) {
            result.held_micros += record.slots_micros;
        }
    }
}

}  // namespace ul
