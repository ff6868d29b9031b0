#include "schemas/account.h"

#include <openssl/sha.h>
#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "schemas/canonical.h"
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

}  // namespace

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
            std::string text;
            error = string_field(text, 64);
            if (!error) {
                auto parsed = parse_rfc3339(text);
                if (!parsed) {
                    error = "account.updated_at: " + parsed.error();
                } else {
                    account.updated_at_us = *parsed;
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

std::string sha256_hex(std::string_view text) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(static_cast<std::size_t>(SHA256_DIGEST_LENGTH) * 2);
    for (const unsigned char byte : digest) {
        out.push_back(kHex[byte >> 4U]);
        out.push_back(kHex[byte & 15U]);
    }
    return out;
}

std::string account_json(const Account& account) {
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
    out += ",\"updated_at\":\"" + format_rfc3339(account.updated_at_us) + "\"}";
    return out;
}

}  // namespace ul
