// The fake Stripe (tests/fakes/fake_stripe.h) itself, over real sockets on 127.0.0.1: what it
// checks (auth, form bodies, whole-number values, the timestamp window under an injected clock,
// identifier uniqueness, idempotency keys) and its failure knobs (fail_next, 429 + Retry-After,
// a seeded failure rate, an answer held after the event was recorded, a closed port). Every wait
// has a deadline; nothing sleeps.
#include <gtest/gtest.h>

#include <simdjson.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/fakes/fake_stripe.h"
#include "tests/support/http_client.h"

namespace {

using namespace std::chrono_literals;
using ul::fakes::FakeStripe;
using ul::fakes::FakeStripeOptions;
using ul::test::HttpReply;

constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z, minute-aligned
constexpr std::int64_t kDaySeconds = 24 * 60 * 60;
const std::string kKey = "sk_test_fake_suite";
const std::string kForm = "application/x-www-form-urlencoded";
const std::string kEvents = "/v1/billing/meter_events";

// The value at a JSON pointer, as text: strings bare, other values minified; "<missing>" when
// absent or when the body is not JSON.
std::string json_at(const std::string& body, const std::string& pointer) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root) != simdjson::SUCCESS) {
        return "<not json>";
    }
    simdjson::dom::element value;
    if (root.at_pointer(pointer).get(value) != simdjson::SUCCESS) {
        return "<missing>";
    }
    if (value.is_string()) {
        return std::string(value.get_string().value());
    }
    return simdjson::minify(value);
}

// A response header ("" when absent); names are lowercased.
std::string header_of(const HttpReply& reply, const std::string& name) {
    const auto found = reply.headers.find(name);
    return found == reply.headers.end() ? std::string() : found->second;
}

// One request with a deadline for the whole exchange: what a client with a short timeout sees.
struct TimedReply {
    int status = 0;
    bool timed_out = false;
    std::string error;
};

// Asynchronous operations, because beast::tcp_stream's deadline binds those only.
TimedReply post_with_timeout(const std::string& address, const std::string& target,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body, std::chrono::milliseconds timeout) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    using tcp = boost::asio::ip::tcp;
    TimedReply reply;
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    const auto colon = address.rfind(':');
    const tcp::endpoint endpoint(boost::asio::ip::make_address(address.substr(0, colon)),
                                 static_cast<unsigned short>(std::stoi(address.substr(colon + 1))));
    http::request<http::string_body> request{http::verb::post, target, 11};
    request.set(http::field::host, address);
    for (const auto& [name, value] : headers) {
        request.set(name, value);
    }
    request.body() = body;
    request.prepare_payload();
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    const auto fail = [&](const beast::error_code& error) {
        reply.timed_out = error == beast::error::timeout;
        reply.error = error.message();
    };
    stream.expires_after(timeout);  // one deadline for connect, write and read together
    stream.async_connect(endpoint, [&](const beast::error_code& connect_error) {
        if (connect_error) {
            fail(connect_error);
            return;
        }
        http::async_write(stream, request, [&](const beast::error_code& write_error, std::size_t) {
            if (write_error) {
                fail(write_error);
                return;
            }
            http::async_read(stream, buffer, response,
                             [&](const beast::error_code& read_error, std::size_t) {
                                 if (read_error) {
                                     fail(read_error);
                                     return;
                                 }
                                 reply.status = static_cast<int>(response.result_int());
                             });
        });
    });
    io.run();
    return reply;
}

class FakeStripeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        FakeStripeOptions options;
        options.secret_key = kKey;
        options.now_seconds = [clock = clock_] { return clock->load(); };
        options.seed = seed_;
        auto started = FakeStripe::start(options);
        ASSERT_TRUE(started.ok()) << started.error();
        fake_ = std::move(started.value());
        fake_->add_meter("mtr_api_calls", "api_calls");
        fake_->add_meter("mtr_tokens", "tokens");
    }

    HttpReply post(const std::string& target, const std::string& body,
                   std::vector<std::pair<std::string, std::string>> headers = {},
                   const std::string& key = kKey, const std::string& content_type = kForm) {
        if (!key.empty()) {
            headers.emplace_back("Authorization", "Bearer " + key);
        }
        if (!content_type.empty()) {
            headers.emplace_back("Content-Type", content_type);
        }
        return ul::test::http_request(fake_->address(), "POST", target, headers, body);
    }

    HttpReply post_event(const std::string& body, const std::string& idempotency_key = "") {
        std::vector<std::pair<std::string, std::string>> headers;
        if (!idempotency_key.empty()) {
            headers.emplace_back("Idempotency-Key", idempotency_key);
        }
        return post(kEvents, body, headers);
    }

    HttpReply get(const std::string& target) {
        return ul::test::http_get(fake_->address(), target, kKey);
    }

    static std::string event_body(const std::string& customer, const std::string& value,
                                  const std::string& extra = "") {
        return "event_name=api_calls&payload%5Bstripe_customer_id%5D=" + customer +
               "&payload%5Bvalue%5D=" + value + extra;
    }

    std::shared_ptr<std::atomic<std::int64_t>> clock_ =
        std::make_shared<std::atomic<std::int64_t>>(kNow);
    std::uint64_t seed_ = 20261207;
    std::unique_ptr<FakeStripe> fake_;
};

TEST_F(FakeStripeTest, RefusesRequestsWithoutTheSecretKey) {
    const HttpReply none = post(kEvents, event_body("cus_a", "1"), {}, "");
    EXPECT_EQ(none.status, 401) << none.error;
    EXPECT_EQ(json_at(none.body, "/error/type"), "invalid_request_error") << none.body;
    EXPECT_NE(json_at(none.body, "/error/message").find("did not provide an API key"),
              std::string::npos);

    const HttpReply wrong = post(kEvents, event_body("cus_a", "1"), {}, "sk_test_wrong_key");
    EXPECT_EQ(wrong.status, 401);
    EXPECT_NE(json_at(wrong.body, "/error/message").find("Invalid API Key provided"),
              std::string::npos)
        << wrong.body;
    EXPECT_EQ(ul::test::http_get(fake_->address(), "/v1/billing/meters", "sk_test_other").status,
              401);
    EXPECT_TRUE(fake_->events().empty());

    // Basic auth with the key as user name is what `curl -u KEY:` sends; Stripe takes it.
    // "c2tfdGVzdF9mYWtlX3N1aXRlOg==" is base64("sk_test_fake_suite:").
    const HttpReply basic =
        ul::test::http_request(fake_->address(), "GET", "/v1/billing/meters",
                               {{"Authorization", "Basic c2tfdGVzdF9mYWtlX3N1aXRlOg=="}});
    EXPECT_EQ(basic.status, 200) << basic.body;

    const auto requests = fake_->requests();
    ASSERT_EQ(requests.size(), 4U);
    EXPECT_EQ(requests[0].status, 401);
    EXPECT_EQ(requests[1].authorization, "Bearer sk_test_wrong_key");
    EXPECT_EQ(requests[3].status, 200);
}

