// The Stripe webhook decision (projections/billing/stripe_webhook.h): which account version an
// event makes, and when it changes nothing. Pure: accounts live in a map here.
#include "projections/billing/stripe_webhook.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {

using Action = ul::StripeWebhookDecision::Action;

constexpr std::int64_t kCreated_s = 1'700'000'000;
constexpr std::int64_t kCreated_us = kCreated_s * 1'000'000;

ul::PlanBook plans() {
    ul::PlanBook book;
    book.currency = "usd";
    book.default_plan = "free";
    book.plans.push_back(ul::Plan{"free", "Free", {}, "", {}, {}});
    book.plans.push_back(ul::Plan{"pro", "Pro", {}, "price_pro", {}, {}});
    book.plans.push_back(ul::Plan{"enterprise", "Enterprise", {}, "price_ent", {}, {}});
    return book;
}

std::string subscription_event(std::string_view type, std::string_view price,
                               std::string_view metadata = R"({"tenant_id":"acme"})",
                               std::string_view status = "active",
                               std::int64_t created_s = kCreated_s) {
    return std::string(R"({"id":"evt_1","object":"event","type":")") + std::string(type) +
           R"(","created":)" + std::to_string(created_s) +
           R"(,"data":{"object":{"id":"sub_1","object":"subscription","customer":"cus_1",)" +
           R"("status":")" + std::string(status) + R"(","metadata":)" + std::string(metadata) +
           R"(,"items":{"object":"list","data":[{"id":"si_1","price":{"id":")" +
           std::string(price) + R"(","object":"price"}}]}}}})";
}

std::string checkout_event(std::string_view session_fields) {
    return std::string(R"({"id":"evt_2","type":"checkout.session.completed","created":)") +
           std::to_string(kCreated_s) +
           R"(,"data":{"object":{"id":"cs_1","object":"checkout.session",)" +
           std::string(session_fields) + "}}}";
}

struct Accounts {
    std::map<std::string, ul::Account, std::less<>> by_tenant;

    ul::Result<ul::StripeWebhookDecision, ul::StripeWebhookError> decide(std::string_view body) {
        const ul::PlanBook book = plans();
        return ul::decide_stripe_webhook(
            body, book,
            [this](std::string_view tenant) -> std::optional<ul::Account> {
                const auto found = by_tenant.find(tenant);
                return found == by_tenant.end() ? std::nullopt : std::optional(found->second);
            },
            [this](std::string_view customer) -> std::optional<std::string> {
                for (const auto& [tenant, account] : by_tenant) {
                    if (account.stripe_customer_id == customer) {
                        return tenant;
                    }
                }
                return std::nullopt;
            },
            book.default_plan);
    }

    void add(std::string tenant, std::string plan, std::string customer, std::int64_t at_us) {
        ul::Account account;
        account.tenant_id = tenant;
        account.plan = std::move(plan);
        account.stripe_customer_id = std::move(customer);
        account.updated_at_us = at_us;
        by_tenant[tenant] = account;
    }
};

TEST(StripeWebhook, SubscriptionCreatedSetsPlanAndCustomerOnANewAccount) {
    Accounts accounts;
    auto decision =
        accounts.decide(subscription_event("customer.subscription.created", "price_pro"));
    ASSERT_TRUE(decision) << decision.error().detail;
    EXPECT_EQ(decision->action, Action::applied);
    EXPECT_EQ(decision->event_id, "evt_1");
    EXPECT_EQ(decision->tenant_id, "acme");
    ASSERT_TRUE(decision->account);
    EXPECT_EQ(decision->account->tenant_id, "acme");
    EXPECT_EQ(decision->account->plan, "pro");
    EXPECT_EQ(decision->account->stripe_customer_id, "cus_1");
    EXPECT_EQ(decision->account->updated_at_us, kCreated_us);
    EXPECT_EQ(decision->account->effective_at_us, kCreated_us);
}

TEST(StripeWebhook, SubscriptionUpdatedKeepsTheRestOfTheAccount) {
    Accounts accounts;
    accounts.add("acme", "pro", "cus_1", kCreated_us - 5'000'000);
    accounts.by_tenant["acme"].time_zone = "Europe/Paris";
    accounts.by_tenant["acme"].billing_anchor_day = 15;
    auto decision =
        accounts.decide(subscription_event("customer.subscription.updated", "price_ent"));
    ASSERT_TRUE(decision) << decision.error().detail;
    ASSERT_EQ(decision->action, Action::applied);
    EXPECT_EQ(decision->account->plan, "enterprise");
    EXPECT_EQ(decision->account->time_zone, "Europe/Paris");
    EXPECT_EQ(decision->account->billing_anchor_day, 15);
}

