#include "ledger/limits.h"

#include <xxhash.h>

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

}  // namespace

LimitCellKey limit_cell_key(std::string_view tenant, std::string_view meter,
                            std::int64_t period_start_us) {
    // Tenant ids (≤ 64 bytes) never hold 0x00, so tenant, 0x00, meter (≤ 64) is injective.
    std::array<char, 160> input{};
    UL_CHECK(tenant.size() + 1 + meter.size() <= input.size(), "limit cell: ids too long");
    std::memcpy(input.data(), tenant.data(), tenant.size());
    std::memcpy(input.data() + tenant.size() + 1, meter.data(), meter.size());
    const XXH128_hash_t hash = XXH3_128bits(input.data(), tenant.size() + 1 + meter.size());
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

}  // namespace ul