TEST_F(FakeStripeTest, MeterEventsMustBeWellFormedForms) {
    const HttpReply json =
        post(kEvents, R"({"event_name":"api_calls"})", {}, kKey, "application/json");
    EXPECT_EQ(json.status, 400);
    EXPECT_EQ(json_at(json.body, "/error/type"), "invalid_request_error");
    EXPECT_NE(json_at(json.body, "/error/message").find("application/x-www-form-urlencoded"),
              std::string::npos);

    const HttpReply missing_name =
        post_event("payload%5Bstripe_customer_id%5D=cus_a&payload%5Bvalue%5D=1");
    EXPECT_EQ(missing_name.status, 400);
    EXPECT_EQ(json_at(missing_name.body, "/error/param"), "event_name");
    EXPECT_EQ(json_at(missing_name.body, "/error/message"), "Missing required param: event_name.");

    const HttpReply missing_customer = post_event("event_name=api_calls&payload%5Bvalue%5D=1");
    EXPECT_EQ(missing_customer.status, 400);
    EXPECT_EQ(json_at(missing_customer.body, "/error/param"), "payload[stripe_customer_id]");

    const HttpReply missing_value =
        post_event("event_name=api_calls&payload%5Bstripe_customer_id%5D=cus_a");
    EXPECT_EQ(missing_value.status, 400);
    EXPECT_EQ(json_at(missing_value.body, "/error/param"), "payload[value]");

    const HttpReply unknown = post_event(event_body("cus_a", "1", "&colour=blue"));
    EXPECT_EQ(unknown.status, 400);
    EXPECT_EQ(json_at(unknown.body, "/error/message"), "Received unknown parameter: colour");
    EXPECT_EQ(json_at(unknown.body, "/error/param"), "colour");

    const HttpReply unknown_meter = post_event(
        "event_name=no_such_meter&payload%5Bstripe_customer_id%5D=cus_a&payload%5Bvalue%5D=1");
    EXPECT_EQ(unknown_meter.status, 400);
    EXPECT_EQ(json_at(unknown_meter.body, "/error/param"), "event_name");

    const HttpReply bad_escape = post_event(event_body("cus_%zz", "1"));
    EXPECT_EQ(bad_escape.status, 400);

    EXPECT_TRUE(fake_->events().empty());
    EXPECT_EQ(fake_->requests().size(), 7U);

    // Percent-decoding and '+' as space reach the recorded event and the answer.
    const HttpReply decoded = post_event(event_body("cus%5F+b%2Bc", "7"));
    ASSERT_EQ(decoded.status, 200) << decoded.body;
    EXPECT_EQ(json_at(decoded.body, "/object"), "billing.meter_event");
    EXPECT_EQ(json_at(decoded.body, "/payload/stripe_customer_id"), "cus_ b+c");
    EXPECT_EQ(json_at(decoded.body, "/payload/value"), "7");
    EXPECT_EQ(json_at(decoded.body, "/livemode"), "false");
    EXPECT_EQ(json_at(decoded.body, "/created"), std::to_string(kNow));
    ASSERT_EQ(fake_->events().size(), 1U);
    EXPECT_EQ(fake_->events()[0].customer, "cus_ b+c");
    EXPECT_EQ(fake_->events()[0].value, 7);
}

TEST_F(FakeStripeTest, ValuesMustBeWholeNumbers) {
    for (const std::string value :
         {"1.5", "-3", "%2B3", "1e3", "", "12abc", "0x10", "99999999999999999999"}) {
        const HttpReply reply = post_event(event_body("cus_a", value));
        EXPECT_EQ(reply.status, 400) << "value '" << value << "': " << reply.body;
        EXPECT_EQ(json_at(reply.body, "/error/param"), "payload[value]") << value;
    }
    EXPECT_TRUE(fake_->events().empty());
    for (const std::string value : {"0", "42", "9000000000000000000"}) {
        const HttpReply reply = post_event(event_body("cus_a", value));
        EXPECT_EQ(reply.status, 200) << "value '" << value << "': " << reply.body;
    }
    const auto totals = fake_->totals();
    ASSERT_EQ(totals.size(), 1U);
    EXPECT_EQ(totals.at({"cus_a", "api_calls"}), 9'000'000'000'000'000'042);
}

