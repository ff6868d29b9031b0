#include "schemas/account.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "schemas/canonical.h"
#include "schemas/check.h"
#include "schemas/time.h"

namespace ul {
namespace {

bool tenant_ok(std::string_view tenant) {
    return !tenant.empty() && tenant.size() <= 64 &&
           std::all_of(tenant.begin(), tenant.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == ':' || c == '-';
           });
}

bool printable(std::string_view text, std::size_t max) {
    return text.size() <= max && std::all_of(text.begin(), text.end(), [](char c) {
               return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
           });
}

bool rule_id_ok(std::string_view id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

// One alert rule object; errors start with `where` (e.g. "account.alert_rules[2]").
Result<AlertRule, std::string> parse_rule_element(simdjson::dom::element element,
                                                  const std::string& where, bool id_optional) {
    simdjson::dom::object object;
    if (element.get_object().get(object) != simdjson::SUCCESS) {
        return unexpected(where + ": must be an object");
    }
    AlertRule rule;
    bool has_id = false;
    bool has_meter = false;
    bool has_period = false;
    bool has_threshold = false;
    for (const auto field : object) {
        const std::string_view key = field.key;
        const std::string at = where + "." + std::string(key);
        std::string_view text;
        if (key == "id") {
            if (field.value.get_string().get(text) != simdjson::SUCCESS || !rule_id_ok(text)) {
                return unexpected(at + ": 1-64 of [A-Za-z0-9_-]");
            }
            rule.id = std::string(text);
            has_id = true;
        } else if (key == "meter") {
            if (field.value.get_string().get(text) != simdjson::SUCCESS || text.empty() ||
                !printable(text, 64)) {
                return unexpected(at + ": a meter name (1-64 printable bytes)");
            }
            rule.meter = std::string(text);
            has_meter = true;
        } else if (key == "period") {
            if (field.value.get_string().get(text) != simdjson::SUCCESS ||
                (text != "month" && text != "day")) {
                return unexpected(at + ": \"month\" or \"day\"");
            }
            rule.daily = text == "day";
            has_period = true;
        } else if (key == "threshold") {
            simdjson::dom::object threshold;
            if (field.value.get_object().get(threshold) != simdjson::SUCCESS ||
                threshold.size() != 1) {
                return unexpected(at + R"(: {"percent": "0.5"} or {"amount": "5000"})");
            }
            const auto only = *threshold.begin();
            const std::string_view kind = only.key;
            if (kind != "percent" && kind != "amount") {
                return unexpected(at + ": \"percent\" or \"amount\", not \"" + std::string(kind) +
                                  "\"");
            }
            if (only.value.get_string().get(text) != simdjson::SUCCESS) {
                return unexpected(at + "." + std::string(kind) + ": a decimal string");
            }
            auto value = Decimal::parse_quantity(text);
            if (!value) {
                return unexpected(at + "." + std::string(kind) + ": " +
                                  std::string(decimal_error_text(value.error())));
            }
            if (value->micros() <= 0) {
                return unexpected(at + "." + std::string(kind) + ": must be more than 0");
            }
            rule.amount = kind == "amount";
            if (!rule.amount && value->micros() > 10 * Decimal::kMicrosPerUnit) {
                return unexpected(at +
                                  ".percent: a fraction of the limit, at most 10 (0.8 = 80 %)");
            }
            rule.value = *value;
            has_threshold = true;
        } else {
            return unexpected(where + ": unknown field '" + std::string(key) + "'");
        }
    }
    if (!has_id && !id_optional) {
        return unexpected(where + ".id: required");
    }
    if (!has_meter) {
        return unexpected(where + ".meter: required");
    }
    if (!has_period) {
        return unexpected(where + ".period: required (\"month\" or \"day\")");
    }
    if (!has_threshold) {
        return unexpected(where +
                          R"(.threshold: required ({"percent": "0.5"} or {"amount": "5000"}))");
    }
    return rule;
}

}  // namespace

Result<AlertRule, std::string> parse_alert_rule(std::string_view json, bool id_optional) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    if (parser.parse(json.data(), json.size()).get(document) != simdjson::SUCCESS) {
        return unexpected(std::string("alert rule: not JSON"));
    }
    return parse_rule_element(document, "alert rule", id_optional);
}

