// StripeClient (projections/billing/stripe_client.h) against a tiny scripted HTTP server on
// 127.0.0.1:0 (Boost.Asio + Beast, its own thread): each connection reads one request, records
// it and answers the next scripted answer (status, headers, body), or accepts and never answers.
// Checks what goes on the wire (method, path, Authorization, Stripe-Version, Idempotency-Key,
// Content-Type, the form body), what comes back (Retry-After, Stripe's error, the verdict),
// pagination, the timeout, and that the secret key is in no error text. Nothing sleeps; every
// wait has a deadline.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "projections/billing/stripe_client.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using boost::system::error_code;

constexpr const char* kSecret = "sk_test_SECRETvalue0123456789";

struct ScriptedAnswer {
    unsigned status = 200;
    std::string body = "{}";
    std::vector<std::pair<std::string, std::string>> headers;
    bool silent = false;  // accept, read, never answer
};

class ScriptedServer {
  public:
    explicit ScriptedServer(std::deque<ScriptedAnswer> answers) : answers_(std::move(answers)) {
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        acceptor_.listen();
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~ScriptedServer() {
        io_.stop();
        thread_.join();
    }
    ScriptedServer(const ScriptedServer&) = delete;
    ScriptedServer& operator=(const ScriptedServer&) = delete;

    std::string base() const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }
    std::vector<http::request<http::string_body>> requests() {
        const std::lock_guard lock(mutex_);
        return requests_;
    }

  private:
    struct Connection {
        explicit Connection(asio::io_context& io) : socket(io) {}
        tcp::socket socket;
        beast::flat_buffer buffer;
        http::request<http::string_body> request;
        http::response<http::string_body> response;
    };

    void accept() {
        auto connection = std::make_shared<Connection>(io_);
        acceptor_.async_accept(connection->socket, [this, connection](const error_code& error) {
            if (error) {
                return;
            }
            serve(connection);
            accept();
        });
    }

    void serve(const std::shared_ptr<Connection>& connection) {
        http::async_read(connection->socket, connection->buffer, connection->request,
                         [this, connection](const error_code& error, std::size_t) {
                             if (error) {
                                 return;
                             }
                             answer(connection);
                         });
    }

    void answer(const std::shared_ptr<Connection>& connection) {
        ScriptedAnswer next;
        {
            const std::lock_guard lock(mutex_);
            requests_.push_back(connection->request);
            if (!answers_.empty()) {
                next = std::move(answers_.front());
                answers_.pop_front();
            }
        }
        if (next.silent) {
            silent_.push_back(connection);  // kept open, unanswered, until the destructor
            return;
        }
        auto& response = connection->response;
        response.result(next.status);
        response.set(http::field::content_type, "application/json");
        for (const auto& [name, value] : next.headers) {
            response.set(name, value);
        }
        response.body() = next.body;
        response.prepare_payload();
        http::async_write(connection->socket, response,
                          [connection](const error_code&, std::size_t) {
                              error_code ignored;
                              connection->socket.shutdown(tcp::socket::shutdown_both, ignored);
                              connection->socket.close(ignored);
                          });
    }

    asio::io_context io_;
    tcp::acceptor acceptor_{io_};
    std::mutex mutex_;
    std::deque<ScriptedAnswer> answers_;
    std::vector<http::request<http::string_body>> requests_;
    std::vector<std::shared_ptr<Connection>> silent_;  // server thread only
    std::thread thread_;
};

ul::StripeConfig config_for(const ScriptedServer& server) {
    ul::StripeConfig config;
    config.api_base = server.base();
    config.secret_key = kSecret;
    config.timeout = 5s;
    config.requests_per_second = 1000;
    config.burst = 100;
    return config;
}

std::string field(const http::request<http::string_body>& request, std::string_view name) {
    const auto found = request.find(boost::beast::string_view(name.data(), name.size()));
    return found == request.end() ? std::string("<absent>") : std::string(found->value());
}

