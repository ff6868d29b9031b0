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
    out += ",\"updated_at\":\"" + format_rfc3339(account.updated_at_us) + "\"";
    if (account.effective_at_us != 0) {
        out += ",\"effective_at\":\"" + format_rfc3339(account.effective_at_us) + "\"";
    }
    out += "}";
    return out;
}

}  // namespace ul