void append_alert_rule_json(const AlertRule& rule, std::string& out) {
    out += "{\"id\":";
    append_json_string(out, rule.id);
    out += ",\"meter\":";
    append_json_string(out, rule.meter);
    out += rule.daily ? ",\"period\":\"day\"" : ",\"period\":\"month\"";
    out += rule.amount ? ",\"threshold\":{\"amount\":\"" : ",\"threshold\":{\"percent\":\"";
    out += rule.value.to_string();
    out += "\"}}";
}

namespace {

constexpr std::string_view kScopeNames[] = {"read", "ingest", "admin"};

bool hex64(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// One element of "api_keys"; errors start with `where` (e.g. "account.api_keys[2]").
Result<ApiKeyRecord, std::string> parse_key_element(simdjson::dom::element element,
                                                    const std::string& where) {
    simdjson::dom::object object;
    if (element.get_object().get(object) != simdjson::SUCCESS) {
        return unexpected(where + ": must be an object");
    }
    ApiKeyRecord key;
    bool has_scopes = false;
    bool has_created = false;
    for (const auto field : object) {
        const std::string_view name = field.key;
        const std::string at = where + "." + std::string(name);
        if (name == "scopes") {
            simdjson::dom::array list;
            if (field.value.get_array().get(list) != simdjson::SUCCESS) {
                return unexpected(at + ": an array of \"read\", \"ingest\", \"admin\"");
            }
            std::vector<std::string> names;
            for (const auto item : list) {
                std::string_view text;
                if (item.get_string().get(text) != simdjson::SUCCESS) {
                    return unexpected(at + ": an array of strings");
                }
                names.emplace_back(text);
            }
            auto scopes = parse_scopes(names);
            if (!scopes) {
                return unexpected(at + ": " + scopes.error());
            }
            key.scopes = *scopes;
            has_scopes = true;
            continue;
        }
        std::string_view text;
        if (field.value.get_string().get(text) != simdjson::SUCCESS) {
            if (name != "id" && name != "name" && name != "sha256" && name != "created_at" &&
                name != "revoked_at") {
                return unexpected(where + ": unknown field '" + std::string(name) + "'");
            }
            return unexpected(at + ": must be a string");
        }
        if (name == "id") {
            if (!rule_id_ok(text)) {
                return unexpected(at + ": 1-64 of [A-Za-z0-9_-]");
            }
            key.id = std::string(text);
        } else if (name == "name") {
            if (text.empty() || !printable(text, 64)) {
                return unexpected(at + ": 1-64 printable bytes");
            }
            key.name = std::string(text);
        } else if (name == "sha256") {
            if (!hex64(text)) {
                return unexpected(at + ": 64 lowercase hex digits");
            }
            key.sha256 = std::string(text);
        } else if (name == "created_at" || name == "revoked_at") {
            auto parsed = parse_rfc3339(text);
            if (!parsed) {
                return unexpected(at + ": " + parsed.error());
            }
            (name == "created_at" ? key.created_at_us : key.revoked_at_us) = *parsed;
            has_created = has_created || name == "created_at";
        } else {
            return unexpected(where + ": unknown field '" + std::string(name) + "'");
        }
    }
    for (const auto& [present, field] :
         {std::pair{!key.id.empty(), "id"}, std::pair{!key.name.empty(), "name"},
          std::pair{!key.sha256.empty(), "sha256"}, std::pair{has_scopes, "scopes"},
          std::pair{has_created, "created_at"}}) {
        if (!present) {
            return unexpected(where + "." + field + ": required");
        }
    }
    return key;
}

}  // namespace

Result<std::uint8_t, std::string> parse_scopes(const std::vector<std::string>& names) {
    if (names.empty()) {
        return unexpected(std::string("at least one scope: read, ingest, admin"));
    }
    std::uint8_t scopes = 0;
    for (const auto& name : names) {
        const auto* found = std::find(std::begin(kScopeNames), std::end(kScopeNames), name);
        if (found == std::end(kScopeNames)) {
            return unexpected("unknown scope '" + name + "' (read, ingest, admin)");
        }
        const auto bit = static_cast<std::uint8_t>(1U << (found - std::begin(kScopeNames)));
        if ((scopes & bit) != 0) {
            return unexpected("scope '" + name + "' given twice");
        }
        scopes |= bit;
    }
    return scopes;
}

std::string scopes_json(std::uint8_t scopes) {
    std::string out = "[";
    for (std::size_t index = 0; index < std::size(kScopeNames); ++index) {
        if ((scopes & (1U << index)) != 0) {
            out += out.size() == 1 ? "\"" : ",\"";
            out += kScopeNames[index];
            out += "\"";
        }
    }
    return out + "]";
}

std::vector<ActiveKey> active_keys(const Account& account) {
    std::vector<ActiveKey> keys;
    if (!account.api_key_sha256.empty()) {
        keys.push_back({kDefaultKeyId, account.api_key_sha256, kScopesAll});
    }
    for (const auto& key : account.api_keys) {
        if (key.revoked_at_us == 0) {
            keys.push_back({key.id, key.sha256, key.scopes});
        }
    }
    return keys;
}

Result<Account, std::string> parse_account(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    if (parser.parse(json.data(), json.size()).get(document) != simdjson::SUCCESS) {
        return unexpected(std::string("account: not JSON"));
    }
    simdjson::dom::object object;
    if (document.get_object().get(object) != simdjson::SUCCESS) {
        return unexpected(std::string("account: not a JSON object"));
    }
    Account account;
    bool has_tenant = false;
    bool has_plan = false;
    for (const auto field : object) {
        const std::string_view key = field.key;
        auto string_field = [&](std::string& out, std::size_t max) -> std::optional<std::string> {
            std::string_view text;
            if (field.value.get_string().get(text) != simdjson::SUCCESS) {
                return "account." + std::string(key) + ": must be a string";
            }
            if (!printable(text, max)) {
                return "account." + std::string(key) + ": at most " + std::to_string(max) +
                       " printable bytes";
            }
            out = std::string(text);
            return std::nullopt;
        };
        // An RFC 3339 text into µs.
        auto time_field = [&](std::int64_t& out) -> std::optional<std::string> {
            std::string text;
            if (auto error = string_field(text, 64)) {
                return error;
            }
            auto parsed = parse_rfc3339(text);
            if (!parsed) {
                return "account." + std::string(key) + ": " + parsed.error();
            }
            out = *parsed;
            return std::nullopt;
        };
        std::optional<std::string> error;
        if (key == "tenant_id") {
            error = string_field(account.tenant_id, 64);
            if (!error && !tenant_ok(account.tenant_id)) {
                error = "account.tenant_id: 1-64 of [A-Za-z0-9._:-]";
            }
            has_tenant = true;
        } else if (key == "plan") {
            error = string_field(account.plan, 64);
            if (!error && account.plan.empty()) {
                error = "account.plan: must not be empty";
            }
            has_plan = true;
        } else if (key == "billing_anchor_day") {
            std::int64_t day = 0;
            if (field.value.get_int64().get(day) != simdjson::SUCCESS || day < 1 || day > 31) {
                error = "account.billing_anchor_day: an integer 1..31";
            } else {
                account.billing_anchor_day = static_cast<int>(day);
            }
        } else if (key == "time_zone") {
            error = string_field(account.time_zone, 64);
        } else if (key == "api_key_sha256") {
            error = string_field(account.api_key_sha256, 64);
            if (!error && !account.api_key_sha256.empty() && !hex64(account.api_key_sha256)) {
                error = "account.api_key_sha256: 64 lowercase hex digits";
            }
        } else if (key == "stripe_customer_id") {
            error = string_field(account.stripe_customer_id, 255);
        } else if (key == "updated_at") {
            error = time_field(account.updated_at_us);
        } else if (key == "effective_at") {
            error = time_field(account.effective_at_us);
        } else if (key == "alert_rules") {
            simdjson::dom::array rules;
            if (field.value.get_array().get(rules) != simdjson::SUCCESS) {
                error = "account.alert_rules: must be an array";
            } else {
                for (const auto element : rules) {
                    const std::string where =
                        "account.alert_rules[" + std::to_string(account.alert_rules.size()) + "]";
                    auto rule = parse_rule_element(element, where, false);
                    if (!rule) {
                        error = rule.error();
                        break;
                    }
                    for (const auto& held : account.alert_rules) {
                        if (held.id == rule->id) {
                            error = where + ".id: '" + rule->id + "' is used twice";
                        }
                    }
                    account.alert_rules.push_back(std::move(*rule));
                    if (account.alert_rules.size() > 100) {
                        error = "account.alert_rules: at most 100";
                    }
                    if (error) {
                        break;
                    }
                }
            }
        } else if (key == "api_keys") {
            simdjson::dom::array keys;
            if (field.value.get_array().get(keys) != simdjson::SUCCESS) {
                error = "account.api_keys: must be an array";
            } else {
                for (const auto element : keys) {
                    const std::string where =
                        "account.api_keys[" + std::to_string(account.api_keys.size()) + "]";
                    auto parsed = parse_key_element(element, where);
                    if (!parsed) {
                        error = parsed.error();
                        break;
                    }
                    for (const auto& held : account.api_keys) {
                        if (held.id == parsed->id) {
                            error = where + ".id: '" + parsed->id + "' is used twice";
                        }
                    }
                    if (parsed->id == kDefaultKeyId) {
                        error = where + ".id: 'default' names the account's api_key_sha256";
                    }
                    account.api_keys.push_back(std::move(*parsed));
                    if (account.api_keys.size() > kApiKeysPerAccountMax) {
                        error =
                            "account.api_keys: at most " + std::to_string(kApiKeysPerAccountMax);
                    }
                    if (error) {
                        break;
                    }
                }
            }
        } else if (key == "alert_webhook") {
            simdjson::dom::object webhook;
            if (field.value.get_object().get(webhook) != simdjson::SUCCESS) {
                error = R"(account.alert_webhook: {"url": …, "secret": …})";
            } else {
                for (const auto part : webhook) {
                    std::string_view text;
                    const std::string_view name = part.key;
                    if ((name != "url" && name != "secret") ||
                        part.value.get_string().get(text) != simdjson::SUCCESS ||
                        !printable(text, 2048)) {
                        error = "account.alert_webhook." + std::string(name) +
                                ": \"url\" and \"secret\", printable strings";
                        break;
                    }
                    (name == "url" ? account.alert_webhook_url : account.alert_webhook_secret) =
                        std::string(text);
                }
                if (!error && account.alert_webhook_url.rfind("http://", 0) != 0 &&
                    account.alert_webhook_url.rfind("https://", 0) != 0) {
                    error = "account.alert_webhook.url: an http:// or https:// URL";
                }
            }
        } else {
            error = "account: unknown field '" + std::string(key) + "'";
        }
        if (error) {
            return unexpected(*error);
        }
    }
    if (!has_tenant) {
        return unexpected(std::string("account.tenant_id: required"));
    }
    if (!has_plan) {
        return unexpected(std::string("account.plan: required"));
    }
    return account;
}

namespace {

std::string hex_of(const unsigned char* bytes, std::size_t size) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t index = 0; index < size; ++index) {
        out.push_back(kHex[bytes[index] >> 4U]);
        out.push_back(kHex[bytes[index] & 15U]);
    }
    return out;
}

