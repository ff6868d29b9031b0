// The Stripe webhook decision (stripe_webhook.h). Pure.
#include "projections/billing/stripe_webhook.h"

#include "schemas/decimal.h"

#include <simdjson.h>

#include <limits>
#include <utility>

namespace ul {
namespace {

using Decision = StripeWebhookDecision;
using Error = StripeWebhookError;

constexpr std::int64_t kMicrosPerSecond = 1'000'000;

Unexpected<Error> fail(std::string code, std::string detail) {
    return unexpected(Error{std::move(code), std::move(detail)});
}

// The string at `key`: nullopt when absent or null (Stripe writes null for an unset field).
Result<std::optional<std::string_view>, Error> optional_string(simdjson::dom::object object,
                                                               const char* key,
                                                               std::string_view path) {
    simdjson::dom::element value;
    if (object[key].get(value) != simdjson::SUCCESS || value.is_null()) {
        return std::optional<std::string_view>();
    }
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) {
        return fail("bad_field", std::string(path) + ": a string");
    }
    return std::optional<std::string_view>(text);
}

Result<std::string_view, Error> required_string(simdjson::dom::object object, const char* key,
                                                std::string_view path) {
    auto text = optional_string(object, key, path);
    if (!text) {
        return unexpected(text.error());
    }
    if (!*text || (*text)->empty()) {
        return fail("missing_field", std::string(path) + ": required");
    }
    return **text;
}

// metadata.<key>; metadata may be absent.
Result<std::optional<std::string_view>, Error> metadata_string(simdjson::dom::object object,
                                                               const char* key) {
    simdjson::dom::object metadata;
    if (object["metadata"].get_object().get(metadata) != simdjson::SUCCESS) {
        return std::optional<std::string_view>();
    }
    return optional_string(metadata, key, std::string("data.object.metadata.") + key);
}

struct Event {
    std::string_view id;
    std::string_view type;
    std::int64_t created_us = 0;
    simdjson::dom::object object;  // data.object
};

Result<std::int64_t, Error> created_us(simdjson::dom::object root) {
    std::int64_t seconds = 0;
    if (root["created"].get_int64().get(seconds) != simdjson::SUCCESS) {
        return fail("missing_field", "created: unix seconds, required");
    }
    if (seconds <= 0 || seconds > std::numeric_limits<std::int64_t>::max() / kMicrosPerSecond) {
        return fail("bad_field", "created: out of range");
    }
    return seconds * kMicrosPerSecond;
}

// id, type, created and data.object: every Stripe event has them, whatever its type.
Result<Event, Error> parse_envelope(simdjson::dom::parser& parser, std::string_view body) {
    simdjson::dom::element document;
    simdjson::dom::object root;
    if (parser.parse(body.data(), body.size()).get(document) != simdjson::SUCCESS ||
        document.get_object().get(root) != simdjson::SUCCESS) {
        return fail("malformed_json", "the body is not a JSON object");
    }
    Event event;
    auto id = required_string(root, "id", "id");
    auto type = required_string(root, "type", "type");
    if (!id || !type) {
        return unexpected(!id ? id.error() : type.error());
    }
    event.id = *id;
    event.type = *type;
    auto created = created_us(root);
    if (!created) {
        return unexpected(created.error());
    }
    event.created_us = *created;
    simdjson::dom::object data;
    if (root["data"].get_object().get(data) != simdjson::SUCCESS ||
        data["object"].get_object().get(event.object) != simdjson::SUCCESS) {
        return fail("missing_field", "data.object: an object, required");
    }
    return event;
}

// What an event asks of one tenant's account: nullopt fields stay as they are.
struct Change {
    std::string tenant_id;
    std::optional<std::string> customer;
    std::optional<std::string> plan;
};

Result<Change, Error> checkout_change(const Event& event, const PlanBook& plans) {
    auto reference =
        optional_string(event.object, "client_reference_id", "data.object.client_reference_id");
    auto metadata_tenant = metadata_string(event.object, "tenant_id");
    auto customer = optional_string(event.object, "customer", "data.object.customer");
    auto plan = metadata_string(event.object, "plan");
    for (const auto* part : {&reference, &metadata_tenant, &customer, &plan}) {
        if (!*part) {
            return unexpected(part->error());
        }
    }
    Change change;
    const auto tenant = *reference ? *reference : *metadata_tenant;
    if (!tenant || tenant->empty()) {
        return fail("no_tenant",
                    "checkout session without client_reference_id or metadata.tenant_id");
    }
    change.tenant_id = std::string(*tenant);
    if (*customer) {
        change.customer = std::string(**customer);
    }
    if (*plan) {
        if (plans.find(**plan) == nullptr) {
            return fail("unknown_plan", "metadata.plan '" + std::string(**plan) + "' is no plan");
        }
        change.plan = std::string(**plan);
    }
    return change;
}

// items.data[0].price.id
Result<std::string_view, Error> first_price(simdjson::dom::object subscription) {
    simdjson::dom::object price;
    if (subscription.at_pointer("/items/data/0/price").get_object().get(price) !=
        simdjson::SUCCESS) {
        return fail("missing_field", "data.object.items.data[0].price: required");
    }
    return required_string(price, "id", "data.object.items.data[0].price.id");
}

bool subscription_ended(const Event& event) {
    if (event.type == "customer.subscription.deleted") {
        return true;
    }
    std::string_view status;
    return event.object["status"].get_string().get(status) == simdjson::SUCCESS &&
           (status == "canceled" || status == "incomplete_expired");
}

Result<std::string, Error> subscription_tenant(const Event& event, std::string_view customer,
                                               const TenantByCustomerLookup& find_tenant) {
    auto metadata_tenant = metadata_string(event.object, "tenant_id");
    if (!metadata_tenant) {
        return unexpected(metadata_tenant.error());
    }
    if (*metadata_tenant && !(*metadata_tenant)->empty()) {
        return std::string(**metadata_tenant);
    }
    if (auto tenant = find_tenant(customer)) {
        return std::move(*tenant);
    }
    return fail("no_tenant", "no metadata.tenant_id and no account with stripe customer '" +
                                 std::string(customer) + "'");
}

Result<Change, Error> subscription_change(const Event& event, const PlanBook& plans,
                                          const TenantByCustomerLookup& find_tenant,
                                          std::string_view default_plan) {
    auto customer = required_string(event.object, "customer", "data.object.customer");
    if (!customer) {
        return unexpected(customer.error());
    }
    auto tenant = subscription_tenant(event, *customer, find_tenant);
    if (!tenant) {
        return unexpected(tenant.error());
    }
    Change change{std::move(*tenant), std::string(*customer), std::string(default_plan)};
    if (subscription_ended(event)) {
        return change;  // the price no longer matters, and may be one we stopped selling
    }
    auto price = first_price(event.object);
    if (!price) {
        return unexpected(price.error());
    }
    const Plan* plan = plans.find_by_stripe_price(*price);
    if (plan == nullptr) {
        return fail("unknown_price", "no plan has stripe_price_id '" + std::string(*price) + "'");
    }
    change.plan = plan->id;
    return change;
}

// An ignored decision, until action and account are set.
Decision ignored(const Event& event, std::string tenant_id, std::string reason) {
    Decision decision;
    decision.event_id = std::string(event.id);
    decision.event_type = std::string(event.type);
    decision.tenant_id = std::move(tenant_id);
    decision.reason = std::move(reason);
    return decision;
}

Result<Decision, Error> apply_change(const Event& event, Change change,
                                     const CurrentAccountLookup& current_account,
                                     std::string_view default_plan) {
    const std::optional<Account> current = current_account(change.tenant_id);
    if (current && account_record_is_stale(event.created_us, current->updated_at_us)) {
        return ignored(event, change.tenant_id, "stale");
    }
    Account next = current.value_or(Account{});
    if (!current) {
        next.tenant_id = change.tenant_id;
        next.plan = std::string(default_plan);
    }
    next.plan = change.plan.value_or(next.plan);
    next.stripe_customer_id = change.customer.value_or(next.stripe_customer_id);
    if (current && next.plan == current->plan &&
        next.stripe_customer_id == current->stripe_customer_id) {
        return ignored(event, change.tenant_id, "no_change");
    }
    next.updated_at_us = event.created_us;
    next.effective_at_us = event.created_us;
    // The version goes to usage.accounts, whose readers are strict: refuse here what they would.
    if (auto valid = parse_account(account_json(next)); !valid) {
        return fail("bad_account", valid.error());
    }
    Decision decision = ignored(event, change.tenant_id, "");
    decision.action = Decision::Action::applied;
    decision.account = std::move(next);
    return decision;
}

}  // namespace

