// The alerts' routes of the query API (query_api.h): the alerts a tenant raised, their delivery
// logs and redelivery, and the tenant's own alert rules (kept in its account: a new account
// version, published to usage.accounts, effective from now).
#include <spdlog/spdlog.h>

#include <charconv>
#include <random>

#include "projections/alerts/alert_delivery.h"
#include "projections/api/query_api.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

HttpResponse ok(std::string body, int status = 200) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
}

void append_delivery(std::string& out, const std::optional<AlertDeliveryState>& state) {
    if (!state) {  // decided, not yet taken from the outbox
        out += "\"raised_at\":null,\"delivery\":{\"status\":\"pending\",\"attempts\":0}";
        return;
    }
    out += "\"raised_at\":\"" + format_rfc3339(state->raised_at_us) + "\"";
    out += ",\"delivery\":{\"status\":\"" + state->status + "\"";
    out += ",\"attempts\":" + std::to_string(state->attempts);
    if (state->status == "pending" && state->attempts > 0) {
        out += ",\"next_attempt_at\":\"" + format_rfc3339(state->next_at_us) + "\"";
    }
    out += ",\"last_error\":";
    if (state->last_error.empty()) {
        out += "null";
    } else {
        append_json_string(out, state->last_error);
    }
    out += "}";
}

std::string rule_id() {
    thread_local std::mt19937_64 random{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = "rule_";
    const std::uint64_t value = random();
    for (int shift = 44; shift >= 0; shift -= 4) {
        id.push_back(kHex[(value >> static_cast<unsigned>(shift)) & 15U]);
    }
    return id;
}

}  // namespace

HttpResponse QueryApi::list_alerts(const HttpRequest& request, const std::string& tenant) const {
    ProjectionService::AlertQuery query;
    query.meter = std::string(request.query_param("meter").value_or(""));
    if (const auto start = request.query_param("period_start")) {
        auto parsed = parse_rfc3339(*start);
        if (!parsed) {
            return json_error(400, "bad_period_start", "period_start: " + parsed.error());
        }
        query.period_start = format_rfc3339(*parsed);
    }
    if (const auto limit = request.query_param("limit")) {
        std::size_t value = 0;
        const auto [end, error] =
            std::from_chars(limit->data(), limit->data() + limit->size(), value);
        if (error != std::errc() || end != limit->data() + limit->size() || value < 1 ||
            value > 500) {
            return json_error(400, "bad_limit", "limit: an integer 1..500");
        }
        query.limit = value;
    }
    if (const auto cursor = request.query_param("cursor")) {
        auto key = hex_decode(*cursor);
        if (!key || key->rfind(alert_record_prefix(tenant), 0) != 0) {
            return json_error(400, "bad_cursor", "cursor: the next_cursor of an earlier page");
        }
        query.after = *key;
    }
    auto rows = projections_.alerts(tenant, query);
    if (!rows) {
        return json_error(500, "internal", rows.error());
    }
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body += ",\"alerts\":[";
    for (std::size_t index = 0; index < rows->size(); ++index) {
        const auto& row = (*rows)[index];
        body += index == 0 ? "" : ",";
        // The record, with its delivery appended inside the object.
        body.append(row.json, 0, row.json.size() - 1);
        body += ",";
        if (options_.alerts == nullptr) {
            body += "\"raised_at\":null,\"delivery\":null";  // this process delivers nothing
        } else {
            const auto id_at = row.json.find("\"id\":\"") + 6;
            auto held = options_.alerts->state(row.json.substr(id_at, 35));
            if (!held) {
                return json_error(500, "internal", held.error());
            }
            append_delivery(body, *held);
        }
        body += "}";
    }
    body += "],\"next_cursor\":";
    if (rows->size() == query.limit) {
        body += "\"" + hex_encode(rows->back().key) + "\"";
    } else {
        body += "null";
    }
    body += "}";
    return ok(std::move(body));
}

namespace {

// The delivery state of the tenant's alert `id`, or the answer: 503 without a delivery worker,
// 404 when the tenant raised no such alert.
Result<AlertDeliveryState, HttpResponse> owned_alert(const AlertDelivery* alerts,
                                                     const std::string& tenant,
                                                     const std::string& id) {
    if (alerts == nullptr) {
        return unexpected(json_error(503, "alerts_unavailable", "this process delivers no alerts"));
    }
    auto held = alerts->state(id);
    if (!held) {
        return unexpected(json_error(500, "internal", held.error()));
    }
    if (!*held || (*held)->tenant != tenant) {
        return unexpected(
            json_error(404, "not_found", "no alert " + id + " of this tenant has been raised"));
    }
    return **held;
}

}  // namespace

HttpResponse QueryApi::alert_deliveries(const std::string& tenant, const std::string& id) const {
    auto held = owned_alert(options_.alerts, tenant, id);
    if (!held) {
        return held.error();
    }
    auto log = options_.alerts->attempts(id);
    if (!log) {
        return json_error(500, "internal", log.error());
    }
    std::string body = "{\"alert_id\":";
    append_json_string(body, id);
    body += ",";
    append_delivery(body, *held);
    body += ",\"attempts\":[";
    for (std::size_t index = 0; index < log->size(); ++index) {
        body += (index == 0 ? "" : ",") + (*log)[index];
    }
    body += "]}";
    return ok(std::move(body));
}

