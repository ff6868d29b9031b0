// Stripe's side of the upgrade path through `usage-ledger up`, over real sockets, with the fake
// Stripe in this process:
// - POST /v1/stripe/webhook: a subscription update signed as Stripe signs (the v1 signature
//   computed independently, by Python's hmac) moves the tenant to the plan of its price, visible
//   in the usage API; a wrong signature and a stale timestamp are 400; the same event again is
//   200 and changes nothing; a deletion moves the tenant to the default plan;
// - checkout and portal answer the fake's session URLs, with the plan's price, the tenant as
//   client_reference_id and the tenant's customer.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/fakes/fake_stripe.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::http_request;
using ul::test::TempDir;

constexpr char kAdmin[] = "billing-api-admin";
const std::string kStripeKey = "sk_test_billing_api";
const std::string kWebhookSecret = "whsec_billing_api_test";

bool has(const std::string& body, const std::string& part) {
    return body.find(part) != std::string::npos;
}

std::string subscription_event(const std::string& id, const std::string& type,
                               const std::string& price, std::int64_t created_s) {
    return R"({"id":")" + id + R"(","object":"event","type":")" + type + R"(","created":)" +
           std::to_string(created_s) +
           R"(,"data":{"object":{"id":"sub_1","object":"subscription","customer":"cus_web",)"
           R"("status":"active","metadata":{"tenant_id":"web"},"items":{"object":"list",)"
           R"("data":[{"id":"si_1","price":{"id":")" +
           price + R"("}}]}}}})";
}

