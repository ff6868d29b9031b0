// The Stripe API client of the billing projection, and its pure parts.
//
// Pure (functions of their arguments; time and randomness passed in; no I/O): form_encode, the
// token bucket, the circuit breaker, stripe_backoff_delay, classify_stripe. TokenBucket and
// CircuitBreaker are plain values: not thread-safe, callers serialize.
//
// StripeClient does blocking HTTPS through http_call (projections/alerts/webhook.h): every call
// blocks the calling thread for at most about config.timeout, plus the client-side rate limit's
// wait. It is thread-safe (its token bucket is behind a mutex). It never retries by itself:
// each response carries a verdict, and the caller (an outbox worker) decides, with
// stripe_backoff_delay and a CircuitBreaker it owns, when to try again with the same
// idempotency key.
//
// The secret key is sent only in the Authorization header. It never appears in an error text, a
// log line or an exception: http_call's errors never quote a header's value, and nothing here
// formats the key.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "projections/alerts/webhook.h"
#include "schemas/result.h"

namespace ul {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// application/x-www-form-urlencoded, in the given order: key=value joined by '&'. RFC 3986
// unreserved characters (A-Z a-z 0-9 - . _ ~) are kept, every other byte is %XX (upper-case hex;
// a space is %20). In keys '[' and ']' are kept as Stripe's own libraries send them
// ("payload[value]=1", "line_items[0][price]=price_1"); in values they are encoded.
std::string form_encode(const FormFields& fields);

// The Stripe API version every request pins (Stripe-Version). Billing meters and meter events
// (/v1/billing/meters, /v1/billing/meter_events) exist since 2024-06-20; this is the version
// stripe-go v82 pins.
inline constexpr std::string_view kStripeApiVersion = "2025-03-31.basil";

struct StripeConfig {
    std::string api_base = "https://api.stripe.com";  // no trailing '/'; http:// for a mock
    std::string secret_key;                           // sk_... or rk_...; never logged
    std::string stripe_version = std::string(kStripeApiVersion);
    std::chrono::milliseconds timeout{10'000};  // one request, end to end
    double requests_per_second = 20;            // client-side bucket (a rate, not money)
    int burst = 20;
};

// The key from `file_path_or_empty` (its whole content, surrounding whitespace trimmed) when
// given, else from $STRIPE_SECRET_KEY. An error when neither is there, the file cannot be read,
// or the key is empty or has a space or control character inside. Errors name the file or the
// variable, never the key or any part of it.
[[nodiscard]] Result<std::string, std::string> load_stripe_secret_key(
    const std::string& file_path_or_empty);

// A token bucket with an injected clock (microseconds, any epoch, one per bucket). Starts full.
// A clock that goes backwards mints no tokens. Not thread-safe.
class TokenBucket {
  public:
    TokenBucket(double requests_per_second, int burst, std::int64_t now_us);
    // Takes a token if one is there.
    [[nodiscard]] bool try_take(std::int64_t now_us);
    // 0 when a token is there now, else the microseconds until one is (>= 1).
    [[nodiscard]] std::int64_t wait_us(std::int64_t now_us);

  private:
    void refill(std::int64_t now_us);
    double rate_per_us_;
    double burst_;
    double tokens_;
    std::int64_t updated_us_;
};

enum class BreakerState : std::uint8_t { closed, open, half_open };
std::string_view to_string(BreakerState state);

// Stops calls to a Stripe that keeps failing. Closed: every call allowed; failures_to_open
// consecutive failures open it for `pause`. Open: nothing allowed until opened_until_us. Then
// half-open: allow() lets one trial through (and no other until its result, or until another
// pause passes without one); record_success closes the breaker, record_failure opens it for
// another pause. What counts as a failure is the caller's choice (a retry verdict; not a
// permanent 4xx, which says nothing about Stripe's health). Not thread-safe.
class CircuitBreaker {
  public:
    explicit CircuitBreaker(int failures_to_open = 5,
                            std::chrono::seconds pause = std::chrono::minutes{15});
    [[nodiscard]] bool allow(std::int64_t now_us);
    void record_success();
    void record_failure(std::int64_t now_us);
    BreakerState state(std::int64_t now_us) const;
    std::int64_t opened_until_us() const { return opened_until_us_; }  // 0 when closed
    int consecutive_failures() const { return consecutive_failures_; }

