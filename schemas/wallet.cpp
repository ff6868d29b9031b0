#include "schemas/wallet.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <numeric>

#include "schemas/decimal.h"
#include "schemas/text.h"
#include "schemas/time.h"

namespace ul {
namespace {

const Property* property_of(const UsageEvent& event, std::string_view key) {
    for (std::size_t index = 0; index < event.property_count; ++index) {
        if (event.properties[index].key == key) {
            return &event.properties[index];
        }
    }
    return nullptr;
}

bool burns_before(const CreditGrant& left, const CreditGrant& right) {
    if (left.priority != right.priority) {
        return left.priority < right.priority;
    }
    if (left.expires_us != right.expires_us) {
        return left.expires_us < right.expires_us;
    }
    if (left.granted_us != right.granted_us) {
        return left.granted_us < right.granted_us;
    }
    return left.id < right.id;
}

std::int64_t total_remaining(const Wallet& wallet) {
    std::int64_t total = 0;  // each ≤ 10^18 / … : a wallet holds at most what was granted
    for (const CreditGrant& grant : wallet.grants) {
        total += grant.remaining_micros;
    }
    return total;
}

std::string clean(std::string_view text) {
    std::string out(text.substr(0, 200));
    std::replace_if(
        out.begin(), out.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
    return out;
}

}  // namespace

Result<CreditOp, std::string> credit_op_of(const UsageEvent& event, const CreditRule& rule) {
    CreditOp op;
    op.id = event.idempotency_key;
    if (event.meter == kCreditGrantMeter) {
        op.grant = true;
        op.micros = event.quantity.micros();
        if (const Property* priority = property_of(event, "priority")) {
            if (priority->kind != PropertyKind::number ||
                !parse_integer(priority->value, op.priority) || op.priority < 0 ||
                op.priority > 1000) {
                return unexpected(std::string("a grant's priority is a whole number 0..1000"));
            }
        }
        if (const Property* expires = property_of(event, "expires_at")) {
            auto at =
                expires->kind == PropertyKind::string
                    ? parse_rfc3339(expires->value)
                    : Result<std::int64_t, std::string>(unexpected(std::string("not a string")));
            if (!at) {
                return unexpected("a grant's expires_at is an RFC 3339 time: " + at.error());
            }
            op.expires_us = *at;
        }
        if (const Property* source = property_of(event, "source")) {
            op.source = source->value;
        }
        return op;
    }
    auto cost = checked_multiply(DecimalSum::from_micros(event.quantity.micros()),
                                 Decimal::from_micros(rule.credits_per_unit_micros));
    if (!cost || cost->micros() > Decimal::kMaxQuantityMicros) {
        return unexpected(std::string("the event's cost in credits is above 10^12"));
    }
    op.micros = static_cast<std::int64_t>(cost->micros());
    return op;
}

WalletChange apply_wallet(Wallet& wallet, const CreditRule& rule, const CreditOp& op,
                          std::int64_t time_us) {
    WalletChange change;
    Wallet next = wallet;
    // 1. A new allowance month.
    if (rule.monthly_micros > 0 && rule.month_start_us > next.allowance_month_us) {
        std::int64_t left = 0;
        for (const CreditGrant& grant : next.grants) {
            if (grant.allowance && grant.expires_us == rule.month_start_us) {
                left = grant.remaining_micros;  // last month's, if last month had one
            }
        }
        change.carried_over_micros = std::min(left, rule.rollover_cap_micros);
        std::erase_if(next.grants, [](const CreditGrant& grant) { return grant.allowance; });
        change.allowance_micros = rule.monthly_micros + change.carried_over_micros;
        next.grants.push_back(CreditGrant{"allowance:" + std::to_string(rule.month_start_us),
                                          "plan", 0, rule.month_start_us, rule.month_end_us,
                                          change.allowance_micros, change.allowance_micros, true});
        next.allowance_month_us = rule.month_start_us;
    }
    // 2. Expiry.
    for (const CreditGrant& grant : next.grants) {
        if (grant.expires_us <= time_us) {
            change.expired_micros += grant.remaining_micros;
        }
    }
    std::erase_if(next.grants,
                  [&](const CreditGrant& grant) { return grant.expires_us <= time_us; });
    // 3. The op.
    if (op.grant) {
        if (op.expires_us > time_us && op.micros > 0) {
            next.grants.push_back(CreditGrant{std::string(op.id), clean(op.source), op.priority,
                                              time_us, op.expires_us, op.micros, op.micros, false});
        }
    } else if (op.micros > 0) {
        if (rule.hard && total_remaining(next) < op.micros) {
            change = WalletChange{};
            change.refused = true;
            change.balance_after_micros = wallet_balance(wallet, time_us);
            return change;
        }
        std::vector<std::size_t> order(next.grants.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::sort(order.begin(), order.end(), [&](std::size_t left, std::size_t right) {
            return burns_before(next.grants[left], next.grants[right]);
        });
        std::int64_t owed = op.micros;
        for (const std::size_t index : order) {
            CreditGrant& grant = next.grants[index];
            const std::int64_t taken = std::min(owed, grant.remaining_micros);
            if (taken == 0) {
                continue;
            }
            grant.remaining_micros -= taken;
            owed -= taken;
            change.burned.push_back(CreditMove{grant.id, taken});
            if (owed == 0) {
                break;
            }
        }
        change.uncovered_micros = owed;
        // Used-up grants other than the month's allowance leave the wallet.
        std::erase_if(next.grants, [](const CreditGrant& grant) {
            return !grant.allowance && grant.remaining_micros == 0;
        });
    }
    change.balance_after_micros = total_remaining(next);
    wallet = std::move(next);
    return change;
}

std::int64_t wallet_balance(const Wallet& wallet, std::int64_t time_us) {
    std::int64_t total = 0;
    for (const CreditGrant& grant : wallet.grants) {
        if (grant.expires_us > time_us) {
            total += grant.remaining_micros;
        }
    }
    return total;
}

std::string encode_wallet(const Wallet& wallet) {
    std::string out = "A" + std::to_string(wallet.allowance_month_us) + "\n";
    for (const CreditGrant& grant : wallet.grants) {
        out += grant.id + "\t" + grant.source + "\t" + std::to_string(grant.priority) + "\t" +
               std::to_string(grant.granted_us) + "\t" + std::to_string(grant.expires_us) + "\t" +
               std::to_string(grant.amount_micros) + "\t" + std::to_string(grant.remaining_micros) +
               "\t" + (grant.allowance ? "1" : "0") + "\n";
    }
    return out;
}

std::optional<Wallet> decode_wallet(std::string_view text) {
    Wallet wallet;
    const auto first = text.find('\n');
    if (text.empty() || text[0] != 'A' || first == std::string_view::npos ||
        !parse_integer(text.substr(1, first - 1), wallet.allowance_month_us)) {
        return std::nullopt;
    }
    text.remove_prefix(first + 1);
    while (!text.empty()) {
        const auto end = text.find('\n');
        if (end == std::string_view::npos) {
            return std::nullopt;
        }
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end + 1);
        std::array<std::string_view, 8> fields;
        if (!split_exact(line, '\t', fields)) {
            return std::nullopt;
        }
        CreditGrant grant{std::string(fields[0]), std::string(fields[1])};
        if (!parse_integer(fields[2], grant.priority) ||
            !parse_integer(fields[3], grant.granted_us) ||
            !parse_integer(fields[4], grant.expires_us) ||
            !parse_integer(fields[5], grant.amount_micros) ||
            !parse_integer(fields[6], grant.remaining_micros) ||
            (fields[7] != "0" && fields[7] != "1")) {
            return std::nullopt;
        }
        grant.allowance = fields[7] == "1";
        wallet.grants.push_back(std::move(grant));
    }
    return wallet;
}

}  // namespace ul