TEST(StripeClient, PostsAFormWithAuthVersionAndIdempotencyKey) {
    ScriptedServer server({{200, R"({"object":"billing.meter_event","identifier":"ev-1"})", {}}});
    ul::StripeClient client(config_for(server));
    const auto response =
        client.create_meter_event("api_calls", "cus_42", 1234, "ev-1", 1'700'000'000, "idem-7");
    EXPECT_EQ(response.status, 200) << response.describe();
    EXPECT_EQ(response.verdict, ul::StripeVerdict::ok);
    EXPECT_EQ(response.body, R"({"object":"billing.meter_event","identifier":"ev-1"})");
    EXPECT_TRUE(response.error.empty());
    EXPECT_TRUE(response.stripe_error.empty());

    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    const auto& request = requests[0];
    EXPECT_EQ(request.method(), http::verb::post);
    EXPECT_EQ(request.target(), "/v1/billing/meter_events");
    EXPECT_EQ(field(request, "Authorization"), std::string("Bearer ") + kSecret);
    EXPECT_EQ(field(request, "Stripe-Version"), "2025-03-31.basil");
    EXPECT_EQ(field(request, "Idempotency-Key"), "idem-7");
    EXPECT_EQ(field(request, "Content-Type"), "application/x-www-form-urlencoded");
    EXPECT_EQ(request.body(),
              "event_name=api_calls&payload[stripe_customer_id]=cus_42&payload[value]=1234&"
              "identifier=ev-1&timestamp=1700000000");
}

TEST(StripeClient, GetSendsNoBodyNoContentTypeAndNoIdempotencyKey) {
    ScriptedServer server({{200, R"({"object":"list","data":[],"has_more":false})", {}}});
    ul::StripeClient client(config_for(server));
    const auto meters = client.list_meters();
    ASSERT_TRUE(meters) << meters.error().describe();
    EXPECT_TRUE(meters->empty());
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].method(), http::verb::get);
    EXPECT_EQ(requests[0].target(), "/v1/billing/meters?limit=100");
    EXPECT_EQ(field(requests[0], "Authorization"), std::string("Bearer ") + kSecret);
    EXPECT_EQ(field(requests[0], "Stripe-Version"), "2025-03-31.basil");
    EXPECT_EQ(field(requests[0], "Idempotency-Key"), "<absent>");
    EXPECT_EQ(field(requests[0], "Content-Type"), "<absent>");
    EXPECT_TRUE(requests[0].body().empty());
}

TEST(StripeClient, ReadsRetryAfterAndStripesErrorOn429) {
    ScriptedServer server({{429,
                            R"({"error":{"type":"invalid_request_error","code":"rate_limit",)"
                            R"("message":"Too many requests"}})",
                            {{"Retry-After", "7"}, {"Request-Id", "req_123"}}}});
    ul::StripeClient client(config_for(server));
    const auto response = client.post("/v1/billing/meter_events", {{"event_name", "x"}}, "k");
    EXPECT_EQ(response.status, 429);
    EXPECT_EQ(response.verdict, ul::StripeVerdict::retry);
    ASSERT_TRUE(response.retry_after_seconds.has_value());
    EXPECT_EQ(*response.retry_after_seconds, 7);
    EXPECT_EQ(response.request_id, "req_123");
    EXPECT_EQ(response.stripe_error, "invalid_request_error/rate_limit: Too many requests");
    EXPECT_NE(response.describe().find("HTTP 429"), std::string::npos) << response.describe();
    EXPECT_NE(response.describe().find("req_123"), std::string::npos) << response.describe();
}

