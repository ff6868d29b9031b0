// POST /v1/stripe/webhook: Stripe's events about checkouts and subscriptions become account
// versions (plan, Stripe customer) published to usage.accounts. The decision is pure
// (projections/billing/stripe_webhook.h); this file verifies the signature and publishes.
//
// Answers: 400 {"error":"bad_signature","detail":…} for a missing, malformed or wrong
// Stripe-Signature or a timestamp more than 300 s from now; 400 {"error":<code>,"detail":…} for an
// event that cannot be decided (malformed, unknown price, no tenant: Stripe shows the body in its
// dashboard and retries); 503 when publishing failed (Stripe retries); otherwise 200
// {"received":true,"action":"applied"|"ignored","reason":…}. A replayed event is 200 ignored
// ("stale"), never published twice. A paid checkout with metadata.credits is first published
// as a grant (a redelivery's grant is a duplicate in the ledger); when that fails, 503.
// The endpoint secret is never logged, nor any part of a body but ids.
// Threading: the handler runs on the server's threads; the option functions must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "projections/api/http_server.h"
#include "projections/billing/stripe_webhook.h"
#include "schemas/account.h"
#include "schemas/plans.h"
#include "schemas/result.h"

namespace ul {

struct StripeWebhookOptions {
    std::string endpoint_secret;  // whsec_…; never logged
    PlanBook plans;               // plans.default_plan: new accounts and canceled subscriptions
    CurrentAccountLookup current_account;
    TenantByCustomerLookup find_tenant_by_customer;
    // Publishes the version (signed, to usage.accounts); true once acknowledged, an error else.
    std::function<Result<bool, std::string>(const Account&)> publish_account;
    std::function<std::int64_t()> now_seconds;  // unix seconds: the signature's time window
    // Publishes a paid checkout's credits as a grant event (meter credits.grant) to
    // usage.events and waits for the acknowledgement; empty: such a checkout answers 503.
    std::function<Result<bool, std::string>(const CreditTopUp&)> publish_grant;
};

inline constexpr std::string_view kStripeSignatureHeader = "Stripe-Signature";
inline constexpr std::int64_t kStripeSignatureTolerance_s = 300;

// The route's whole answer, given the Stripe-Signature header (nullopt: absent) and the raw body.
HttpResponse answer_stripe_webhook(const StripeWebhookOptions& options,
                                   const std::optional<std::string_view>& signature_header,
                                   std::string_view body);

// Adds POST /v1/stripe/webhook to `server` (before traffic, as every route).
void install_stripe_webhook(HttpServer& server, StripeWebhookOptions options);

}  // namespace ul
