// POST /v1/stripe/webhook (projections/api/stripe_routes.h): signature, decision and publishing,
// with accounts in a map that publish_account updates and an injected clock.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "projections/alerts/webhook.h"
#include "projections/api/http_server.h"
#include "projections/api/stripe_routes.h"
#include "tests/support/http_client.h"

namespace {

constexpr std::string_view kSecret = "whsec_integration_secret";
constexpr std::int64_t kNow_s = 1'700'000'000;

std::string subscription_event(std::string_view id, std::string_view type, std::string_view price,
                               std::int64_t created_s) {
    return std::string(R"({"id":")") + std::string(id) + R"(","object":"event","type":")" +
           std::string(type) + R"(","created":)" + std::to_string(created_s) +
           R"(,"data":{"object":{"id":"sub_1","object":"subscription","customer":"cus_1",)"
           R"("status":"active","metadata":{"tenant_id":"acme"},"items":{"object":"list",)"
           R"("data":[{"id":"si_1","price":{"id":")" +
           std::string(price) + R"("}}]}}}})";
}

// Accounts in memory, as the projection would hold them after publish_account.
struct Ledger {
    std::mutex mutex;
    std::map<std::string, ul::Account, std::less<>> accounts;
    int publishes = 0;
    bool publish_fails = false;
    std::int64_t now_s = kNow_s;

    std::optional<ul::Account> account(std::string_view tenant) {
        std::lock_guard lock(mutex);
        const auto found = accounts.find(tenant);
        return found == accounts.end() ? std::nullopt : std::optional(found->second);
    }
};

ul::StripeWebhookOptions options_for(const std::shared_ptr<Ledger>& ledger) {
    ul::StripeWebhookOptions options;
    options.endpoint_secret = std::string(kSecret);
    options.plans.currency = "usd";
    options.plans.default_plan = "free";
    options.plans.plans.push_back(ul::Plan{"free", "Free", {}, "", {}, {}});
    options.plans.plans.push_back(ul::Plan{"pro", "Pro", {}, "price_pro", {}, {}});
    options.current_account = [ledger](std::string_view tenant) { return ledger->account(tenant); };
    options.find_tenant_by_customer =
        [ledger](std::string_view customer) -> std::optional<std::string> {
        std::lock_guard lock(ledger->mutex);
        for (const auto& [tenant, account] : ledger->accounts) {
            if (account.stripe_customer_id == customer) {
                return tenant;
            }
        }
        return std::nullopt;
    };
    options.publish_account =
        [ledger](const ul::Account& account) -> ul::Result<bool, std::string> {
        std::lock_guard lock(ledger->mutex);
        if (ledger->publish_fails) {
            return ul::unexpected(std::string("broker down"));
        }
        ++ledger->publishes;
        ledger->accounts[account.tenant_id] = account;
        return true;
    };
    options.now_seconds = [ledger] {
        std::lock_guard lock(ledger->mutex);
        return ledger->now_s;
    };
    return options;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

// The route's answers, called as the server calls them (with the header it would pass).
class StripeWebhookRoute : public ::testing::Test {
  protected:
    std::shared_ptr<Ledger> ledger = std::make_shared<Ledger>();
    ul::StripeWebhookOptions options = options_for(ledger);

    ul::HttpResponse post_signed(const std::string& body, std::int64_t signed_at_s = kNow_s) {
        const std::string header = ul::webhook_signature(kSecret, signed_at_s, body);
        return ul::answer_stripe_webhook(options, header, body);
    }
};

TEST_F(StripeWebhookRoute, SignedEventChangesThePlan) {
    const auto response = post_signed(
        subscription_event("evt_1", "customer.subscription.created", "price_pro", kNow_s - 1));
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.body, R"({"received":true,"action":"applied","reason":null})");
    ASSERT_TRUE(ledger->account("acme"));
    EXPECT_EQ(ledger->account("acme")->plan, "pro");
    EXPECT_EQ(ledger->account("acme")->stripe_customer_id, "cus_1");
}

