// The accounts and keys routes of the query API (query_api.h). Accounts live in usage.accounts
// (signed, compacted; schemas/account.h): every change here is a new account version published
// by this process, answered once the projection of this process holds it. Keys are part of the
// account, stored as SHA-256 hashes; a new key is shown once, in the answer that creates it.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "projections/api/account_put.h"
#include "projections/api/query_api.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

HttpResponse answer(int status, std::string body) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
}

HttpResponse no_content() {
    HttpResponse response;
    response.status = 204;
    response.content_type.clear();
    return response;
}

// Waits (up to 10 s) until `held` says the projection of this process holds the change.
template <typename Held>
void wait_until_held(const Held& held) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!held() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::string key_json(const ApiKeyRecord& key, const std::optional<std::int64_t>& last_used) {
    std::string out = "{\"id\":";
    append_json_string(out, key.id);
    out += ",\"name\":";
    append_json_string(out, key.name);
    out += ",\"scopes\":" + scopes_json(key.scopes);
    out += ",\"created_at\":";
    out += key.created_at_us == 0 ? "null" : "\"" + format_rfc3339(key.created_at_us) + "\"";
    out += ",\"last_used_at\":";
    out += last_used ? "\"" + format_rfc3339(*last_used) + "\"" : "null";
    out += ",\"revoked_at\":";
    out += key.revoked_at_us == 0 ? "null" : "\"" + format_rfc3339(key.revoked_at_us) + "\"";
    return out + "}";
}

}  // namespace

Result<Account, HttpResponse> QueryApi::change_account(const std::string& tenant,
                                                       AccountChangeMode mode,
                                                       const AccountEdit& edit) {
    if (!options_.publish_account) {
        return unexpected(
            json_error(503, "accounts_unavailable", "this process cannot publish account changes"));
    }
    // One change at a time in this process: each reads the version the one before published.
    std::lock_guard changing(account_changes_mutex_);
    const std::int64_t now = options_.now_us();
    Account account;
    const auto current = projections_.account(tenant);
    if (current) {
        account = *current;
        if (mode != AccountChangeMode::replace && account.effective_from() > now) {
            return unexpected(
                json_error(409, "scheduled_change",
                           "the account has a change scheduled for " +
                               format_rfc3339(account.effective_from()) +
                               "; change it after that takes effect, or replace it with PUT "
                               "/v1/admin/accounts/" +
                               tenant));
        }
    } else if (mode == AccountChangeMode::existing) {
        return unexpected(json_error(404, "account_not_found",
                                     "tenant " + tenant +
                                         " has no account; create it with PUT "
                                         "/v1/admin/accounts/" +
                                         tenant));
    } else {
        account.tenant_id = tenant;
        account.plan = plans_.default_plan;
        account.time_zone = "UTC";
    }
    if (auto refused = edit(account, now)) {
        return unexpected(std::move(*refused));
    }
    // This server writes only accounts whose plan it knows (as `account set` checks against its
    // plans file): one written with another plans file is not republished from here.
    if (plans_.find(account.plan) == nullptr) {
        return unexpected(json_error(409, "unknown_plan",
                                     "the account's plan " + account.plan +
                                         " is not in this server's plans file; replace the "
                                         "account with PUT /v1/admin/accounts/" +
                                         tenant + " first"));
    }
    account.updated_at_us = std::max(now, current ? current->updated_at_us + 1 : now);
    if (mode != AccountChangeMode::replace || account.effective_at_us == 0) {
        account.effective_at_us = account.updated_at_us;
    }
    if (auto published = options_.publish_account(account); !published) {
        return unexpected(json_error(503, "accounts_unavailable", published.error()));
    }
    // Answer once this process holds the version (its next read sees the change).
    wait_until_held([&] {
        const auto held = projections_.account(tenant);
        return held && held->updated_at_us >= account.updated_at_us;
    });
    return account;
}

HttpResponse QueryApi::list_accounts(const HttpRequest& request) const {
    std::size_t limit = 1000;
    std::string after;
    for (const auto& [name, value] : request.query) {
        if (name == "limit") {
            std::size_t parsed = 0;
            const auto [end, error] =
                std::from_chars(value.data(), value.data() + value.size(), parsed);
            if (error != std::errc() || end != value.data() + value.size() || parsed < 1 ||
                parsed > 10'000) {
                return json_error(400, "invalid_parameter", "limit: 1 to 10000");
            }
            limit = parsed;
        } else if (name == "cursor") {
            after = value;
        } else {
            return json_error(400, "invalid_parameter",
                              "unknown parameter '" + name + "' (limit, cursor)");
        }
    }
    std::vector<Account> accounts = projections_.accounts();
    std::sort(accounts.begin(), accounts.end(),
              [](const Account& a, const Account& b) { return a.tenant_id < b.tenant_id; });
    std::string body = "{\"accounts\":[";
    std::size_t listed = 0;
    std::string last;
    bool more = false;
    for (const auto& account : accounts) {
        if (!after.empty() && account.tenant_id <= after) {
            continue;
        }
        if (listed == limit) {
            more = true;
            break;
        }
        body += listed++ == 0 ? "" : ",";
        body += account_json(account, /*redact=*/true);
        last = account.tenant_id;
    }
    body += "],\"next_cursor\":";
    if (more) {
        append_json_string(body, last);
    } else {
        body += "null";
    }
    return answer(200, body + "}");
}