TEST_F(FakeStripeTest, TimestampsMustFallInStripesWindowOfTheFakeClock) {
    const auto with_timestamp = [&](std::int64_t timestamp) {
        return post_event(event_body("cus_a", "1", "&timestamp=" + std::to_string(timestamp)));
    };
    EXPECT_EQ(with_timestamp(kNow - 35 * kDaySeconds).status, 200);
    EXPECT_EQ(with_timestamp(kNow + 300).status, 200);
    const HttpReply too_old = with_timestamp(kNow - 35 * kDaySeconds - 1);
    EXPECT_EQ(too_old.status, 400);
    EXPECT_EQ(json_at(too_old.body, "/error/param"), "timestamp");
    EXPECT_EQ(with_timestamp(kNow + 301).status, 400);
    EXPECT_EQ(post_event(event_body("cus_a", "1", "&timestamp=soon")).status, 400);

    // Without a timestamp the event takes the fake's now; moving the clock moves the window.
    clock_->store(kNow + 3600);
    EXPECT_EQ(post_event(event_body("cus_a", "1")).status, 200);
    EXPECT_EQ(with_timestamp(kNow + 3600 + 300).status, 200);
    EXPECT_EQ(with_timestamp(kNow - 35 * kDaySeconds).status, 400);  // fell out of the window

    const auto events = fake_->events();
    ASSERT_EQ(events.size(), 4U);
    EXPECT_EQ(events[0].timestamp, kNow - 35 * kDaySeconds);
    EXPECT_EQ(events[1].timestamp, kNow + 300);
    EXPECT_EQ(events[2].timestamp, kNow + 3600);
    EXPECT_EQ(events[2].created, kNow + 3600);
}

TEST_F(FakeStripeTest, IdentifiersAreUnique) {
    const HttpReply first = post_event(event_body("cus_a", "5", "&identifier=usage-1"));
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(json_at(first.body, "/identifier"), "usage-1");
    const HttpReply again = post_event(event_body("cus_a", "5", "&identifier=usage-1"));
    EXPECT_EQ(again.status, 400);
    EXPECT_EQ(json_at(again.body, "/error/message"),
              "An event already exists with identifier usage-1.");
    EXPECT_EQ(header_of(again, "stripe-should-retry"), "false");
    EXPECT_EQ(post_event(event_body("cus_a", "5", "&identifier=usage-2")).status, 200);
    // Without an identifier the fake makes one up, so two such events are two events.
    EXPECT_EQ(post_event(event_body("cus_a", "5")).status, 200);
    EXPECT_EQ(post_event(event_body("cus_a", "5")).status, 200);
    EXPECT_EQ(fake_->events().size(), 4U);
    EXPECT_EQ((fake_->totals().at({"cus_a", "api_calls"})), 20);
}

TEST_F(FakeStripeTest, IdempotencyKeysReplayTheFirstAnswer) {
    const std::string body = event_body("cus_a", "3", "&identifier=idem-1");
    const HttpReply first = post_event(body, "key-1");
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.headers.count("idempotent-replayed"), 0U);
    clock_->store(kNow + 60);  // a replay is the first answer, created time and all
    const HttpReply replay = post_event(body, "key-1");
    EXPECT_EQ(replay.status, 200);
    EXPECT_EQ(replay.body, first.body);
    EXPECT_EQ(header_of(replay, "idempotent-replayed"), "true");
    EXPECT_EQ(header_of(replay, "original-request"), header_of(first, "request-id"));
    EXPECT_EQ(fake_->events().size(), 1U);

    const HttpReply different = post_event(event_body("cus_a", "4", "&identifier=idem-1"), "key-1");
    EXPECT_EQ(different.status, 400);
    EXPECT_EQ(json_at(different.body, "/error/type"), "idempotency_error") << different.body;
    const HttpReply other_path =
        post("/v1/billing_portal/sessions", "customer=cus_a", {{"Idempotency-Key", "key-1"}});
    EXPECT_EQ(json_at(other_path.body, "/error/type"), "idempotency_error") << other_path.body;
    EXPECT_EQ(fake_->events().size(), 1U);
    EXPECT_TRUE(fake_->portal_sessions().empty());

    // A request that fails validation is not saved: the corrected request under the same key runs.
    EXPECT_EQ(post_event(event_body("cus_b", "1.5"), "key-2").status, 400);
    const HttpReply corrected = post_event(event_body("cus_b", "2"), "key-2");
    EXPECT_EQ(corrected.status, 200) << corrected.body;
    EXPECT_EQ(corrected.headers.count("idempotent-replayed"), 0U);

    // The endpoint's own refusal (a duplicate identifier) is saved and replayed like a success.
    const std::string duplicate = event_body("cus_a", "3", "&identifier=idem-1");
    EXPECT_EQ(post_event(duplicate, "key-3").status, 400);
    const HttpReply duplicate_replay = post_event(duplicate, "key-3");
    EXPECT_EQ(duplicate_replay.status, 400);
    EXPECT_EQ(header_of(duplicate_replay, "idempotent-replayed"), "true");

    const auto requests = fake_->requests();
    ASSERT_EQ(requests.size(), 8U);
    EXPECT_EQ(requests[1].idempotency_key, "key-1");
    EXPECT_TRUE(requests[1].idempotent_replayed);
    EXPECT_FALSE(requests[0].idempotent_replayed);
    EXPECT_EQ(fake_->events().size(), 2U);
}