TEST_F(StripeWebhookRoute, WrongMissingOrStaleSignatureIs400) {
    const std::string body =
        subscription_event("evt_1", "customer.subscription.created", "price_pro", kNow_s - 1);
    const std::string wrong = ul::webhook_signature("whsec_other", kNow_s, body);
    const std::string stale = ul::webhook_signature(kSecret, kNow_s - 600, body);
    for (const auto& header :
         {std::optional<std::string_view>(wrong), std::optional<std::string_view>(stale),
          std::optional<std::string_view>(), std::optional<std::string_view>("t=1")}) {
        const auto response = ul::answer_stripe_webhook(options, header, body);
        EXPECT_EQ(response.status, 400) << response.body;
        EXPECT_TRUE(contains(response.body, R"("error":"bad_signature")")) << response.body;
        EXPECT_FALSE(contains(response.body, kSecret)) << response.body;
    }
    EXPECT_EQ(ledger->publishes, 0);
    EXPECT_FALSE(ledger->account("acme"));
}

TEST_F(StripeWebhookRoute, TheSameEventAgainIsIgnoredAndNotPublished) {
    const std::string body =
        subscription_event("evt_1", "customer.subscription.created", "price_pro", kNow_s - 1);
    ASSERT_EQ(post_signed(body).status, 200);
    ASSERT_EQ(ledger->publishes, 1);
    ledger->now_s += 30;  // Stripe's retry, signed anew
    const auto again = post_signed(body, ledger->now_s);
    EXPECT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.body, R"({"received":true,"action":"ignored","reason":"stale"})");
    EXPECT_EQ(ledger->publishes, 1);
}

TEST_F(StripeWebhookRoute, DeletedSubscriptionMovesToTheDefaultPlan) {
    ASSERT_EQ(post_signed(subscription_event("evt_1", "customer.subscription.created", "price_pro",
                                             kNow_s - 10))
                  .status,
              200);
    const auto response = post_signed(
        subscription_event("evt_2", "customer.subscription.deleted", "price_pro", kNow_s - 5));
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(ledger->account("acme")->plan, "free");
    EXPECT_EQ(ledger->publishes, 2);
}

TEST_F(StripeWebhookRoute, BadEventIs400UnknownTypeIs200Ignored) {
    const auto unknown_price = post_signed(
        subscription_event("evt_1", "customer.subscription.created", "price_gold", kNow_s));
    EXPECT_EQ(unknown_price.status, 400);
    EXPECT_TRUE(contains(unknown_price.body, "unknown_price")) << unknown_price.body;
    EXPECT_TRUE(contains(unknown_price.body, "price_gold")) << unknown_price.body;
    EXPECT_EQ(post_signed("{not json").status, 400);
    const auto unknown = post_signed(
        R"({"id":"evt_9","type":"invoice.paid","created":1700000000,"data":{"object":{}}})");
    EXPECT_EQ(unknown.status, 200);
    EXPECT_EQ(unknown.body,
              R"({"received":true,"action":"ignored","reason":"unhandled_event_type"})");
    EXPECT_EQ(ledger->publishes, 0);
}

TEST_F(StripeWebhookRoute, PublishFailureIs503AndARetryApplies) {
    const std::string body =
        subscription_event("evt_1", "customer.subscription.created", "price_pro", kNow_s - 1);
    ledger->publish_fails = true;
    EXPECT_EQ(post_signed(body).status, 503);
    EXPECT_FALSE(ledger->account("acme"));
    ledger->publish_fails = false;
    EXPECT_EQ(post_signed(body).status, 200);
    EXPECT_EQ(ledger->account("acme")->plan, "pro");
}