HttpResponse QueryApi::list_keys(const std::string& tenant) const {
    const auto account = projections_.account(tenant);
    if (!account) {
        return json_error(404, "account_not_found", "tenant " + tenant + " has no account");
    }
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body += ",\"keys\":[";
    bool first = true;
    if (!account->api_key_sha256.empty()) {
        const ApiKeyRecord legacy{std::string(kDefaultKeyId),
                                  "account key (account set --api-key)",
                                  "",
                                  kScopesAll,
                                  0,
                                  0};
        body += key_json(legacy, keys_.last_used(tenant, kDefaultKeyId));
        first = false;
    }
    for (const auto& key : account->api_keys) {
        body += first ? "" : ",";
        first = false;
        body += key_json(key, keys_.last_used(tenant, key.id));
    }
    return answer(200, body + "]}");
}

HttpResponse QueryApi::create_key(const HttpRequest& request, const std::string& tenant) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    simdjson::dom::object object;
    if (parser.parse(request.body.data(), request.body.size()).get(document) != simdjson::SUCCESS ||
        document.get_object().get(object) != simdjson::SUCCESS) {
        return json_error(
            400, "invalid_key",
            R"(the body must be {"name": "…", "scopes": ["read", "ingest", "admin"]})");
    }
    std::string name;
    std::vector<std::string> scope_names;
    bool has_scopes = false;
    for (const auto field : object) {
        const std::string_view key = field.key;
        std::string_view text;
        if (key == "name" && field.value.get_string().get(text) == simdjson::SUCCESS) {
            name = std::string(text);
        } else if (key == "scopes" && field.value.is_array()) {
            has_scopes = true;
            for (const auto item : field.value.get_array()) {
                if (item.get_string().get(text) != simdjson::SUCCESS) {
                    return json_error(400, "invalid_key", "scopes: an array of strings");
                }
                scope_names.emplace_back(text);
            }
        } else {
            return json_error(400, "invalid_key",
                              "unknown field or wrong type: '" + std::string(key) +
                                  "' (name: a string, scopes: an array)");
        }
    }
    if (name.empty() || name.size() > 64 || std::any_of(name.begin(), name.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        })) {
        return json_error(400, "invalid_key", "name: 1-64 printable bytes (required)");
    }
    if (!has_scopes) {
        return json_error(400, "invalid_key", "scopes: required, e.g. [\"read\", \"ingest\"]");
    }
    auto scopes = parse_scopes(scope_names);
    if (!scopes) {
        return json_error(400, "invalid_key", "scopes: " + scopes.error());
    }
    const std::string secret = random_hex(32);
    const std::string id_hex = random_hex(8);
    if (secret.empty() || id_hex.empty()) {
        return json_error(500, "internal", "the random generator failed");
    }
    const std::string key_text = "ulk_" + secret;
    ApiKeyRecord record{"key_" + id_hex, name, sha256_hex(key_text), *scopes, 0, 0};
    auto changed =
        change_account(tenant, AccountChangeMode::existing,
                       [&](Account& account, std::int64_t now) -> std::optional<HttpResponse> {
                           if (account.api_keys.size() >= kApiKeysPerAccountMax) {
                               // Room is made by forgetting the oldest revoked key; active keys
                               // stay.
                               const auto revoked = std::find_if(
                                   account.api_keys.begin(), account.api_keys.end(),
                                   [](const ApiKeyRecord& key) { return key.revoked_at_us != 0; });
                               if (revoked == account.api_keys.end()) {
                                   return json_error(409, "too_many_keys",
                                                     "a tenant has at most " +
                                                         std::to_string(kApiKeysPerAccountMax) +
                                                         " keys; revoke one first");
                               }
                               account.api_keys.erase(revoked);
                           }
                           record.created_at_us = now;
                           account.api_keys.push_back(record);
                           return std::nullopt;
                       });
    if (!changed) {
        return changed.error();
    }
    std::string body = key_json(record, std::nullopt);
    body.pop_back();
    body += ",\"tenant_id\":";
    append_json_string(body, tenant);
    body += ",\"key\":\"" + key_text + "\"}";
    HttpResponse response = answer(201, std::move(body));
    response.headers.emplace_back("Location", "/v1/tenants/" + tenant + "/keys/" + record.id);
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
}