TEST_F(FakeStripeTest, FailNextAnswersErrorsWithoutRecording) {
    fake_->fail_next(2);
    const std::string body = event_body("cus_a", "1", "&identifier=retry-1");
    const HttpReply first = post_event(body, "key-retry");
    EXPECT_EQ(first.status, 500);
    EXPECT_EQ(json_at(first.body, "/error/type"), "api_error");
    EXPECT_EQ(post_event(body, "key-retry").status, 500);
    // Injected failures are not saved under the key: the retry runs and records once.
    const HttpReply third = post_event(body, "key-retry");
    EXPECT_EQ(third.status, 200) << third.body;
    EXPECT_EQ(third.headers.count("idempotent-replayed"), 0U);
    EXPECT_EQ(fake_->events().size(), 1U);

    fake_->fail_next(1, 503);
    EXPECT_EQ(post_event(event_body("cus_a", "1")).status, 503);
    // Only meter-event POSTs fail.
    fake_->fail_next(1);
    EXPECT_EQ(get("/v1/billing/meters").status, 200);
    EXPECT_EQ(post_event(event_body("cus_a", "1")).status, 500);
    EXPECT_EQ(post_event(event_body("cus_a", "1")).status, 200);
    EXPECT_EQ(fake_->events().size(), 2U);
}

TEST_F(FakeStripeTest, RateLimitAnswers429WithRetryAfter) {
    fake_->rate_limit_next(1, 7);
    const HttpReply limited = post_event(event_body("cus_a", "1"));
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(header_of(limited, "retry-after"), "7");
    EXPECT_EQ(json_at(limited.body, "/error/code"), "rate_limit");
    EXPECT_TRUE(fake_->events().empty());
    EXPECT_EQ(post_event(event_body("cus_a", "1")).status, 200);
    EXPECT_EQ(fake_->events().size(), 1U);
}

TEST_F(FakeStripeTest, ASeededFailureRateFailsSomeAndRecordsTheRest) {
    std::cerr << "fake Stripe seed " << seed_ << "\n";
    fake_->set_failure_rate(0.5);
    int failed = 0;
    constexpr int kRequests = 60;
    for (int i = 0; i < kRequests; ++i) {
        const HttpReply reply = post_event(event_body("cus_a", "1"));
        ASSERT_TRUE(reply.status == 200 || reply.status == 500) << reply.status << reply.error;
        failed += reply.status == 500 ? 1 : 0;
    }
    EXPECT_GT(failed, 5);
    EXPECT_LT(failed, kRequests - 5);
    EXPECT_EQ(fake_->events().size(), static_cast<std::size_t>(kRequests - failed));
    fake_->set_failure_rate(0.0);
    EXPECT_EQ(post_event(event_body("cus_a", "1")).status, 200);
}

