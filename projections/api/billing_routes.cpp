// The billing routes of the query API (query_api.h): a tenant's Stripe report log with its
// totals and the breaker (billing/billing_reporter.h), and the upgrade path: Stripe Checkout and
// Billing Portal sessions.
#include <simdjson.h>

#include <charconv>
#include <map>

#include "projections/api/query_api.h"
#include "projections/billing/billing_reporter.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

// The string members of a flat JSON object; an error names what is wrong.
Result<std::map<std::string, std::string>, std::string> string_members(std::string_view body) {
    simdjson::ondemand::parser parser;
    const simdjson::padded_string padded(body);
    simdjson::ondemand::document document;
    simdjson::ondemand::object object;
    if (parser.iterate(padded).get(document) || document.get_object().get(object)) {
        return unexpected(std::string("the body must be a JSON object"));
    }
    std::map<std::string, std::string> members;
    for (auto field : object) {
        std::string_view key;
        std::string_view value;
        if (field.unescaped_key().get(key)) {
            return unexpected(std::string("the body is not valid JSON"));
        }
        if (field.value().get_string().get(value)) {
            return unexpected("'" + std::string(key) + "' must be a string");
        }
        members[std::string(key)] = std::string(value);
    }
    return members;
}

bool http_url(const std::string& url) {
    return url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
}

HttpResponse session_answer(const Result<StripeSession, StripeResponse>& session) {
    if (!session) {
        const StripeResponse& failure = session.error();
        const int status = failure.verdict == StripeVerdict::permanent ? 502 : 503;
        return json_error(status, "stripe_error", failure.describe());
    }
    HttpResponse response;
    response.body = "{\"id\":";
    append_json_string(response.body, session->id);
    response.body += ",\"url\":";
    append_json_string(response.body, session->url);
    response.body += "}";
    return response;
}

}  // namespace

HttpResponse QueryApi::billing_log(const HttpRequest& request, const std::string& tenant) const {
    if (options_.billing == nullptr) {  // an answer the dashboard can show as "off"
        std::string body = "{\"tenant_id\":";
        append_json_string(body, tenant);
        body +=
            ",\"enabled\":false,\"breaker\":null,\"upgrade_plans\":[],\"totals\":[],"
            "\"reports\":[],"
            "\"next_cursor\":null}";
        HttpResponse response;
        response.body = std::move(body);
        return response;
    }
    std::size_t limit = 50;
    if (const auto text = request.query_param("limit")) {
        const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), limit);
        if (error != std::errc() || end != text->data() + text->size() || limit < 1 ||
            limit > 500) {
            return json_error(400, "bad_limit", "limit: an integer 1..500");
        }
    }
    std::string after;
    if (const auto cursor = request.query_param("cursor")) {
        auto key = hex_decode(*cursor);
        if (!key || key->rfind(tenant + std::string(1, '\0'), 0) != 0) {
            return json_error(400, "bad_cursor", "cursor: the next_cursor of an earlier page");
        }
        after = *key;
    }
    auto page = options_.billing->reports(tenant, after, limit);
    auto totals = options_.billing->totals(tenant);
    if (!page || !totals) {
        return json_error(500, "internal", !page ? page.error() : totals.error());
    }
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body += ",\"enabled\":true,\"breaker\":" + options_.billing->breaker_json();
    // Plans a checkout can move the tenant to: those with a Stripe price, other than its own.
    std::string current;
    plan_of(tenant, &current);
    body += ",\"upgrade_plans\":[";
    bool first = true;
    for (const Plan& plan : plans_.plans) {
        if (plan.stripe_price_id.empty() || plan.id == current) {
            continue;
        }
        body += first ? "{\"id\":" : ",{\"id\":";
        first = false;
        append_json_string(body, plan.id);
        body += ",\"name\":";
        append_json_string(body, plan.name.empty() ? plan.id : plan.name);
        body += "}";
    }
    body += "]";
    body += ",\"totals\":[";
    for (std::size_t index = 0; index < totals->size(); ++index) {
        const auto& [key, sums] = (*totals)[index];
        body += index == 0 ? "{\"meter\":" : ",{\"meter\":";
        append_json_string(body, key.meter);
        body += ",\"customer\":";
        append_json_string(body, key.customer);
        body += ",\"event_name\":";
        append_json_string(body, key.event_name);
        body += ",\"stripe_unit\":\"" + key.unit.to_string() + "\"";
        body += ",\"period_start\":\"" + format_rfc3339(key.period.start_us) + "\"";
        body += ",\"period_end\":\"" + format_rfc3339(key.period.end_us) + "\"";
        body += ",\"reports\":" + std::to_string(sums.reports);
        body += ",\"decided\":" + std::to_string(sums.decided);
        body += ",\"sent\":" + std::to_string(sums.sent);
        body += ",\"pending\":" +
                std::to_string(sums.decided - sums.sent - sums.unreportable - sums.failed);
        body += ",\"unreportable\":" + std::to_string(sums.unreportable);
        body += ",\"failed\":" + std::to_string(sums.failed) + "}";
    }
    body += "],\"reports\":[";
    for (std::size_t index = 0; index < page->reports.size(); ++index) {
        body += index == 0 ? "" : ",";
        body += billing_report_json(page->reports[index]);
    }
    body += "],\"next_cursor\":";
    if (page->next.empty()) {
        body += "null";
    } else {
        body += "\"" + hex_encode(page->next) + "\"";
    }
    body += "}";
    HttpResponse response;
    response.body = std::move(body);
    return response;
}

