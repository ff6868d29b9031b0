#include "projections/api/account_put.h"

#include <simdjson.h>

#include "projections/runner/windows.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {

Result<Account, std::string> account_from_put(std::string_view tenant, std::string_view body,
                                              std::int64_t now_us) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    simdjson::dom::object object;
    if (parser.parse(body.data(), body.size()).get(document) != simdjson::SUCCESS ||
        document.get_object().get(object) != simdjson::SUCCESS) {
        return unexpected(std::string("the body must be a JSON object (the account)"));
    }
    // The whole account as parse_account reads it: the tenant and the version's time from
    // here, the rest from the body.
    std::string json = "{\"tenant_id\":";
    append_json_string(json, tenant);
    json += ",\"updated_at\":\"" + format_rfc3339(now_us) + "\"";
    for (const auto field : object) {
        const std::string_view key = field.key;
        if (key == "tenant_id") {
            std::string_view named;
            if (field.value.get_string().get(named) != simdjson::SUCCESS || named != tenant) {
                return unexpected(std::string("account.tenant_id: the tenant of the path"));
            }
            continue;
        }
        if (key == "updated_at") {
            return unexpected(std::string("account.updated_at: set by the server"));
        }
        if (key == "api_keys" || key == "api_key_sha256") {
            return unexpected("account." + std::string(key) +
                              ": keys are managed at /v1/tenants/{tenant}/keys (kept as they are)");
        }
        json += ",";
        append_json_string(json, key);
        json += ":" + simdjson::minify(field.value);
    }
    json += "}";
    auto account = parse_account(json);
    if (!account) {
        return unexpected(account.error());
    }
    if (account->time_zone.empty()) {
        account->time_zone = "UTC";
    }
    if (auto calendar = make_billing_calendar(account->billing_anchor_day, account->time_zone);
        !calendar) {
        return unexpected("account.time_zone: " + calendar.error());
    }
    return account;
}

}  // namespace ul