TEST_F(FakeStripeTest, HangAfterRecordKeepsTheEventAndTheClientTimesOut) {
    fake_->hang_after_record_next(1, 5s);
    const std::string body = event_body("cus_a", "9", "&identifier=hang-1");
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"Authorization", "Bearer " + kKey},
        {"Content-Type", kForm},
        {"Idempotency-Key", "key-hang"}};
    const auto started = std::chrono::steady_clock::now();
    const TimedReply hung = post_with_timeout(fake_->address(), kEvents, headers, body, 300ms);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(hung.timed_out) << hung.status << " " << hung.error;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 5s);
    ASSERT_EQ(fake_->events().size(), 1U);  // recorded although the client never heard
    EXPECT_EQ(fake_->requests().back().status, 0);

    // The retry under the same key is the replay: the event is not recorded twice.
    const HttpReply retry = post_event(body, "key-hang");
    EXPECT_EQ(retry.status, 200) << retry.body;
    EXPECT_EQ(header_of(retry, "idempotent-replayed"), "true");
    EXPECT_EQ(fake_->events().size(), 1U);
    // Without the key, Stripe's identifier check refuses the second copy.
    EXPECT_EQ(post_event(body).status, 400);
    EXPECT_EQ(fake_->events().size(), 1U);
}

TEST_F(FakeStripeTest, DownRefusesConnectionsAndUpListensOnTheSamePort) {
    const std::string address = fake_->address();
    ASSERT_EQ(post_event(event_body("cus_a", "1")).status, 200);
    fake_->set_down(true);
    const HttpReply refused = ul::test::http_get(address, "/v1/billing/meters", kKey);
    EXPECT_EQ(refused.status, 0);
    EXPECT_NE(refused.error.find("refused"), std::string::npos) << refused.error;
    fake_->set_down(false);
    EXPECT_EQ(fake_->address(), address);
    const HttpReply back = post_event(event_body("cus_a", "2"));
    EXPECT_EQ(back.status, 200) << back.error;
    EXPECT_EQ(fake_->events().size(), 2U);
    fake_->set_down(false);  // already up: nothing changes
    EXPECT_EQ(get("/v1/billing/meters").status, 200);
}

TEST_F(FakeStripeTest, ListsMeters) {
    const HttpReply meters = get("/v1/billing/meters");
    ASSERT_EQ(meters.status, 200) << meters.body;
    EXPECT_EQ(json_at(meters.body, "/object"), "list");
    EXPECT_EQ(json_at(meters.body, "/has_more"), "false");
    EXPECT_EQ(json_at(meters.body, "/data/0/id"), "mtr_api_calls");
    EXPECT_EQ(json_at(meters.body, "/data/0/object"), "billing.meter");
    EXPECT_EQ(json_at(meters.body, "/data/0/event_name"), "api_calls");
    EXPECT_EQ(json_at(meters.body, "/data/0/status"), "active");
    EXPECT_EQ(json_at(meters.body, "/data/1/event_name"), "tokens");
    EXPECT_EQ(json_at(meters.body, "/data/2"), "<missing>");
    EXPECT_EQ(json_at(get("/v1/billing/meters/mtr_tokens").body, "/event_name"), "tokens");
    EXPECT_EQ(get("/v1/billing/meters/mtr_nope").status, 404);
}