Result<StripeWebhookDecision, StripeWebhookError> decide_stripe_webhook(
    std::string_view body, const PlanBook& plans, const CurrentAccountLookup& current_account,
    const TenantByCustomerLookup& find_tenant_by_customer, std::string_view default_plan) {
    if (plans.find(default_plan) == nullptr) {
        return fail("unknown_plan", "the default plan '" + std::string(default_plan) + "'");
    }
    simdjson::dom::parser parser;
    auto event = parse_envelope(parser, body);
    if (!event) {
        return unexpected(event.error());
    }
    const bool checkout = event->type == "checkout.session.completed";
    const bool subscription = event->type == "customer.subscription.created" ||
                              event->type == "customer.subscription.updated" ||
                              event->type == "customer.subscription.deleted";
    if (!checkout && !subscription) {
        return ignored(*event, "", "unhandled_event_type");
    }
    auto change = checkout
                      ? checkout_change(*event, plans)
                      : subscription_change(*event, plans, find_tenant_by_customer, default_plan);
    if (!change) {
        return unexpected(change.error());
    }
    auto decision = apply_change(*event, std::move(*change), current_account, default_plan);
    if (!decision || !checkout) {
        return decision;
    }
    auto credits = metadata_string(event->object, "credits");
    auto paid = optional_string(event->object, "payment_status", "data.object.payment_status");
    auto session = optional_string(event->object, "id", "data.object.id");
    for (const auto* part : {&credits, &paid, &session}) {
        if (!*part) {
            return unexpected(part->error());
        }
    }
    if (!*credits || *paid != std::optional<std::string_view>("paid")) {
        return decision;  // no top-up, or not paid (yet: an async payment completes later)
    }
    const auto amount = Decimal::parse_quantity(**credits);
    if (!amount || amount->micros() == 0) {
        return fail("bad_field", "metadata.credits: a positive decimal, e.g. \"500\"");
    }
    if (!*session || (*session)->empty()) {
        return fail("missing_field",
                    "data.object.id: the checkout session id, required for credits");
    }
    decision->credits = CreditTopUp{decision->tenant_id, amount->to_string(),
                                    "stripe-checkout-" + std::string(**session), event->created_us};
    return decision;
}

}  // namespace ul