TEST(StripeWebhook, TenantFoundByCustomerWithoutMetadata) {
    Accounts accounts;
    accounts.add("globex", "free", "cus_1", kCreated_us - 1);
    auto decision =
        accounts.decide(subscription_event("customer.subscription.updated", "price_pro", "{}"));
    ASSERT_TRUE(decision) << decision.error().detail;
    EXPECT_EQ(decision->tenant_id, "globex");
    EXPECT_EQ(decision->account->plan, "pro");
}

TEST(StripeWebhook, NoTenantIsAnError) {
    Accounts accounts;
    auto decision =
        accounts.decide(subscription_event("customer.subscription.updated", "price_pro", "{}"));
    ASSERT_FALSE(decision);
    EXPECT_EQ(decision.error().code, "no_tenant");
    EXPECT_NE(decision.error().detail.find("cus_1"), std::string::npos);
}

TEST(StripeWebhook, DeletedSubscriptionFallsBackToTheDefaultPlan) {
    Accounts accounts;
    accounts.add("acme", "pro", "cus_1", kCreated_us - 1);
    // The price of a deleted subscription is not looked up: it may be one no longer sold.
    auto decision =
        accounts.decide(subscription_event("customer.subscription.deleted", "price_retired"));
    ASSERT_TRUE(decision) << decision.error().detail;
    ASSERT_EQ(decision->action, Action::applied);
    EXPECT_EQ(decision->account->plan, "free");
    EXPECT_EQ(decision->account->stripe_customer_id, "cus_1");
}

TEST(StripeWebhook, CanceledStatusFallsBackToTheDefaultPlan) {
    Accounts accounts;
    accounts.add("acme", "pro", "cus_1", kCreated_us - 1);
    auto decision = accounts.decide(subscription_event("customer.subscription.updated", "price_pro",
                                                       R"({"tenant_id":"acme"})", "canceled"));
    ASSERT_TRUE(decision) << decision.error().detail;
    EXPECT_EQ(decision->account->plan, "free");
}

TEST(StripeWebhook, UnknownPriceIsAnErrorNamingIt) {
    Accounts accounts;
    auto decision =
        accounts.decide(subscription_event("customer.subscription.created", "price_mystery"));
    ASSERT_FALSE(decision);
    EXPECT_EQ(decision.error().code, "unknown_price");
    EXPECT_NE(decision.error().detail.find("price_mystery"), std::string::npos);
}

TEST(StripeWebhook, StaleOrReplayedEventIsIgnored) {
    Accounts accounts;
    accounts.add("acme", "enterprise", "cus_1", kCreated_us);  // this event was applied already
    auto same = accounts.decide(subscription_event("customer.subscription.updated", "price_pro"));
    ASSERT_TRUE(same);
    EXPECT_EQ(same->action, Action::ignored);
    EXPECT_EQ(same->reason, "stale");
    EXPECT_FALSE(same->account);
    auto older =
        accounts.decide(subscription_event("customer.subscription.updated", "price_pro",
                                           R"({"tenant_id":"acme"})", "active", kCreated_s - 60));
    ASSERT_TRUE(older);
    EXPECT_EQ(older->reason, "stale");
}

TEST(StripeWebhook, NoChangeIsIgnored) {
    Accounts accounts;
    accounts.add("acme", "pro", "cus_1", kCreated_us - 1);
    auto decision =
        accounts.decide(subscription_event("customer.subscription.updated", "price_pro"));
    ASSERT_TRUE(decision);
    EXPECT_EQ(decision->action, Action::ignored);
    EXPECT_EQ(decision->reason, "no_change");
}

TEST(StripeWebhook, CheckoutWithClientReferenceIdSetsCustomerAndPlan) {
    Accounts accounts;
    auto decision = accounts.decide(checkout_event(
        R"("client_reference_id":"acme","customer":"cus_9","metadata":{"plan":"pro"})"));
    ASSERT_TRUE(decision) << decision.error().detail;
    ASSERT_EQ(decision->action, Action::applied);
    EXPECT_EQ(decision->account->tenant_id, "acme");
    EXPECT_EQ(decision->account->stripe_customer_id, "cus_9");
    EXPECT_EQ(decision->account->plan, "pro");
}

TEST(StripeWebhook, CheckoutWithoutPlanOnlySetsTheCustomer) {
    Accounts accounts;
    accounts.add("acme", "enterprise", "", kCreated_us - 1);
    auto decision = accounts.decide(checkout_event(
        R"("client_reference_id":null,"customer":"cus_9","metadata":{"tenant_id":"acme"})"));
    ASSERT_TRUE(decision) << decision.error().detail;
    ASSERT_EQ(decision->action, Action::applied);
    EXPECT_EQ(decision->account->plan, "enterprise");
    EXPECT_EQ(decision->account->stripe_customer_id, "cus_9");
}