TEST_F(FakeStripeTest, EventSummariesSumAWindowPlusAlterations) {
    const auto at = [&](const std::string& customer, const std::string& value,
                        std::int64_t timestamp) {
        return post_event(event_body(customer, value, "&timestamp=" + std::to_string(timestamp)))
            .status;
    };
    const std::int64_t start = kNow - 2 * kDaySeconds;
    const std::int64_t end = kNow - kDaySeconds;
    EXPECT_EQ(at("cus_a", "5", start), 200);         // inclusive start
    EXPECT_EQ(at("cus_a", "7", end - 1), 200);       // inside
    EXPECT_EQ(at("cus_a", "100", end), 200);         // exclusive end
    EXPECT_EQ(at("cus_b", "1000", start + 1), 200);  // another customer
    EXPECT_EQ(post("/v1/billing/meter_events",
                   "event_name=tokens&payload%5Bstripe_customer_id%5D=cus_a&payload%5Bvalue%5D=50"
                   "&timestamp=" +
                       std::to_string(start + 10))
                  .status,
              200);  // another meter

    const std::string query =
        "/v1/billing/meters/mtr_api_calls/event_summaries?customer=cus_a"
        "&start_time=" +
        std::to_string(start) + "&end_time=" + std::to_string(end);
    const HttpReply summary = get(query);
    ASSERT_EQ(summary.status, 200) << summary.body;
    EXPECT_EQ(json_at(summary.body, "/object"), "list");
    EXPECT_EQ(json_at(summary.body, "/data/0/object"), "billing.meter_event_summary");
    EXPECT_EQ(json_at(summary.body, "/data/0/aggregated_value"), "12");
    EXPECT_EQ(json_at(summary.body, "/data/0/meter"), "mtr_api_calls");
    EXPECT_EQ(json_at(summary.body, "/data/0/start_time"), std::to_string(start));
    EXPECT_EQ(json_at(summary.body, "/data/0/end_time"), std::to_string(end));
    EXPECT_EQ(json_at(summary.body, "/data/0/livemode"), "false");
    EXPECT_EQ(fake_->total("cus_a", "api_calls", start, end), 12);

    fake_->alter_summary("cus_a", "api_calls", 3);
    fake_->alter_summary("cus_a", "api_calls", 1000, end + 5);  // outside this window
    EXPECT_EQ(json_at(get(query).body, "/data/0/aggregated_value"), "15");
    EXPECT_EQ(fake_->total("cus_a", "api_calls", start, end), 12);  // what was recorded

    const std::string base = "/v1/billing/meters/mtr_api_calls/event_summaries";
    const HttpReply no_customer =
        get(base + "?start_time=" + std::to_string(start) + "&end_time=" + std::to_string(end));
    EXPECT_EQ(no_customer.status, 400);
    EXPECT_EQ(json_at(no_customer.body, "/error/param"), "customer");
    EXPECT_EQ(get(base + "?customer=cus_a&end_time=" + std::to_string(end)).status, 400);
    EXPECT_EQ(get(base + "?customer=cus_a&start_time=" + std::to_string(start)).status, 400);
    EXPECT_EQ(get(base + "?customer=cus_a&start_time=" + std::to_string(start + 1) +
                  "&end_time=" + std::to_string(end))
                  .status,
              400);  // not minute-aligned
    const HttpReply unknown =
        get("/v1/billing/meters/mtr_nope/event_summaries?customer=cus_a"
            "&start_time=" +
            std::to_string(start) + "&end_time=" + std::to_string(end));
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(json_at(unknown.body, "/error/code"), "resource_missing");
}

