// API keys of the query API, kept only as SHA-256 hashes: the server's admin keys, and each
// tenant's active keys with their scopes (schemas/account.h: the account's api_key_sha256 and its
// api_keys not revoked), rebuilt from the current accounts whenever they change. Remembers when
// each key was last used (since this process started). Thread-safe (shared_mutex; last use in
// relaxed atomics, so the hot path takes only the shared lock).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/account.h"  // sha256_hex(text): 64 lowercase hex digits (OpenSSL); scopes

namespace ul {

struct ApiPrincipal {
    bool admin = false;  // a server admin key: every route, every tenant
    std::string tenant_id;
    std::string key_id;                // the tenant key's id (empty for an admin key)
    std::uint8_t scopes = kScopesAll;  // kScopeRead | kScopeIngest | kScopeAdmin
    bool may(std::uint8_t scope) const { return admin || (scopes & scope) != 0; }
};

// A tenant key as the accounts hold it.
struct TenantKey {
    std::string tenant_id;
    std::string key_id;
    std::string sha256;
    std::uint8_t scopes = kScopesAll;
};

class ApiKeys {
  public:
    void add_admin_key(std::string_view key);
    // Replaces every tenant key at once: a key missing from `keys` stops working. A hash given
    // twice (to two tenants, or twice to one) names neither (an ambiguous key grants nothing).
    void replace_tenant_keys(const std::vector<TenantKey>& keys);
    // "Bearer <key>"; nullopt for an unknown key or a malformed header. The key is hashed and the
    // hash looked up, so no comparison ever runs over the secret itself. A tenant key found has
    // its last use set to `now_us`.
    std::optional<ApiPrincipal> find(std::string_view authorization_header,
                                     std::int64_t now_us = 0) const;
    // When the tenant's key `key_id` was last found (µs), nullopt if not since this process
    // started.
    std::optional<std::int64_t> last_used(std::string_view tenant_id,
                                          std::string_view key_id) const;

  private:
    struct Entry {
        TenantKey key;
        std::atomic<std::int64_t>* last_used = nullptr;  // owned by last_used_
    };
    mutable std::shared_mutex mutex_;
    std::set<std::string> admin_hashes_;
    std::map<std::string, Entry, std::less<>> by_hash_;
    // "tenant\nkey id" → last use; kept across rebuilds (a key's last use survives an account
    // change), entries never removed (one per key ever seen by this process).
    std::map<std::string, std::unique_ptr<std::atomic<std::int64_t>>, std::less<>> last_used_;
};

}  // namespace ul
