#include "projections/api/api_keys.h"

#include <mutex>

namespace ul {
namespace {

std::string last_used_key(std::string_view tenant_id, std::string_view key_id) {
    std::string out(tenant_id);
    out += '\n';
    out += key_id;
    return out;
}

}  // namespace

void ApiKeys::add_admin_key(std::string_view key) {
    std::unique_lock lock(mutex_);
    admin_hashes_.insert(sha256_hex(key));
}

void ApiKeys::replace_tenant_keys(const std::vector<TenantKey>& keys) {
    std::map<std::string, Entry, std::less<>> by_hash;
    std::set<std::string> ambiguous;
    for (const auto& key : keys) {
        if (key.sha256.empty()) {
            continue;
        }
        if (!by_hash.emplace(key.sha256, Entry{key, nullptr}).second) {
            ambiguous.insert(key.sha256);
        }
    }
    for (const auto& hash : ambiguous) {
        by_hash.erase(hash);
    }
    std::unique_lock lock(mutex_);
    for (auto& [hash, entry] : by_hash) {
        auto& slot = last_used_[last_used_key(entry.key.tenant_id, entry.key.key_id)];
        if (!slot) {
            slot = std::make_unique<std::atomic<std::int64_t>>(0);
        }
        entry.last_used = slot.get();
    }
    by_hash_ = std::move(by_hash);
}

std::optional<ApiPrincipal> ApiKeys::find(std::string_view authorization_header,
                                          std::int64_t now_us) const {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization_header.size() <= kBearer.size() ||
        authorization_header.substr(0, kBearer.size()) != kBearer) {
        return std::nullopt;
    }
    // Lookups are by the key's hash, so no comparison ever runs over the secret itself.
    const std::string hash = sha256_hex(authorization_header.substr(kBearer.size()));
    std::shared_lock lock(mutex_);
    if (admin_hashes_.contains(hash)) {
        return ApiPrincipal{true, "", "", kScopesAll};
    }
    if (const auto found = by_hash_.find(hash); found != by_hash_.end()) {
        const Entry& entry = found->second;
        entry.last_used->store(now_us, std::memory_order_relaxed);
        return ApiPrincipal{false, entry.key.tenant_id, entry.key.key_id, entry.key.scopes};
    }
    return std::nullopt;
}

std::optional<std::int64_t> ApiKeys::last_used(std::string_view tenant_id,
                                               std::string_view key_id) const {
    std::shared_lock lock(mutex_);
    const auto found = last_used_.find(last_used_key(tenant_id, key_id));
    if (found == last_used_.end()) {
        return std::nullopt;
    }
    const std::int64_t when = found->second->load(std::memory_order_relaxed);
    return when == 0 ? std::nullopt : std::optional<std::int64_t>(when);
}

}  // namespace ul