HttpResponse QueryApi::billing_checkout(const HttpRequest& request, const std::string& tenant) {
    if (options_.billing == nullptr) {
        return json_error(404, "billing_off", "Stripe is not configured in this process");
    }
    auto members = string_members(request.body);
    if (!members) {
        return json_error(400, "invalid_body", members.error());
    }
    for (const char* required : {"plan", "success_url", "cancel_url"}) {
        if (members->count(required) == 0) {
            return json_error(400, "invalid_body", std::string(required) + ": required");
        }
    }
    for (const auto& [name, value] : *members) {
        if (name != "plan" && name != "success_url" && name != "cancel_url") {
            return json_error(400, "invalid_body", "unknown member '" + name + "'");
        }
        if (name != "plan" && !http_url(value)) {
            return json_error(400, "invalid_body", name + ": an http(s) URL");
        }
    }
    const Plan* plan = plans_.find(members->at("plan"));
    if (plan == nullptr) {
        return json_error(400, "unknown_plan", "no plan '" + members->at("plan") + "'");
    }
    if (plan->stripe_price_id.empty()) {
        return json_error(400, "plan_not_sold",
                          "plan '" + plan->id + "' has no stripe_price_id in the plans file");
    }
    std::optional<std::string> customer;
    if (auto account = projections_.account(tenant);
        account && !account->stripe_customer_id.empty()) {
        customer = account->stripe_customer_id;
    }
    return session_answer(options_.billing->stripe().create_checkout_session(
        plan->stripe_price_id, tenant, customer, members->at("success_url"),
        members->at("cancel_url")));
}

HttpResponse QueryApi::billing_portal(const HttpRequest& request, const std::string& tenant) {
    if (options_.billing == nullptr) {
        return json_error(404, "billing_off", "Stripe is not configured in this process");
    }
    auto members = string_members(request.body);
    if (!members) {
        return json_error(400, "invalid_body", members.error());
    }
    if (members->size() != 1 || members->count("return_url") == 0 ||
        !http_url(members->at("return_url"))) {
        return json_error(400, "invalid_body", "the body is {\"return_url\": an http(s) URL}");
    }
    const auto account = projections_.account(tenant);
    if (!account || account->stripe_customer_id.empty()) {
        return json_error(409, "no_stripe_customer",
                          "the tenant has no Stripe customer yet (subscribe through checkout)");
    }
    return session_answer(options_.billing->stripe().create_portal_session(
        account->stripe_customer_id, members->at("return_url")));
}

void QueryApi::install_billing(HttpServer& server) {
    using Params = std::map<std::string, std::string>;
    tenant_route(server, "GET", "/v1/tenants/{tenant}/billing",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     return billing_log(request, tenant);
                 });
    tenant_route(server, "POST", "/v1/tenants/{tenant}/billing/checkout",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     return billing_checkout(request, tenant);
                 });
    tenant_route(server, "POST", "/v1/tenants/{tenant}/billing/portal",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     return billing_portal(request, tenant);
                 });
}

}  // namespace ul