constexpr std::string_view kSignedPrefix = "usage-ledger account v1\n";

SignatureCheck compare_signature(const std::string& expected,
                                 const std::optional<std::string_view>& signature) {
    if (!signature) {
        return SignatureCheck::missing;
    }
    if (signature->size() != expected.size() ||
        CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
        return SignatureCheck::bad;
    }
    return SignatureCheck::ok;
}

}  // namespace

std::string sha256_hex(std::string_view text) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return hex_of(digest, SHA256_DIGEST_LENGTH);
}

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
        return {};
    }
    return hex_of(raw.data(), raw.size());
}

std::string hmac_sha256_hex(std::string_view secret, std::string_view message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    const unsigned char* made =
        HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &size);
    UL_CHECK(made != nullptr, "HMAC-SHA256 failed");
    return hex_of(digest, size);
}

std::string account_signature(std::string_view secret, std::string_view key,
                              std::string_view value) {
    std::string message(kSignedPrefix);
    message.append("set\n").append(key).append("\n").append(value);
    return hmac_sha256_hex(secret, message);
}

std::string tombstone_signature(std::string_view secret, std::string_view key,
                                std::string_view deleted_at) {
    std::string message(kSignedPrefix);
    message.append("delete\n").append(key).append("\n").append(deleted_at);
    return hmac_sha256_hex(secret, message);
}

