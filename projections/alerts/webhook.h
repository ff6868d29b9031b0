// Webhook delivery primitives: Stripe-style signatures (sign and verify), the retry schedule
// (exponential backoff with jitter, a give-up bound), what an attempt's answer means, URL parsing
// and one blocking, time-bounded POST.
//
// Everything except http_call and post_webhook is pure: a function of its arguments (the clock
// and the random value are passed in), thread-safe, no I/O. http_call (and post_webhook, its thin
// wrapper) does its own I/O on a private io_context; it is thread-safe (no shared state) and
// blocks the calling thread for at most about `timeout` (a host name is resolved on a detached
// thread, since getaddrinfo cannot be cancelled: one that outlives the timeout finishes on its own
// and is forgotten).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schemas/result.h"

namespace ul {

// The request header that carries webhook_signature's text.
inline constexpr std::string_view kWebhookSignatureHeader = "Usage-Ledger-Signature";

// Stripe's scheme: "t=<unix seconds>,v1=<64 lowercase hex HMAC-SHA256(secret, "<t>.<body>")>".
std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds,
                              std::string_view body);

// The receiver's side. The header is comma-separated `key=value` elements in any order: exactly
// one t= (decimal seconds), one or more v1= (a match of any one is enough, so a sender may sign
// with an old and a new secret while rotating), other keys (v0=, ...) ignored. Signatures are
// compared in constant time. Fails, with a text saying why, on a malformed header, no matching
// signature, or |now_seconds - t| > tolerance_seconds. tolerance_seconds >= 0.
Result<bool, std::string> verify_webhook_signature(std::string_view secret, std::string_view header,
                                                   std::string_view body, std::int64_t now_seconds,
                                                   std::int64_t tolerance_seconds = 300);

// Exponential backoff: the attempt n (1-based) that failed waits about
// min(first * factor^(n-1), max_delay), jittered, unless that passes give_up_after (counted from
// the first attempt).
struct RetrySchedule {
    std::chrono::milliseconds first{10'000};
    std::uint32_t factor = 2;
    std::chrono::milliseconds max_delay{3'600'000};
    std::chrono::milliseconds give_up_after{std::chrono::hours{24}};
    friend bool operator==(const RetrySchedule&, const RetrySchedule&) = default;
};

// "<first>,<factor>,<max_delay>,<give_up_after>", e.g. "10s,2,1h,24h" (the defaults): four
// comma-separated parts, spaces around a part allowed. A duration is a positive integer with a
// unit ms, s, m, h or d; the factor an integer 1..100. first <= max_delay <= 30d,
// give_up_after <= 30d. An error names the part that is wrong.
Result<RetrySchedule, std::string> parse_retry_schedule(std::string_view text);

// The delay before the next attempt after `attempt` (1-based, >= 1) failed, or nullopt when
// elapsed_since_first + that delay would pass give_up_after. `random` is a uniform 64-bit value
// from the caller (no RNG inside): the delay is base/2 + random % (base - base/2 + 1), so it
// lies in [base/2, base] where base = min(first * factor^(attempt-1), max_delay).
std::optional<std::chrono::milliseconds> next_retry_delay(
    const RetrySchedule& schedule, std::uint32_t attempt,
    std::chrono::milliseconds elapsed_since_first, std::uint64_t random);

// What an attempt's answer means: delivered (2xx); retry (no HTTP answer: a timeout, a network
// or TLS error; or 408, 425, 429, 5xx); failed (any other status: final, do not retry).
enum class DeliveryVerdict : std::uint8_t { delivered, retry, failed };

struct WebhookResponse {
    int status = 0;          // 0: no HTTP answer
    std::string error;       // why there was no answer (network, timeout, TLS); empty if answered
    bool timed_out = false;  // the exchange did not finish within the timeout
};

DeliveryVerdict classify_delivery(const WebhookResponse& response);

// http(s)://host[:port][/path][?query]. The scheme is case-insensitive; host is a name, an IPv4
// address or a bracketed IPv6 address (kept without its brackets); port 1..65535, default 80 /
// 443; target the path and query, "/" when absent. No user info, no fragment, no spaces or
// control characters. Errors say what is wrong.
struct WebhookUrl {
    bool tls = false;
    std::string host;
    std::string port;
    std::string target;
    friend bool operator==(const WebhookUrl&, const WebhookUrl&) = default;
};
Result<WebhookUrl, std::string> parse_webhook_url(std::string_view url);

// One blocking HTTP exchange (http_call) and what came back.
enum class HttpMethod : std::uint8_t { get, post, put, del };

inline constexpr std::size_t kHttpBodyBytesMax = std::size_t{64} * 1024;

struct HttpCall {
    HttpMethod method = HttpMethod::post;
    std::string url;                                           // http(s)://, as parse_webhook_url
    std::vector<std::pair<std::string, std::string>> headers;  // added as given
    std::string body;                                          // sent as is (empty for a GET)
    std::string content_type = "application/json";             // empty: no Content-Type header
    std::string user_agent = "usage-ledger-webhook";
    std::chrono::milliseconds timeout{10'000};  // bounds the whole exchange
    bool read_body = true;                      // false: only the status line and header
    std::size_t body_bytes_max = kHttpBodyBytesMax;
};

struct HttpCallResult {
    int status = 0;          // 0: no HTTP answer
    std::string error;       // why there was no answer (network, timeout, TLS); empty if answered
    bool timed_out = false;  // the exchange did not finish within the timeout
    std::optional<std::int64_t> retry_after_seconds;  // Retry-After in seconds (not HTTP-date)
    std::string body;                                 // empty when not read or over the bound
    bool body_truncated = false;  // the body passed body_bytes_max: status kept, body dropped
    std::vector<std::pair<std::string, std::string>> headers;  // the answer's header fields
};

// Retry-After's delta-seconds form ("120", spaces allowed), capped at one day; nullopt for an
// HTTP-date or anything else.
std::optional<std::int64_t> parse_retry_after(std::string_view value);

// A blocking request to an http:// or https:// URL. https verifies the server's certificate
// chain against the system store and its host name (SNI sent). `headers` are added as given; one
// named like a default (Content-Type, User-Agent) replaces it; Host and Content-Length are always
// set here. A name or value with CR, LF or NUL is refused (an error, status 0); error texts name
// a refused header but never quote a header's value, so a credential sent in a header is never
// echoed. The whole exchange (resolve, connect, TLS handshake, write, read of the answer) is
// bounded by `timeout`: a server that accepts and never answers yields timed_out. The answer's
// body is read when read_body, up to body_bytes_max (past that: body_truncated, body empty).
// Never throws. Thread-safe: each call has its own io_context.
HttpCallResult http_call(const HttpCall& call);

// A blocking POST of `body` (Content-Type application/json) to an http:// or https:// URL.
// https verifies the server's certificate chain against the system store and its host name
// (SNI sent). `headers` are added as given; one named like a default (Content-Type, User-Agent)
// replaces it; Host and Content-Length are always set here. A name or value with CR, LF or NUL
// is refused (an error, status 0). The whole exchange (resolve, connect, TLS handshake, write,
// read of the answer's header) is bounded by `timeout`: a receiver that accepts and never
// answers yields timed_out. Only the status is read; the answer's body is not. Never throws.
// A thin wrapper of http_call.
WebhookResponse post_webhook(std::string_view url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             std::string_view body, std::chrono::milliseconds timeout);

}  // namespace ul
