// An account: the value of the compacted usage.accounts topic (key: tenant_id). Plan, billing
// calendar, the SHA-256 of the tenant's API key, the Stripe customer. Pure; thread-safe.
// JSON: {"tenant_id":"acme","plan":"pro","billing_anchor_day":31,"time_zone":"America/New_York",
//        "api_key_sha256":"<64 hex>","stripe_customer_id":"cus_123","updated_at":"<RFC 3339>",
//        "effective_at":"<RFC 3339>",
//        "alert_rules":[{"id":"r1","meter":"tokens","period":"month","threshold":{"percent":"0.5"}}],
//        "alert_webhook":{"url":"https://…","secret":"…"},
//        "api_keys":[{"id":"key_…","name":"ci","sha256":"<64 hex>","scopes":["read","ingest"],
//                     "created_at":"<RFC 3339>","revoked_at":"<RFC 3339>"?}]}
// tenant_id and plan are required; the others may be absent (anchor 1, UTC, no key, no Stripe,
// effective from updated_at, no alert rules of its own, no webhook). The alert rules are part of
// the account version so that the alerts reducer decides with the rules in force at an event's
// time, live and in replay alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schemas/decimal.h"
#include "schemas/result.h"

namespace ul {

// A tenant's own alert rule (the plan's percentage thresholds apply besides): raise an alert once
// when the usage of `meter` in a period reaches `value` — a fraction of the plan's monthly limit
// (percent; 0.5 = 50 %) or an absolute amount (works for unlimited meters too). Periods: the
// billing month, or the UTC day (the counters' day window).
struct AlertRule {
    std::string id;  // 1-64 of [A-Za-z0-9_-]
    std::string meter;
    bool daily = false;   // "period": "day"; else "month"
    bool amount = false;  // "threshold": {"amount": …}; else {"percent": …}
    Decimal value;        // > 0; a percent is at most 10 (1000 %)
    friend bool operator==(const AlertRule&, const AlertRule&) = default;
};
// {"id"?,"meter","period":"month"|"day","threshold":{"percent":"0.5"}|{"amount":"5000"}}; `id` is
// required unless `id_optional` (the API makes one). Errors name the field.
Result<AlertRule, std::string> parse_alert_rule(std::string_view json, bool id_optional = false);
void append_alert_rule_json(const AlertRule& rule, std::string& out);

// What a tenant's API key may do (bits): read (usage, history, entitlements, alerts, credits,
// leases, billing log), ingest (events, consume, leases), admin (the tenant's keys, alert rules,
// billing checkout and portal). The server's own admin keys (--admin-key) may do everything, for
// every tenant.
enum : std::uint8_t { kScopeRead = 1, kScopeIngest = 2, kScopeAdmin = 4, kScopesAll = 7 };
// ["read","ingest"] → bits; an empty list, an unknown or repeated name is an error.
Result<std::uint8_t, std::string> parse_scopes(const std::vector<std::string>& names);
// bits → ["read","ingest","admin"] (JSON, in that order).
std::string scopes_json(std::uint8_t scopes);

// One of a tenant's API keys, stored only as its SHA-256 (the key is shown once, at creation).
// A revoked key stays listed (revoked_at) and grants nothing.
struct ApiKeyRecord {
    std::string id;      // 1-64 of [A-Za-z0-9_-]; "key_" + 16 hex when the server makes it
    std::string name;    // 1-64 printable bytes
    std::string sha256;  // 64 lowercase hex digits
    std::uint8_t scopes = kScopesAll;
    std::int64_t created_at_us = 0;
    std::int64_t revoked_at_us = 0;  // 0: active
    friend bool operator==(const ApiKeyRecord&, const ApiKeyRecord&) = default;
};
inline constexpr std::size_t kApiKeysPerAccountMax = 100;
// The id the account's single key (api_key_sha256, as `account set --api-key` sets it) is listed
// and revoked under; it has every scope.
inline constexpr std::string_view kDefaultKeyId = "default";

struct Account {
    std::string tenant_id;
    std::string plan;
    int billing_anchor_day = 1;
    std::string time_zone;       // IANA name; empty = UTC
    std::string api_key_sha256;  // 64 lowercase hex digits, or empty
    std::string stripe_customer_id;
    std::int64_t updated_at_us = 0;
    // From when this version places the tenant's entries (their event time; µs); 0: absent, the
    // version is in force from its updated_at. projections/runner/account_history.h.
    std::int64_t effective_at_us = 0;
    std::vector<AlertRule> alert_rules;
    // Where alerts are POSTed (schemas: http or https URL) and the secret they are signed with
    // (never printed: account_json(…, redact) shows "secret":"set").
    std::string alert_webhook_url;
    std::string alert_webhook_secret;
    std::vector<ApiKeyRecord> api_keys;  // at most kApiKeysPerAccountMax, ids unique
    std::int64_t effective_from() const {
        return effective_at_us != 0 ? effective_at_us : updated_at_us;
    }
    friend bool operator==(const Account&, const Account&) = default;
};

// A key that grants something: the account's api_key_sha256 (id "default", every scope) and each
// of api_keys not revoked. Views into `account`.
struct ActiveKey {
    std::string_view id;
    std::string_view sha256;
    std::uint8_t scopes = 0;
};
std::vector<ActiveKey> active_keys(const Account& account);

// Strict: unknown keys, wrong types, a bad tenant id, an anchor outside 1..31, a key hash that is
// not 64 lowercase hex digits are errors naming the field. (The zone name is checked where the
// calendar is made: projections/runner/windows.h.)
Result<Account, std::string> parse_account(std::string_view json);
// parse_account(account_json(a)) == a. With `redact` the webhook secret is written as "set" and
// the keys' hashes are left out (what people and the API see; never parse it back).
std::string account_json(const Account& account, bool redact = false);
// The body of PUT /v1/admin/accounts/{tenant} for `account` (projections/api/account_put.h):
// account_json without what the server owns (tenant_id, api_key_sha256, updated_at, api_keys).
std::string account_put_json(const Account& account);

// The SHA-256 of an API key as accounts store it: 64 lowercase hex digits.
std::string sha256_hex(std::string_view text);
// `bytes` bytes of OpenSSL's CSPRNG (RAND_bytes) as lowercase hex; empty if the generator failed.
// API keys, key ids, the control-plane secret.
std::string random_hex(std::size_t bytes);

// The signed control plane. A record of usage.accounts counts only when it carries, in the Kafka
// header `signature`, the HMAC-SHA256 (64 lowercase hex digits) under the control-plane secret
// of what it says: "usage-ledger account v1\nset\n<key>\n<value>" for an account (the value holds
// the tenant and updated_at, so neither can be changed or moved to another key), and for a
// tombstone (no value) "usage-ledger account v1\ndelete\n<key>\n<deleted-at>" with the RFC 3339
// text of its header `deleted-at`. Replays of older records are refused by their time (the
// projection keeps the newest updated_at / deleted_at per tenant).
inline constexpr std::string_view kSignatureHeader = "signature";
inline constexpr std::string_view kDeletedAtHeader = "deleted-at";

std::string hmac_sha256_hex(std::string_view secret, std::string_view message);
std::string account_signature(std::string_view secret, std::string_view key,
                              std::string_view value);
std::string tombstone_signature(std::string_view secret, std::string_view key,
                                std::string_view deleted_at);

enum class SignatureCheck : std::uint8_t { ok, missing, bad };
// `signature`: the header's bytes, nullopt when absent. Compared in constant time.
SignatureCheck check_account_signature(std::string_view secret, std::string_view key,
                                       std::string_view value,
                                       const std::optional<std::string_view>& signature);
SignatureCheck check_tombstone_signature(std::string_view secret, std::string_view key,
                                         const std::optional<std::string_view>& deleted_at,
                                         const std::optional<std::string_view>& signature);

// A record ready for usage.accounts: key, value (nullopt: a tombstone) and headers.
struct SignedAccountRecord {
    std::string key;
    std::optional<std::string> value;
    std::vector<std::pair<std::string, std::string>> headers;
};
// account_json(account) signed; the key is its tenant.
SignedAccountRecord signed_account_record(std::string_view secret, const Account& account);
// A tombstone for `tenant_id` with its signed deleted-at header (RFC 3339 of deleted_at_us).
SignedAccountRecord signed_tombstone_record(std::string_view secret, std::string_view tenant_id,
                                            std::int64_t deleted_at_us);

// What the projection does with a verified record, given the version it holds for the tenant:
// the newest updated_at (an account) or deleted_at (a tombstone), nullopt when it never saw one.
// A record at or before the held version is stale (a replay, or the same record read again).
inline bool account_record_is_stale(std::int64_t record_time_us,
                                    const std::optional<std::int64_t>& held_time_us) {
    return held_time_us && record_time_us <= *held_time_us;
}

}  // namespace ul