HttpResponse QueryApi::redeliver_alert(const std::string& tenant, const std::string& id) {
    if (auto held = owned_alert(options_.alerts, tenant, id); !held) {
        return held.error();
    }
    if (auto scheduled = options_.alerts->redeliver(id); !scheduled) {
        return json_error(500, "internal", scheduled.error());
    }
    std::string body = "{\"alert_id\":";
    append_json_string(body, id);
    body += ",\"delivery\":{\"status\":\"pending\"}}";
    return ok(std::move(body), 202);
}

HttpResponse QueryApi::alert_rules(const std::string& tenant) const {
    const auto account = projections_.account(tenant);
    std::string plan_id;
    const Plan* plan = plan_of(tenant, &plan_id);
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body += ",\"rules\":[";
    if (account) {
        for (std::size_t index = 0; index < account->alert_rules.size(); ++index) {
            body += index == 0 ? "" : ",";
            append_alert_rule_json(account->alert_rules[index], body);
        }
    }
    // Where alerts go (the secret is never shown), and the plan's own thresholds, which apply
    // besides (not editable here: the plans file).
    body += "],\"webhook\":";
    if (account && !account->alert_webhook_url.empty()) {
        append_json_string(body, account->alert_webhook_url);
    } else {
        body += "null";
    }
    body += ",\"plan\":";
    append_json_string(body, plan_id);
    body += ",\"plan_thresholds\":{";
    bool first = true;
    for (const auto& meter : plan != nullptr ? plan->meters : std::vector<MeterPlan>{}) {
        body += first ? "" : ",";
        first = false;
        append_json_string(body, meter.meter);
        body += ":[";
        for (std::size_t index = 0; meter.limit && index < meter.thresholds.size(); ++index) {
            body += (index == 0 ? "\"" : ",\"") + meter.thresholds[index].to_string() + "\"";
        }
        body += "]";
    }
    body += "}}";
    return ok(std::move(body));
}

HttpResponse QueryApi::change_alert_rules(const std::string& tenant, const AlertRule* add,
                                          const std::string& remove) {
    // Rules live in the account: the new version is the current one plus (or minus) the rule,
    // in force from now. A tenant without an account gets one on the default plan.
    auto account = change_account(
        tenant, AccountChangeMode::create_or_edit,
        [&](Account& changed, std::int64_t) -> std::optional<HttpResponse> {
            if (add != nullptr) {
                for (const auto& rule : changed.alert_rules) {
                    if (rule.id == add->id) {
                        return json_error(409, "rule_exists", "the tenant has a rule " + add->id);
                    }
                }
                if (changed.alert_rules.size() >= 100) {
                    return json_error(409, "too_many_rules",
                                      "a tenant has at most 100 alert rules");
                }
                changed.alert_rules.push_back(*add);
                return std::nullopt;
            }
            const auto before = changed.alert_rules.size();
            std::erase_if(changed.alert_rules,
                          [&](const AlertRule& rule) { return rule.id == remove; });
            if (changed.alert_rules.size() == before) {
                return json_error(404, "not_found", "the tenant has no alert rule " + remove);
            }
            return std::nullopt;
        });
    if (!account) {
        return account.error();
    }
    std::string body;
    if (add != nullptr) {
        append_alert_rule_json(*add, body);
        body.pop_back();
        body += ",\"effective_at\":\"" + format_rfc3339(account->effective_at_us) + "\"}";
        HttpResponse response = ok(std::move(body), 201);
        response.headers.emplace_back("Location",
                                      "/v1/tenants/" + tenant + "/alert-rules/" + add->id);
        return response;
    }
    HttpResponse response;
    response.status = 204;
    response.content_type.clear();
    return response;
}

void QueryApi::install_alerts(HttpServer& server) {
    using Params = std::map<std::string, std::string>;
    tenant_route(server, "GET", "/v1/tenants/{tenant}/alerts",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     return list_alerts(request, tenant);
                 });
    tenant_route(server, "GET", "/v1/tenants/{tenant}/alerts/{id}/deliveries",
                 [this](const HttpRequest&, const std::string& tenant, const Params& params) {
                     return alert_deliveries(tenant, params.at("id"));
                 });
    tenant_route(server, "POST", "/v1/tenants/{tenant}/alerts/{id}/redeliver",
                 [this](const HttpRequest&, const std::string& tenant, const Params& params) {
                     return redeliver_alert(tenant, params.at("id"));
                 });
    tenant_route(server, "GET", "/v1/tenants/{tenant}/alert-rules",
                 [this](const HttpRequest&, const std::string& tenant, const Params&) {
                     return alert_rules(tenant);
                 });
    tenant_route(server, "POST", "/v1/tenants/{tenant}/alert-rules",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     auto rule = parse_alert_rule(request.body, /*id_optional=*/true);
                     if (!rule) {
                         return json_error(400, "invalid_rule", rule.error());
                     }
                     if (rule->id.empty()) {
                         rule->id = rule_id();
                     }
                     return change_alert_rules(tenant, &*rule, "");
                 });
    tenant_route(server, "DELETE", "/v1/tenants/{tenant}/alert-rules/{id}",
                 [this](const HttpRequest&, const std::string& tenant, const Params& params) {
                     return change_alert_rules(tenant, nullptr, params.at("id"));
                 });
}

}  // namespace ul
