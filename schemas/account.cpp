#include "schemas/account.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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
            if (!error && !account.api_key_sha256.empty() &&
                (account.api_key_sha256.size() != 64 ||
                 !std::all_of(
                     account.api_key_sha256.begin(), account.api_key_sha256.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))) {
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

std::string account_json(const Account& account, bool redact) {
    std::string out = "{\"tenant_id\":";
    append_json_string(out, account.tenant_id);
    out += ",\"plan\":";
    append_json_string(out, account.plan);
    out += ",\"billing_anchor_day\":" + std::to_string(account.billing_anchor_day);
    out += ",\"time_zone\":";
    append_json_string(out, account.time_zone);
    out += ",\"api_key_sha256\":";
    append_json_string(out, account.api_key_sha256);
    out += ",\"stripe_customer_id\":";
    append_json_string(out, account.stripe_customer_id);
    out += ",\"updated_at\":\"" + format_rfc3339(account.updated_at_us) + "\"";
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
    out += "}";
    return out;
}

}  // namespace ul