TEST(StripeClient, A400IsPermanentAndKeepsStripesMessage) {
    ScriptedServer server({{400,
                            R"({"error":{"type":"invalid_request_error","code":"resource_missing",)"
                            R"("message":"No such customer: 'cus_x'","param":"customer"}})",
                            {}}});
    ul::StripeClient client(config_for(server));
    const auto session = client.create_portal_session("cus_x", "https://example.com/back");
    ASSERT_FALSE(session);
    EXPECT_EQ(session.error().status, 400);
    EXPECT_EQ(session.error().verdict, ul::StripeVerdict::permanent);
    EXPECT_EQ(session.error().stripe_error,
              "invalid_request_error/resource_missing: No such customer: 'cus_x'");
    EXPECT_FALSE(session.error().retry_after_seconds.has_value());
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].target(), "/v1/billing_portal/sessions");
    EXPECT_EQ(requests[0].body(), "customer=cus_x&return_url=https%3A%2F%2Fexample.com%2Fback");
    EXPECT_EQ(field(requests[0], "Idempotency-Key"), "<absent>");
}

TEST(StripeClient, A503WithoutJsonIsRetryWithTheStatusAsItsError) {
    ScriptedServer server({{503, "<html>unavailable</html>", {}}});
    ul::StripeClient client(config_for(server));
    const auto response = client.get("/v1/billing/meters");
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.verdict, ul::StripeVerdict::retry);
    EXPECT_EQ(response.stripe_error, "HTTP 503");
}

TEST(StripeClient, CheckoutSessionSendsTheTenantAndReturnsIdAndUrl) {
    ScriptedServer server(
        {{200,
          R"({"id":"cs_test_1","object":"checkout.session","url":"https://pay/cs_test_1"})",
          {}}});
    ul::StripeClient client(config_for(server));
    const auto session = client.create_checkout_session(
        "price_9", "tenant acme", std::string("cus_1"), "https://x/ok?s={CHECKOUT_SESSION_ID}",
        "https://x/no", "checkout-acme-1");
    ASSERT_TRUE(session) << session.error().describe();
    EXPECT_EQ(session->id, "cs_test_1");
    EXPECT_EQ(session->url, "https://pay/cs_test_1");
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].target(), "/v1/checkout/sessions");
    EXPECT_EQ(field(requests[0], "Idempotency-Key"), "checkout-acme-1");
    EXPECT_EQ(requests[0].body(),
              "mode=subscription&line_items[0][price]=price_9&client_reference_id=tenant%20acme&"
              "success_url=https%3A%2F%2Fx%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D&"
              "cancel_url=https%3A%2F%2Fx%2Fno&customer=cus_1");
}

TEST(StripeClient, MeterEventSummariesFollowPagesAndSum) {
    ScriptedServer server({
        {200,
         R"({"object":"list","data":[{"id":"mtrusg_1","aggregated_value":30,"start_time":60,)"
         R"("end_time":120}],"has_more":true})",
         {}},
        {200,
         R"({"object":"list","data":[{"id":"mtrusg_2","aggregated_value":12.0,"start_time":120,)"
         R"("end_time":180}],"has_more":false})",
         {}},
    });
    ul::StripeClient client(config_for(server));
    const auto sums = client.meter_event_summaries("mtr_1", "cus_1", 60, 180);
    ASSERT_TRUE(sums) << sums.error().describe();
    EXPECT_EQ(sums->total, 42);
    ASSERT_EQ(sums->summaries.size(), 2U);
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].target(),
              "/v1/billing/meters/mtr_1/event_summaries?customer=cus_1&start_time=60&"
              "end_time=180&limit=100");
    EXPECT_EQ(requests[1].target(),
              "/v1/billing/meters/mtr_1/event_summaries?customer=cus_1&start_time=60&"
              "end_time=180&limit=100&starting_after=mtrusg_1");
}

TEST(StripeClient, AnUnusable2xxBodyIsPermanent) {
    ScriptedServer server({{200, "not json", {}}});
    ul::StripeClient client(config_for(server));
    const auto meters = client.list_meters();
    ASSERT_FALSE(meters);
    EXPECT_EQ(meters.error().status, 200);
    EXPECT_EQ(meters.error().verdict, ul::StripeVerdict::permanent);
    EXPECT_NE(meters.error().stripe_error.find("not JSON"), std::string::npos);
}

