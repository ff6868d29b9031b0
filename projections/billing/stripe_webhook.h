// What a Stripe webhook event does to a tenant's account: the pure decision behind
// POST /v1/stripe/webhook (projections/api/stripe_routes.h verifies the signature and publishes).
// Pure: a function of the event's bytes, the plans and the two account lookups passed in;
// thread-safe as long as the lookups are.
//
// Events handled (anything else is ignored, not an error: Stripe sends every type an endpoint
// subscribed to, and a 4xx would make it retry for days):
//   checkout.session.completed       tenant = client_reference_id, else metadata.tenant_id;
//                                    customer = customer; plan = metadata.plan when present (a
//                                    webhook's session carries no line items), else unchanged.
//                                    A credits top-up when metadata.credits (a decimal) is
//                                    present and payment_status is "paid": a grant of that many
//                                    credits (schemas/wallet.h), keyed by the session id and
//                                    stamped with the event's `created`, so a redelivery is a
//                                    duplicate in the ledger, never a second grant.
//   customer.subscription.created    tenant = metadata.tenant_id, else the tenant whose account
//   customer.subscription.updated    has stripe_customer_id == customer; plan = the plan whose
//                                    stripe_price_id is items.data[0].price.id.
//   customer.subscription.deleted    as above, but the plan is the default plan (so is a
//                                    subscription whose status is canceled or incomplete_expired).
//
// Replays: the new account version is stamped updated_at = effective_at = the event's `created`,
// and an event not newer than the tenant's current account is ignored as stale. So the same event
// delivered twice, or an older event arriving after a newer one, changes nothing (Stripe does not
// order its deliveries). Two different events created in the same second for one tenant: the
// second is ignored too — the price of a rule that needs no event-id memory.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "schemas/account.h"
#include "schemas/plans.h"
#include "schemas/result.h"

namespace ul {

struct CreditTopUp {
    std::string tenant_id;
    std::string amount;           // canonical decimal
    std::string idempotency_key;  // "stripe-checkout-<session id>"
    std::int64_t created_us = 0;  // the event's time: the grant's timestamp
};

struct StripeWebhookDecision {
    enum class Action : std::uint8_t { applied, ignored };
    Action action = Action::ignored;
    std::string event_id;
    std::string event_type;
    std::string tenant_id;  // empty when ignored before a tenant was known
    // applied: the version to publish to usage.accounts. ignored: nullopt.
    std::optional<Account> account;
    // ignored: unhandled_event_type, stale (not newer than the current account), no_change.
    std::string reason;
    // A paid checkout of credits: granted whatever the account action (a replayed event's grant
    // is a duplicate in the ledger).
    std::optional<CreditTopUp> credits;
};

// code: malformed_json, missing_field, bad_field, unknown_price, unknown_plan, no_tenant,
// bad_account (the resulting account would not pass parse_account, e.g. a bad tenant id).
// detail names the field, price or customer; it never quotes anything but ids.
struct StripeWebhookError {
    std::string code;
    std::string detail;
};

using CurrentAccountLookup = std::function<std::optional<Account>(std::string_view tenant)>;
using TenantByCustomerLookup =
    std::function<std::optional<std::string>(std::string_view stripe_customer_id)>;

// `default_plan`: the plan of a new account and of a canceled subscription (usually
// plans.default_plan). It must name a plan of `plans`.
Result<StripeWebhookDecision, StripeWebhookError> decide_stripe_webhook(
    std::string_view body, const PlanBook& plans, const CurrentAccountLookup& current_account,
    const TenantByCustomerLookup& find_tenant_by_customer, std::string_view default_plan);

}  // namespace ul