SignatureCheck check_account_signature(std::string_view secret, std::string_view key,
                                       std::string_view value,
                                       const std::optional<std::string_view>& signature) {
    return compare_signature(account_signature(secret, key, value), signature);
}

SignedAccountRecord signed_account_record(std::string_view secret, const Account& account) {
    SignedAccountRecord record;
    record.key = account.tenant_id;
    record.value = account_json(account);
    record.headers.emplace_back(std::string(kSignatureHeader),
                                account_signature(secret, record.key, *record.value));
    return record;
}

SignedAccountRecord signed_tombstone_record(std::string_view secret, std::string_view tenant_id,
                                            std::int64_t deleted_at_us) {
    SignedAccountRecord record;
    record.key = std::string(tenant_id);
    const std::string deleted_at = format_rfc3339(deleted_at_us);
    record.headers.emplace_back(std::string(kDeletedAtHeader), deleted_at);
    record.headers.emplace_back(std::string(kSignatureHeader),
                                tombstone_signature(secret, record.key, deleted_at));
    return record;
}

SignatureCheck check_tombstone_signature(std::string_view secret, std::string_view key,
                                         const std::optional<std::string_view>& deleted_at,
                                         const std::optional<std::string_view>& signature) {
    if (!signature) {
        return SignatureCheck::missing;
    }
    if (!deleted_at) {
        return SignatureCheck::bad;  // a signature over nothing it could name
    }
    return compare_signature(tombstone_signature(secret, key, *deleted_at), signature);
}

