// POST /v1/stripe/webhook (stripe_routes.h): verify, decide, publish, answer.
#include "projections/api/stripe_routes.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "projections/alerts/webhook.h"
#include "schemas/canonical.h"

namespace ul {
namespace {

HttpResponse received(std::string_view action, std::string_view reason) {
    HttpResponse response;
    response.body = "{\"received\":true,\"action\":";
    append_json_string(response.body, action);
    response.body += ",\"reason\":";
    if (reason.empty()) {
        response.body += "null";
    } else {
        append_json_string(response.body, reason);
    }
    response.body += "}";
    return response;
}

// The signature is checked over the raw bytes, before the body is parsed: nothing unsigned is
// read. The detail says why (verify_webhook_signature's texts quote neither secret nor body).
std::optional<HttpResponse> refuse_signature(const StripeWebhookOptions& options,
                                             const std::optional<std::string_view>& header,
                                             std::string_view body) {
    if (!header || header->empty()) {
        return json_error(400, "bad_signature", "no Stripe-Signature header");
    }
    auto verified = verify_webhook_signature(options.endpoint_secret, *header, body,
                                             options.now_seconds(), kStripeSignatureTolerance_s);
    if (!verified) {
        spdlog::warn("stripe webhook: refused signature: {}", verified.error());
        return json_error(400, "bad_signature", verified.error());
    }
    return std::nullopt;
}

HttpResponse publish(const StripeWebhookOptions& options, const StripeWebhookDecision& decision) {
    const Account& account = *decision.account;
    auto published = options.publish_account(account);
    if (!published) {
        spdlog::error("stripe webhook: event {} ({}) for tenant {}: publishing failed: {}",
                      decision.event_id, decision.event_type, decision.tenant_id,
                      published.error());
        return json_error(503, "publish_failed", "the account could not be published; retry");
    }
    spdlog::info("stripe webhook: event {} ({}): tenant {} now on plan {} (customer {})",
                 decision.event_id, decision.event_type, decision.tenant_id, account.plan,
                 account.stripe_customer_id);
    return received("applied", "");
}

// HttpRequest keeps only Content-Type and Authorization of a request's headers
// (projections/api/http_server.h), so the route cannot see Stripe-Signature yet: until the
// server passes other headers, every event is refused as unsigned (fails closed).
std::optional<std::string_view> stripe_signature(const HttpRequest& request) {
    return request.header("Stripe-Signature");
}

}  // namespace

HttpResponse answer_stripe_webhook(const StripeWebhookOptions& options,
                                   const std::optional<std::string_view>& signature_header,
                                   std::string_view body) {
    if (auto refused = refuse_signature(options, signature_header, body)) {
        return std::move(*refused);
    }
    auto decision =
        decide_stripe_webhook(body, options.plans, options.current_account,
                              options.find_tenant_by_customer, options.plans.default_plan);
    if (!decision) {
        spdlog::warn("stripe webhook: refused event: {}: {}", decision.error().code,
                     decision.error().detail);
        return json_error(400, decision.error().code, decision.error().detail);
    }
    if (decision->credits) {
        const CreditTopUp& top_up = *decision->credits;
        auto granted = options.publish_grant
                           ? options.publish_grant(top_up)
                           : Result<bool, std::string>(
                                 unexpected(std::string("this process does not publish events")));
        if (!granted) {
            spdlog::error("stripe webhook: event {}: credits {} for tenant {}: {}",
                          decision->event_id, top_up.amount, top_up.tenant_id, granted.error());
            return json_error(503, "publish_failed", "the credits could not be granted; retry");
        }
        spdlog::info("stripe webhook: event {}: {} credits granted to {} ({})", decision->event_id,
                     top_up.amount, top_up.tenant_id, top_up.idempotency_key);
    }
    if (decision->action == StripeWebhookDecision::Action::ignored) {
        spdlog::info("stripe webhook: event {} ({}) ignored: {}", decision->event_id,
                     decision->event_type, decision->reason);
        return received("ignored", decision->reason);
    }
    return publish(options, *decision);
}

void install_stripe_webhook(HttpServer& server, StripeWebhookOptions options) {
    server.route("POST", "/v1/stripe/webhook",
                 [options = std::move(options)](const HttpRequest& request, const HttpParams&) {
                     return answer_stripe_webhook(options, stripe_signature(request), request.body);
                 });
}

}  // namespace ul
