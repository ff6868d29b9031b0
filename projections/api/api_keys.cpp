#include "projections/api/api_keys.h"

#include <mutex>

namespace ul {

void ApiKeys::add_admin_key(std::string_view key) {
    std::unique_lock lock(mutex_);
    admin_hashes_.insert(sha256_hex(key));
}

void ApiKeys::set_tenant_key_hash(std::string_view tenant_id, std::string_view sha256_hex_of_key) {
    std::unique_lock lock(mutex_);
    const std::string tenant(tenant_id);
    if (const auto old = hash_by_tenant_.find(tenant); old != hash_by_tenant_.end()) {
        // Only if the old hash still names this tenant: another tenant may have taken it since.
        if (const auto owner = tenant_by_hash_.find(old->second);
            owner != tenant_by_hash_.end() && owner->second == tenant) {
            tenant_by_hash_.erase(owner);
        }
    }
    hash_by_tenant_[tenant] = std::string(sha256_hex_of_key);
    tenant_by_hash_[std::string(sha256_hex_of_key)] = tenant;
}

void ApiKeys::replace_tenant_keys(const std::map<std::string, std::string>& hash_by_tenant) {
    std::map<std::string, std::string> tenant_by_hash;
    std::map<std::string, std::string> kept;
    std::set<std::string> ambiguous;
    for (const auto& [tenant, hash] : hash_by_tenant) {
        if (hash.empty()) {
            continue;
        }
        if (!tenant_by_hash.emplace(hash, tenant).second) {
            ambiguous.insert(hash);
        }
    }
    for (const auto& hash : ambiguous) {
        tenant_by_hash.erase(hash);
    }
    for (const auto& [hash, tenant] : tenant_by_hash) {
        kept.emplace(tenant, hash);
    }
    std::unique_lock lock(mutex_);
    tenant_by_hash_ = std::move(tenant_by_hash);
    hash_by_tenant_ = std::move(kept);
}

std::optional<ApiPrincipal> ApiKeys::find(std::string_view authorization_header) const {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization_header.size() <= kBearer.size() ||
        authorization_header.substr(0, kBearer.size()) != kBearer) {
        return std::nullopt;
    }
    // Lookups are by the key's hash, so no comparison ever runs over the secret itself.
    const std::string hash = sha256_hex(authorization_header.substr(kBearer.size()));
    std::shared_lock lock(mutex_);
    if (admin_hashes_.contains(hash)) {
        return ApiPrincipal{true, ""};
    }
    if (const auto found = tenant_by_hash_.find(hash); found != tenant_by_hash_.end()) {
        return ApiPrincipal{false, found->second};
    }
    return std::nullopt;
}

}  // namespace ul