namespace {

// The account's JSON; `put`: without what the server owns (tenant_id, api_key_sha256,
// updated_at, api_keys), as the body of PUT /v1/admin/accounts/{tenant}.
std::string account_text(const Account& account, bool redact, bool put) {
    std::string out = "{";
    if (!put) {
        out += "\"tenant_id\":";
        append_json_string(out, account.tenant_id);
        out += ",";
    }
    out += "\"plan\":";
    append_json_string(out, account.plan);
    out += ",\"billing_anchor_day\":" + std::to_string(account.billing_anchor_day);
    out += ",\"time_zone\":";
    append_json_string(out, account.time_zone);
    if (!put) {
        out += ",\"api_key_sha256\":";
        append_json_string(out, account.api_key_sha256);
    }
    out += ",\"stripe_customer_id\":";
    append_json_string(out, account.stripe_customer_id);
    if (!put) {
        out += ",\"updated_at\":\"" + format_rfc3339(account.updated_at_us) + "\"";
    }
    if (account.effective_at_us != 0) {
        out += ",\"effective_at\":\"" + format_rfc3339(account.effective_at_us) + "\"";
    }
    if (!account.alert_rules.empty()) {
        out += ",\"alert_rules\":[";
        for (std::size_t index = 0; index < account.alert_rules.size(); ++index) {
            out += index == 0 ? "" : ",";
            append_alert_rule_json(account.alert_rules[index], out);
        }
        out += "]";
    }
    if (!account.alert_webhook_url.empty()) {
        out += ",\"alert_webhook\":{\"url\":";
        append_json_string(out, account.alert_webhook_url);
        out += ",\"secret\":";
        append_json_string(
            out, redact ? std::string_view(account.alert_webhook_secret.empty() ? "" : "set")
                        : std::string_view(account.alert_webhook_secret));
        out += "}";
    }
    if (!put && !account.api_keys.empty()) {
        out += ",\"api_keys\":[";
        for (std::size_t index = 0; index < account.api_keys.size(); ++index) {
            const ApiKeyRecord& key = account.api_keys[index];
            out += index == 0 ? "{\"id\":" : ",{\"id\":";
            append_json_string(out, key.id);
            out += ",\"name\":";
            append_json_string(out, key.name);
            if (!redact) {
                out += ",\"sha256\":\"" + key.sha256 + "\"";
            }
            out += ",\"scopes\":" + scopes_json(key.scopes);
            out += ",\"created_at\":\"" + format_rfc3339(key.created_at_us) + "\"";
            if (key.revoked_at_us != 0) {
                out += ",\"revoked_at\":\"" + format_rfc3339(key.revoked_at_us) + "\"";
            }
            out += "}";
        }
        out += "]";
    }
    out += "}";
    return out;
}

}  // namespace

std::string account_json(const Account& account, bool redact) {
    return account_text(account, redact, /*put=*/false);
}

std::string account_put_json(const Account& account) {
    return account_text(account, /*redact=*/false, /*put=*/true);
}

}  // namespace ul