// Python's hmac, not ours, computes v1 over "<t>.<body>": the scheme is Stripe's, not a private
// one that only agrees with itself.
std::string python_signature(std::string_view secret, std::int64_t t, const std::string& body) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("stripe_webhook_body_" + std::to_string(::getpid()));
    std::ofstream(path, std::ios::binary) << body;
    const std::string command =
        "python3 -c 'import hmac,hashlib,sys; "
        "m=sys.argv[2].encode()+b\".\"+open(sys.argv[3],\"rb\").read(); "
        "print(hmac.new(sys.argv[1].encode(),m,hashlib.sha256).hexdigest())' " +
        std::string(secret) + " " + std::to_string(t) + " " + path.string();
    std::string out;
    const std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (pipe) {
        std::array<char, 256> buffer{};
        while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) {
            out += buffer.data();
        }
    }
    std::filesystem::remove(path);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

TEST_F(StripeWebhookRoute, SignatureComputedByPythonVerifies) {
    const std::string body =
        subscription_event("evt_py", "customer.subscription.created", "price_pro", kNow_s - 1);
    const std::string v1 = python_signature(kSecret, kNow_s, body);
    ASSERT_EQ(v1.size(), 64U) << "python3 said: " << v1;
    // Stripe sends several v1 while a secret rotates, and a v0 we ignore.
    const std::string header = "t=" + std::to_string(kNow_s) + ",v1=" + std::string(64, '0') +
                               ",v1=" + v1 + ",v0=deadbeef";
    const auto response = ul::answer_stripe_webhook(options, header, body);
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(ledger->account("acme")->plan, "pro");
}

// Through a real HttpServer on loopback.
class StripeWebhookServer : public StripeWebhookRoute {
  protected:
    void SetUp() override {
        ul::HttpServerOptions server_options;
        server_options.listen = "127.0.0.1:0";
        auto started = ul::HttpServer::start(server_options);
        ASSERT_TRUE(started) << started.error();
        server = std::move(*started);
        ul::install_stripe_webhook(*server, options);
    }
    ul::test::HttpReply post(const std::string& body, const std::string& signature) {
        std::vector<std::pair<std::string, std::string>> headers{
            {"Content-Type", "application/json"}};
        if (!signature.empty()) {
            headers.emplace_back("Stripe-Signature", signature);
        }
        return ul::test::http_request(server->address(), "POST", "/v1/stripe/webhook", headers,
                                      body);
    }
    std::unique_ptr<ul::HttpServer> server;
};

TEST_F(StripeWebhookServer, UnsignedPostIs400AndNothingIsPublished) {
    const auto reply =
        post(subscription_event("evt_1", "customer.subscription.created", "price_pro", kNow_s), "");
    EXPECT_EQ(reply.status, 400) << reply.error;
    EXPECT_TRUE(contains(reply.body, R"("error":"bad_signature")")) << reply.body;
    EXPECT_EQ(ledger->publishes, 0);
}

TEST_F(StripeWebhookServer, WrongSignatureIs400) {
    const std::string body =
        subscription_event("evt_1", "customer.subscription.created", "price_pro", kNow_s);
    const auto reply = post(body, ul::webhook_signature("whsec_other", kNow_s, body));
    EXPECT_EQ(reply.status, 400) << reply.error;
    EXPECT_EQ(ledger->publishes, 0);
}

// Disabled until HttpRequest carries the Stripe-Signature header (projections/api/http_server.h
// keeps only Content-Type and Authorization today): the route then refuses every event, signed or
// not (stripe_routes.cpp, stripe_signature()).
TEST_F(StripeWebhookServer, SignedPostChangesThePlan) {
    const std::string body =
        subscription_event("evt_1", "customer.subscription.created", "price_pro", kNow_s - 1);
    const auto reply = post(body, ul::webhook_signature(kSecret, kNow_s, body));
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(ledger->account("acme")->plan, "pro");
    const auto again = post(body, ul::webhook_signature(kSecret, kNow_s, body));
    EXPECT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(ledger->publishes, 1);
}

}  // namespace