HttpResponse QueryApi::revoke_key(const std::string& tenant, const std::string& id) {
    auto changed = change_account(
        tenant, AccountChangeMode::existing,
        [&](Account& account, std::int64_t now) -> std::optional<HttpResponse> {
            if (id == kDefaultKeyId && !account.api_key_sha256.empty()) {
                account.api_key_sha256.clear();
                return std::nullopt;
            }
            for (auto& key : account.api_keys) {
                if (key.id == id) {
                    if (key.revoked_at_us != 0) {
                        return no_content();  // revoked before: nothing to publish
                    }
                    key.revoked_at_us = now;
                    return std::nullopt;
                }
            }
            return json_error(404, "key_not_found", "tenant " + tenant + " has no key " + id);
        });
    return changed ? no_content() : changed.error();
}

HttpResponse QueryApi::put_account(const HttpRequest& request, const std::string& tenant) {
    const std::int64_t now = options_.now_us();
    auto wanted = account_from_put(tenant, request.body, now);
    if (!wanted) {
        return json_error(400, "invalid_account", wanted.error());
    }
    if (plans_.find(wanted->plan) == nullptr) {
        std::string known;
        for (const auto& plan : plans_.plans) {
            known += (known.empty() ? "" : ", ") + plan.id;
        }
        return json_error(400, "unknown_plan",
                          "account.plan: " + wanted->plan +
                              " is not in this server's plans file (" + known + ")");
    }
    const bool existed = projections_.account(tenant).has_value();
    auto changed =
        change_account(tenant, AccountChangeMode::replace,
                       [&](Account& account, std::int64_t) -> std::optional<HttpResponse> {
                           // Everything but the keys is replaced.
                           Account next = *wanted;
                           next.api_key_sha256 = account.api_key_sha256;
                           next.api_keys = account.api_keys;
                           account = std::move(next);
                           return std::nullopt;
                       });
    if (!changed) {
        return changed.error();
    }
    HttpResponse response = answer(existed ? 200 : 201, account_json(*changed, /*redact=*/true));
    if (!existed) {
        response.headers.emplace_back("Location", "/v1/admin/accounts/" + tenant);
    }
    return response;
}

HttpResponse QueryApi::delete_account(const std::string& tenant) {
    if (!options_.publish_tombstone) {
        return json_error(503, "accounts_unavailable",
                          "this process cannot publish account changes");
    }
    std::lock_guard changing(account_changes_mutex_);
    if (!projections_.account(tenant)) {
        return json_error(404, "account_not_found", "tenant " + tenant + " has no account");
    }
    if (auto published = options_.publish_tombstone(tenant, options_.now_us()); !published) {
        return json_error(503, "accounts_unavailable", published.error());
    }
    wait_until_held([&] { return !projections_.account(tenant).has_value(); });
    return no_content();
}

void QueryApi::install_accounts(HttpServer& server) {
    using Params = std::map<std::string, std::string>;
    // Admin-key routes: the accounts.
    auto admin_route = [this, &server](const char* method, const char* pattern, auto handler) {
        server.route(method, pattern,
                     [this, handler](const HttpRequest& request, const Params& params) {
                         if (auto denied = authorize(request, nullptr)) {
                             return *denied;
                         }
                         return handler(request, params);
                     });
    };
    admin_route("GET", "/v1/admin/accounts", [this](const HttpRequest& request, const Params&) {
        return list_accounts(request);
    });
    admin_route(
        "GET", "/v1/admin/accounts/{tenant}", [this](const HttpRequest&, const Params& params) {
            const std::string& tenant = params.at("tenant");
            const auto account = projections_.account(tenant);
            if (!account) {
                return json_error(404, "account_not_found", "tenant " + tenant + " has no account");
            }
            return answer(200, account_json(*account, /*redact=*/true));
        });
    admin_route("PUT", "/v1/admin/accounts/{tenant}",
                [this](const HttpRequest& request, const Params& params) {
                    return put_account(request, params.at("tenant"));
                });
    admin_route("DELETE", "/v1/admin/accounts/{tenant}",
                [this](const HttpRequest&, const Params& params) {
                    return delete_account(params.at("tenant"));
                });
    // The tenant's keys: an admin key, or a key of the tenant with the admin scope.
    tenant_route(
        server, "GET", "/v1/tenants/{tenant}/keys",
        [this](const HttpRequest&, const std::string& tenant, const Params&) {
            return list_keys(tenant);
        },
        kScopeAdmin);
    tenant_route(server, "POST", "/v1/tenants/{tenant}/keys",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     return create_key(request, tenant);
                 });
    tenant_route(server, "DELETE", "/v1/tenants/{tenant}/keys/{id}",
                 [this](const HttpRequest&, const std::string& tenant, const Params& params) {
                     return revoke_key(tenant, params.at("id"));
                 });
}

}  // namespace ul