TEST_F(FakeStripeTest, CreatesCheckoutAndPortalSessions) {
    const HttpReply checkout =
        post("/v1/checkout/sessions",
             "mode=subscription&line_items%5B0%5D%5Bprice%5D=price_pro&line_items%5B0%5D%5B"
             "quantity%5D=1&success_url=https%3A%2F%2Fapp.example%2Fok&client_reference_id=acme"
             "&customer=cus_a&metadata%5Btenant%5D=acme");
    ASSERT_EQ(checkout.status, 200) << checkout.body;
    EXPECT_EQ(json_at(checkout.body, "/id"), "cs_test_1");
    EXPECT_EQ(json_at(checkout.body, "/object"), "checkout.session");
    EXPECT_EQ(json_at(checkout.body, "/url"), "https://checkout.stripe.com/c/pay/cs_test_1");
    EXPECT_EQ(json_at(checkout.body, "/success_url"), "https://app.example/ok");
    EXPECT_EQ(json_at(checkout.body, "/cancel_url"), "null");
    const auto sessions = fake_->checkout_sessions();
    ASSERT_EQ(sessions.size(), 1U);
    EXPECT_EQ(sessions[0].at("line_items[0][price]"), "price_pro");
    EXPECT_EQ(sessions[0].at("client_reference_id"), "acme");
    EXPECT_EQ(sessions[0].at("metadata[tenant]"), "acme");
    EXPECT_EQ(sessions[0].at("id"), "cs_test_1");

    EXPECT_EQ(
        post("/v1/checkout/sessions", "line_items%5B0%5D%5Bprice%5D=p&success_url=https%3A%2F%2Fx")
            .status,
        400);  // no mode
    EXPECT_EQ(post("/v1/checkout/sessions",
                   "mode=payment&line_items%5B0%5D%5Bprice%5D=p&success_url=https%3A%2F%2Fx")
                  .status,
              400);
    EXPECT_EQ(post("/v1/checkout/sessions", "mode=subscription&success_url=https%3A%2F%2Fx").status,
              400);  // no price
    EXPECT_EQ(
        post("/v1/checkout/sessions", "mode=subscription&line_items%5B0%5D%5Bprice%5D=p").status,
        400);  // no success_url
    EXPECT_EQ(post("/v1/checkout/sessions",
                   "mode=subscription&line_items%5B0%5D%5Bprice%5D=p&success_url=u"
                   "&line_items%5B0%5D%5Bcolour%5D=red")
                  .status,
              400);
    EXPECT_EQ(fake_->checkout_sessions().size(), 1U);

    const HttpReply portal = post("/v1/billing_portal/sessions",
                                  "customer=cus_a&return_url=https%3A%2F%2Fapp.example%2Fbilling");
    ASSERT_EQ(portal.status, 200) << portal.body;
    EXPECT_EQ(json_at(portal.body, "/id"), "bps_1");
    EXPECT_EQ(json_at(portal.body, "/object"), "billing_portal.session");
    EXPECT_EQ(json_at(portal.body, "/url"), "https://billing.stripe.com/p/session/test_1");
    EXPECT_EQ(post("/v1/billing_portal/sessions", "return_url=x").status, 400);
    ASSERT_EQ(fake_->portal_sessions().size(), 1U);
    EXPECT_EQ(fake_->portal_sessions()[0].at("return_url"), "https://app.example/billing");
}

TEST_F(FakeStripeTest, UnknownRoutesAre404InStripesShape) {
    const HttpReply unknown = get("/v1/customers");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(json_at(unknown.body, "/error/type"), "invalid_request_error");
    EXPECT_NE(json_at(unknown.body, "/error/message")
                  .find("Unrecognized request URL (GET: "
                        "/v1/customers)"),
              std::string::npos);
    EXPECT_EQ(get(kEvents).status, 404);  // the wrong method is an unknown URL too
    EXPECT_EQ(fake_->requests().size(), 2U);
}

TEST(FakeStripeForm, DecodesLikeABrowser) {
    const auto pairs = ul::fakes::parse_form("a=b+c&payload%5Bvalue%5D=1%2B2&flag&&empty=");
    ASSERT_TRUE(pairs.ok()) << pairs.error();
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"a", "b c"}, {"payload[value]", "1+2"}, {"flag", ""}, {"empty", ""}};
    EXPECT_EQ(pairs.value(), expected);
    EXPECT_FALSE(ul::fakes::parse_form("a=%zz").ok());
    EXPECT_FALSE(ul::fakes::parse_form("a=%4").ok());
    EXPECT_TRUE(ul::fakes::parse_form("").ok());
}

TEST(FakeStripeStart, ATakenPortIsAnError) {
    auto first = FakeStripe::start({});
    ASSERT_TRUE(first.ok()) << first.error();
    FakeStripeOptions options;
    options.port = (*first)->port();
    auto second = FakeStripe::start(options);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.error().find("cannot listen on 127.0.0.1:"), std::string::npos)
        << second.error();
}

}  // namespace