TEST(StripeWebhook, CheckoutWithoutTenantOrWithUnknownPlanIsAnError) {
    Accounts accounts;
    auto no_tenant = accounts.decide(checkout_event(R"("customer":"cus_9")"));
    ASSERT_FALSE(no_tenant);
    EXPECT_EQ(no_tenant.error().code, "no_tenant");
    auto bad_plan = accounts.decide(checkout_event(
        R"("client_reference_id":"acme","customer":"cus_9","metadata":{"plan":"gold"})"));
    ASSERT_FALSE(bad_plan);
    EXPECT_EQ(bad_plan.error().code, "unknown_plan");
}

TEST(StripeWebhook, UnknownEventTypeIsIgnored) {
    Accounts accounts;
    auto decision = accounts.decide(
        R"({"id":"evt_3","type":"invoice.paid","created":1700000000,"data":{"object":{}}})");
    ASSERT_TRUE(decision);
    EXPECT_EQ(decision->action, Action::ignored);
    EXPECT_EQ(decision->reason, "unhandled_event_type");
    EXPECT_EQ(decision->event_type, "invoice.paid");
}

TEST(StripeWebhook, MalformedOrIncompleteEventsAreErrors) {
    Accounts accounts;
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"not json", "malformed_json"},
        {"[]", "malformed_json"},
        {R"({"type":"invoice.paid","created":1,"data":{"object":{}}})", "missing_field"},
        {R"({"id":"evt","created":1,"data":{"object":{}}})", "missing_field"},
        {R"({"id":"evt","type":"invoice.paid","data":{"object":{}}})", "missing_field"},
        {R"({"id":"evt","type":"invoice.paid","created":1})", "missing_field"},
        {R"({"id":7,"type":"invoice.paid","created":1,"data":{"object":{}}})", "bad_field"},
        {R"({"id":"e","type":"customer.subscription.created","created":1,"data":{"object":{}}})",
         "missing_field"},
    };
    for (const auto& [body, code] : cases) {
        auto decision = accounts.decide(body);
        ASSERT_FALSE(decision) << body;
        EXPECT_EQ(decision.error().code, code) << body;
    }
    auto no_items = accounts.decide(subscription_event("customer.subscription.created", ""));
    ASSERT_FALSE(no_items);
    EXPECT_EQ(no_items.error().code, "missing_field");
}

TEST(StripeWebhook, ABadTenantIdIsRefusedBeforePublishing) {
    Accounts accounts;
    auto decision = accounts.decide(
        subscription_event("customer.subscription.created", "price_pro", R"({"tenant_id":"a b"})"));
    ASSERT_FALSE(decision);
    EXPECT_EQ(decision.error().code, "bad_account");
}

}  // namespace

namespace {

TEST(StripeWebhook, APaidCheckoutOfCreditsIsAGrantKeyedByTheSession) {
    Accounts accounts;
    accounts.add("acme", "pro", "cus_1", 1);
    auto paid = accounts.decide(
        checkout_event(R"("client_reference_id":"acme","customer":"cus_1","payment_status":"paid",)"
                       R"("metadata":{"credits":"500.25"})"));
    ASSERT_TRUE(paid.ok()) << paid.error().detail;
    ASSERT_TRUE(paid->credits.has_value());
    EXPECT_EQ(paid->credits->tenant_id, "acme");
    EXPECT_EQ(paid->credits->amount, "500.25");
    EXPECT_EQ(paid->credits->idempotency_key, "stripe-checkout-cs_1");
    EXPECT_EQ(paid->credits->created_us, kCreated_us);
    // The account itself is unchanged (same plan and customer): ignored, but the grant stands.
    EXPECT_EQ(paid->action, ul::StripeWebhookDecision::Action::ignored);
    // Not paid yet (an async payment): no grant.
    auto unpaid = accounts.decide(checkout_event(
        R"("client_reference_id":"acme","payment_status":"unpaid","metadata":{"credits":"5"})"));
    ASSERT_TRUE(unpaid.ok());
    EXPECT_FALSE(unpaid->credits.has_value());
    // Without metadata.credits: a plan checkout, no grant.
    auto plan = accounts.decide(
        checkout_event(R"("client_reference_id":"acme","payment_status":"paid","metadata":{})"));
    ASSERT_TRUE(plan.ok());
    EXPECT_FALSE(plan->credits.has_value());
    for (const char* bad : {R"("-5")", R"("0")", R"("1e400")", R"("many")"}) {
        auto refused = accounts.decide(
            checkout_event(std::string(R"("client_reference_id":"acme","payment_status":"paid",)") +
                           R"("metadata":{"credits":)" + bad + "}"));
        ASSERT_FALSE(refused.ok()) << bad;
        EXPECT_EQ(refused.error().code, "bad_field") << bad;
    }
}

}  // namespace
