// An account: the value of the compacted usage.accounts topic (key: tenant_id). Plan, billing
// calendar, the SHA-256 of the tenant's API key, the Stripe customer. Pure; thread-safe.
// JSON: {"tenant_id":"acme","plan":"pro","billing_anchor_day":31,"time_zone":"America/New_York",
//        "api_key_sha256":"<64 hex>","stripe_customer_id":"cus_123","updated_at":"<RFC 3339>"}
// tenant_id and plan are required; the others may be absent (anchor 1, UTC, no key, no Stripe).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/result.h"

namespace ul {

struct Account {
    std::string tenant_id;
    std::string plan;
    int billing_anchor_day = 1;
    std::string time_zone;       // IANA name; empty = UTC
    std::string api_key_sha256;  // 64 lowercase hex digits, or empty
    std::string stripe_customer_id;
    std::int64_t updated_at_us = 0;
    friend bool operator==(const Account&, const Account&) = default;
};

// Strict: unknown keys, wrong types, a bad tenant id, an anchor outside 1..31, a key hash that is
// not 64 lowercase hex digits are errors naming the field. (The zone name is checked where the
// calendar is made: projections/windows.h.)
Result<Account, std::string> parse_account(std::string_view json);
std::string account_json(const Account& account);  // parse_account(account_json(a)) == a

// The SHA-256 of an API key as accounts store it: 64 lowercase hex digits.
std::string sha256_hex(std::string_view text);

}  // namespace ul