// HMAC-SHA256 over "<t>.<body>" with the secret, hex: computed by Python, not by our code.
std::string python_v1(const std::string& secret, std::int64_t t, const std::string& body,
                      const std::filesystem::path& dir) {
    const auto path = dir / "webhook-body.json";
    std::ofstream(path, std::ios::binary) << body;
    const std::string command =
        "python3 -c 'import hmac,hashlib,sys; "
        "m=sys.argv[2].encode()+b\".\"+open(sys.argv[3],\"rb\").read(); "
        "print(hmac.new(sys.argv[1].encode(),m,hashlib.sha256).hexdigest())' " +
        secret + " " + std::to_string(t) + " " + path.string();
    std::string out;
    const std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    std::array<char, 256> buffer{};
    while (pipe && std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) {
        out += buffer.data();
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

class BillingApi : public ::testing::Test {
  protected:
    void SetUp() override {
        ul::fakes::FakeStripeOptions options;
        options.secret_key = kStripeKey;
        auto fake = ul::fakes::FakeStripe::start(options);
        ASSERT_TRUE(fake) << fake.error();
        fake_ = std::move(fake).value();
        fake_->add_meter("mtr_api", "api_calls");
        data_dir_ = (dir_.path() / "data").string();
        std::ofstream(dir_.path() / "stripe.key") << kStripeKey;
        std::ofstream(dir_.path() / "webhook.secret") << kWebhookSecret << "\n";
        up_ = std::make_unique<ChildProcess>(
            "up",
            std::vector<std::string>{
                UL_BINARY, "up", "--data-dir", data_dir_, "--listen", "127.0.0.1:0", "--admin-key",
                kAdmin, "--rate-limit", "100000", "--rate-burst", "100000", "--stripe-api-base",
                fake_->base_url(), "--stripe-secret-key-file",
                (dir_.path() / "stripe.key").string(), "--stripe-webhook-secret-file",
                (dir_.path() / "webhook.secret").string()},
            dir_.path());
        address_ = ul::test::wait_for_match([&] { return up_->stdout_text(); },
                                            "dashboard: +http://([0-9.]+:[0-9]+)/", 120s);
        ASSERT_FALSE(address_.empty()) << up_->stderr_text();
        ASSERT_TRUE(ul::test::wait_until(
            [&] { return http_get(address_, "/readyz").status == 200; }, 120s));
    }

    ul::test::HttpReply post_webhook(const std::string& body, const std::string& signature) {
        return http_request(address_, "POST", "/v1/stripe/webhook",
                            {{"Content-Type", "application/json"}, {"Stripe-Signature", signature}},
                            body);
    }

    // The plan the usage API answers for the tenant ("" when it cannot tell).
    std::string plan_of(const std::string& tenant) {
        const auto usage = http_get(address_, "/v1/tenants/" + tenant + "/usage", kAdmin);
        const auto at = usage.body.find("\"plan\":\"");
        if (at == std::string::npos) {
            return "";
        }
        const auto start = at + 8;
        return usage.body.substr(start, usage.body.find('"', start) - start);
    }

    TempDir dir_;
    std::string data_dir_;
    std::unique_ptr<ul::fakes::FakeStripe> fake_;
    std::unique_ptr<ChildProcess> up_;
    std::string address_;
};

TEST_F(BillingApi, SignedWebhooksChangeThePlanAndBadOnesAreRefused) {
    const std::int64_t now = std::time(nullptr);
    EXPECT_EQ(plan_of("web"), "free");  // no account: the default plan
    const std::string update =
        subscription_event("evt_up_1", "customer.subscription.updated", "price_pro_monthly", now);
    // A wrong signature, a stale timestamp, no signature: 400, nothing changes.
    const auto wrong =
        post_webhook(update, "t=" + std::to_string(now) + ",v1=" + std::string(64, 'a'));
    EXPECT_EQ(wrong.status, 400) << wrong.body;
    const std::int64_t stale = now - 600;
    const auto old =
        post_webhook(update, "t=" + std::to_string(stale) +
                                 ",v1=" + python_v1(kWebhookSecret, stale, update, dir_.path()));
    EXPECT_EQ(old.status, 400) << old.body;
    EXPECT_EQ(post_webhook(update, "").status, 400);
    EXPECT_EQ(plan_of("web"), "free");

    // Signed as Stripe signs: the tenant is on pro, with pro's limits, in the usage API.
    const std::string signature =
        "t=" + std::to_string(now) + ",v1=" + python_v1(kWebhookSecret, now, update, dir_.path());
    const auto applied = post_webhook(update, signature);
    ASSERT_EQ(applied.status, 200) << applied.body;
    EXPECT_TRUE(has(applied.body, "\"action\":\"applied\"")) << applied.body;
    ASSERT_TRUE(ul::test::wait_until([&] { return plan_of("web") == "pro"; }, 30s))
        << http_get(address_, "/v1/tenants/web/usage", kAdmin).body;
    const auto usage = http_get(address_, "/v1/tenants/web/entitlements/api_calls", kAdmin);
    EXPECT_TRUE(has(usage.body, "\"limit\":\"100000\"")) << usage.body;

    // The same event again: 200, ignored, no second change.
    const auto replayed = post_webhook(update, signature);
    EXPECT_EQ(replayed.status, 200) << replayed.body;
    EXPECT_TRUE(has(replayed.body, "\"action\":\"ignored\"")) << replayed.body;

    // Deleted: the default plan.
    const std::string deleted = subscription_event("evt_up_2", "customer.subscription.deleted",
                                                   "price_pro_monthly", now + 1);
    const auto gone =
        post_webhook(deleted, "t=" + std::to_string(now) +
                                  ",v1=" + python_v1(kWebhookSecret, now, deleted, dir_.path()));
    ASSERT_EQ(gone.status, 200) << gone.body;
    ASSERT_TRUE(ul::test::wait_until([&] { return plan_of("web") == "free"; }, 30s));
    EXPECT_EQ(up_->stderr_text().find(kWebhookSecret), std::string::npos);
    EXPECT_EQ(up_->stdout_text().find(kWebhookSecret), std::string::npos);
}

TEST_F(BillingApi, CheckoutAndPortalAnswerStripesSessionUrls) {
    ChildProcess account("account",
                         {UL_BINARY, "account", "set", "--bootstrap-file", data_dir_ + "/bootstrap",
                          "--tenant", "shop", "--plan", "free", "--stripe-customer", "cus_shop"},
                         dir_.path());
    ASSERT_EQ(account.wait(60s), std::optional<int>(0)) << account.stderr_text();
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return has(http_get(address_, "/v1/admin/tenants", kAdmin).body,
                       R"("tenant_id":"shop","plan":"free")");
        },
        60s));
    const auto checkout = http_request(
        address_, "POST", "/v1/tenants/shop/billing/checkout",
        {{"Authorization", std::string("Bearer ") + kAdmin}, {"Content-Type", "application/json"}},
        R"({"plan":"pro","success_url":"https://app.example/ok","cancel_url":"https://app.example/no"})");
    ASSERT_EQ(checkout.status, 200) << checkout.body;
    const auto sessions = fake_->checkout_sessions();
    ASSERT_EQ(sessions.size(), 1U);
    EXPECT_TRUE(has(checkout.body, "\"url\":\"" + sessions[0].at("url") + "\"")) << checkout.body;
    EXPECT_EQ(sessions[0].at("client_reference_id"), "shop");
    EXPECT_EQ(sessions[0].at("mode"), "subscription");
    EXPECT_EQ(sessions[0].at("line_items[0][price]"), "price_pro_monthly");
    EXPECT_EQ(sessions[0].at("customer"), "cus_shop");

    const auto unsold = http_request(
        address_, "POST", "/v1/tenants/shop/billing/checkout",
        {{"Authorization", std::string("Bearer ") + kAdmin}},
        R"({"plan":"free","success_url":"https://app.example/ok","cancel_url":"https://app.example/no"})");
    EXPECT_EQ(unsold.status, 400) << unsold.body;  // free has no stripe_price_id

    const auto portal = http_request(address_, "POST", "/v1/tenants/shop/billing/portal",
                                     {{"Authorization", std::string("Bearer ") + kAdmin}},
                                     R"({"return_url":"https://app.example/account"})");
    ASSERT_EQ(portal.status, 200) << portal.body;
    const auto portals = fake_->portal_sessions();
    ASSERT_EQ(portals.size(), 1U);
    EXPECT_EQ(portals[0].at("customer"), "cus_shop");
    EXPECT_TRUE(has(portal.body, "\"url\":\"" + portals[0].at("url") + "\"")) << portal.body;

    const auto no_customer = http_request(address_, "POST", "/v1/tenants/other/billing/portal",
                                          {{"Authorization", std::string("Bearer ") + kAdmin}},
                                          R"({"return_url":"https://app.example/account"})");
    EXPECT_EQ(no_customer.status, 409) << no_customer.body;
    const auto billing = http_get(address_, "/v1/tenants/shop/billing", kAdmin);
    EXPECT_TRUE(has(billing.body, "\"enabled\":true")) << billing.body;
}

}  // namespace