  private:
    int failures_to_open_;
    std::int64_t pause_us_;
    int consecutive_failures_ = 0;
    std::int64_t opened_until_us_ = 0;
    std::optional<std::int64_t> trial_started_us_;  // half-open: the trial let through
};

// Exponential backoff with full jitter: after failed attempt `attempt` (0-based), wait
// random % (ceiling + 1) ms where ceiling = min(cap, base * 2^attempt); when Stripe sent
// Retry-After (seconds, capped at a day), the wait is at least that. `random` is a uniform 64-bit
// value from the caller.
struct StripeBackoff {
    std::chrono::milliseconds base{500};
    std::chrono::milliseconds cap{60'000};
};
std::chrono::milliseconds stripe_backoff_delay(const StripeBackoff& backoff, std::uint32_t attempt,
                                               std::optional<std::int64_t> retry_after_seconds,
                                               std::uint64_t random);

// ok: 2xx. retry: no answer (network error, timeout), 408, 409 (a concurrent request with the
// same idempotency key), 429 (rate limited, lock_timeout), 5xx, or any non-2xx answer with
// Stripe-Should-Retry: true. permanent: any other status (400 invalid request, 401, 402, 403,
// 404, ...), or a 409/429/5xx with Stripe-Should-Retry: false.
enum class StripeVerdict : std::uint8_t { ok, retry, permanent };
std::string_view to_string(StripeVerdict verdict);
StripeVerdict classify_stripe(const HttpCallResult& result);

struct StripeResponse {
    int status = 0;  // 0: no HTTP answer
    std::string body;
    std::optional<std::int64_t> retry_after_seconds;
    std::string error;  // no answer: network / timeout text (never the key); else empty
    bool timed_out = false;
    StripeVerdict verdict = StripeVerdict::retry;
    std::string request_id;  // Stripe's Request-Id header, for support
    // A non-2xx answer's {"error":{"type","code","message"}} as "type/code: message" (cut to
    // 512 bytes), or "HTTP <status>" when the body has none. Empty on 2xx or no answer.
    std::string stripe_error;

    // One line for a log: the status or the network error, Stripe's error and request id.
    std::string describe() const;
};

// "type/code: message" from a Stripe error body, or nullopt.
std::optional<std::string> stripe_error_text(std::string_view body);

struct StripeMeter {
    std::string id;
    std::string event_name;
    std::string display_name;
    std::string status;  // active | inactive
};

struct MeterEventSummary {
    std::string id;  // mtrusg_...
    std::int64_t start_time_s = 0;
    std::int64_t end_time_s = 0;
    std::int64_t aggregated_value = 0;
};

struct MeterEventSummaries {
    std::vector<MeterEventSummary> summaries;
    std::int64_t total = 0;  // the sum of aggregated_value
};

struct StripeSession {  // a Checkout or Customer Portal session
    std::string id;
    std::string url;
};

// Parsers of 2xx bodies (pure; exposed for tests). Errors say what is missing.
[[nodiscard]] Result<std::vector<StripeMeter>, std::string> parse_meter_list(std::string_view body,
                                                                             bool* has_more);
[[nodiscard]] Result<MeterEventSummaries, std::string> parse_meter_event_summaries(
    std::string_view body, bool* has_more);
[[nodiscard]] Result<StripeSession, std::string> parse_session(std::string_view body);

class StripeClient {
  public:
    explicit StripeClient(StripeConfig config);

    // POST api_base + path (e.g. "/v1/billing/meter_events") with a form body; Idempotency-Key
    // sent when non-empty.
    StripeResponse post(std::string_view path, const FormFields& form,
                        std::string_view idempotency_key);
    // GET api_base + path_and_query (the query already encoded, e.g. with form_encode).
    StripeResponse get(std::string_view path_and_query);

    // POST /v1/billing/meter_events: payload[stripe_customer_id], payload[value], identifier
    // (Stripe's own dedup key for the event, unique per meter event), timestamp.
    StripeResponse create_meter_event(std::string_view event_name, std::string_view customer,
                                      std::int64_t value, std::string_view identifier,
                                      std::int64_t timestamp_seconds,
                                      std::string_view idempotency_key);
    // GET /v1/billing/meters, every page (at most kPagesMax of 100).
    Result<std::vector<StripeMeter>, StripeResponse> list_meters();
    // GET /v1/billing/meters/{meter_id}/event_summaries for [start_s, end_s) (Stripe wants them
    // on minute boundaries), every page. A summary whose aggregated_value is not an integer is an
    // error (our meter events carry integers).
    Result<MeterEventSummaries, StripeResponse> meter_event_summaries(std::string_view meter_id,
                                                                      std::string_view customer,
                                                                      std::int64_t start_s,
                                                                      std::int64_t end_s);
    // POST /v1/checkout/sessions, mode subscription, one line item of price_id (a metered price:
    // no quantity), client_reference_id = tenant, customer when given.
    Result<StripeSession, StripeResponse> create_checkout_session(
        std::string_view price_id, std::string_view tenant,
        const std::optional<std::string>& customer, std::string_view success_url,
        std::string_view cancel_url, std::string_view idempotency_key = {});
    // POST /v1/billing_portal/sessions.
    Result<StripeSession, StripeResponse> create_portal_session(
        std::string_view customer, std::string_view return_url,
        std::string_view idempotency_key = {});

    static constexpr int kPagesMax = 100;

  private:
    StripeResponse call(HttpMethod method, std::string_view path, std::string body,
                        std::string_view idempotency_key);
    void wait_for_token();

    StripeConfig config_;
    std::mutex bucket_mutex_;
    TokenBucket bucket_;
};

}  // namespace ul
