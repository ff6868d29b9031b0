// API keys of the query API, kept only as SHA-256 hashes: admin keys, and one key per tenant
// (its account's api_key_sha256, rebuilt from the current accounts whenever they change).
// Thread-safe (shared_mutex): keys change while the server runs.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "schemas/account.h"  // sha256_hex(text): 64 lowercase hex digits (OpenSSL)

namespace ul {

struct ApiPrincipal {
    bool admin = false;
    std::string tenant_id;
};

class ApiKeys {
  public:
    void add_admin_key(std::string_view key);
    // Replaces the tenant's previous key.
    void set_tenant_key_hash(std::string_view tenant_id, std::string_view sha256_hex_of_key);
    // Replaces every tenant key at once with `hash_by_tenant` (tenant → SHA-256 hex; an empty
    // hash: no key): a tenant missing from it, or whose key changed, loses its old key. A hash
    // given to two tenants names neither (an ambiguous key grants nothing).
    void replace_tenant_keys(const std::map<std::string, std::string>& hash_by_tenant);
    // "Bearer <key>"; nullopt for an unknown key or a malformed header. The key is hashed and the
    // hash looked up, so no comparison ever runs over the secret itself.
    std::optional<ApiPrincipal> find(std::string_view authorization_header) const;

  private:
    mutable std::shared_mutex mutex_;
    std::set<std::string> admin_hashes_;
    std::map<std::string, std::string> tenant_by_hash_;
    std::map<std::string, std::string> hash_by_tenant_;
};

}  // namespace ul