TEST(StripeClient, TimesOutWhenTheServerNeverAnswers) {
    ScriptedServer server({{200, "", {}, true}});
    auto config = config_for(server);
    config.timeout = 300ms;
    ul::StripeClient client(config);
    const auto started = std::chrono::steady_clock::now();
    const auto response = client.post("/v1/billing/meter_events", {{"event_name", "x"}}, "k");
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(response.timed_out) << response.describe();
    EXPECT_EQ(response.status, 0);
    EXPECT_EQ(response.verdict, ul::StripeVerdict::retry);
    EXPECT_NE(response.error.find("timed out after 300 ms"), std::string::npos) << response.error;
    EXPECT_LT(elapsed, 5s);
    EXPECT_EQ(response.error.find("SECRET"), std::string::npos);
}

TEST(StripeClient, TheSecretKeyIsInNoErrorText) {
    // Nothing listens on port 1 of loopback: a network error, fast.
    ul::StripeConfig config;
    config.api_base = "http://127.0.0.1:1";
    config.secret_key = kSecret;
    config.timeout = 2s;
    ul::StripeClient client(config);
    const auto response = client.post("/v1/billing/meter_events", {{"event_name", "x"}}, "idem");
    EXPECT_EQ(response.status, 0);
    EXPECT_FALSE(response.error.empty());
    EXPECT_EQ(response.verdict, ul::StripeVerdict::retry);
    EXPECT_EQ(response.error.find("SECRET"), std::string::npos) << response.error;
    EXPECT_EQ(response.describe().find("SECRET"), std::string::npos) << response.describe();

    // A key with a line break is refused by the header check, which names the header only.
    config.secret_key = std::string(kSecret) + "\r\nX-Evil: 1";
    ul::StripeClient broken(config);
    const auto refused = broken.get("/v1/billing/meters");
    EXPECT_EQ(refused.status, 0);
    EXPECT_NE(refused.error.find("Authorization"), std::string::npos) << refused.error;
    EXPECT_EQ(refused.error.find("SECRET"), std::string::npos) << refused.error;
    EXPECT_EQ(refused.describe().find("SECRET"), std::string::npos) << refused.describe();

    // A bad base URL's error names the URL, not the key.
    config.api_base = "ftp://stripe";
    ul::StripeClient bad_base(config);
    const auto bad = bad_base.get("/v1/billing/meters");
    EXPECT_FALSE(bad.error.empty());
    EXPECT_EQ(bad.error.find("SECRET"), std::string::npos) << bad.error;

    // Stripe's 401 answer echoes nothing of ours either.
    ScriptedServer server({{401,
                            R"({"error":{"type":"invalid_request_error",)"
                            R"("message":"Invalid API Key provided: sk_test_****6789"}})",
                            {}}});
    config.api_base = server.base();
    config.secret_key = kSecret;
    ul::StripeClient unauthorized(config);
    const auto denied = unauthorized.get("/v1/billing/meters");
    EXPECT_EQ(denied.verdict, ul::StripeVerdict::permanent);
    EXPECT_EQ(denied.describe().find("SECRET"), std::string::npos) << denied.describe();
}

TEST(StripeClient, TheClientSideRateLimitSpacesRequests) {
    ScriptedServer server({{200, "{}", {}}, {200, "{}", {}}, {200, "{}", {}}});
    auto config = config_for(server);
    config.requests_per_second = 20;  // one every 50 ms after a burst of 1
    config.burst = 1;
    ul::StripeClient client(config);
    const auto started = std::chrono::steady_clock::now();
    for (int request = 0; request < 3; ++request) {
        EXPECT_EQ(client.get("/v1/billing/meters").status, 200);
    }
    EXPECT_GE(std::chrono::steady_clock::now() - started, 95ms);
}

}  // namespace
