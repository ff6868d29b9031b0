#include "projections/alerts/webhook.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>

#include "schemas/account.h"
#include "schemas/check.h"

namespace ul {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kSignatureHeaderBytesMax = 8192;
constexpr std::size_t kUrlBytesMax = 2048;
constexpr std::size_t kQuotedBytesMax = 64;  // of user text echoed in an error
constexpr std::int64_t kScheduleDurationMax_ms = 30LL * 24 * 3600 * 1000;
constexpr std::uint32_t kFactorMax = 100;
constexpr std::int64_t kRetryAfterMax_s = 24 * 3600;

std::string_view trim(std::string_view text) {
    while (!text.empty() && text.front() == ' ') {
        text.remove_prefix(1);
    }
    while (!text.empty() && text.back() == ' ') {
        text.remove_suffix(1);
    }
    return text;
}

// `text` in double quotes, cut to kQuotedBytesMax bytes, for error messages.
std::string quoted(std::string_view text) {
    std::string out = "\"";
    out.append(text.substr(0, kQuotedBytesMax));
    if (text.size() > kQuotedBytesMax) {
        out.append("...");
    }
    return out + "\"";
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    while (true) {
        const auto at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos) {
            return parts;
        }
        text.remove_prefix(at + 1);
    }
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
}

// A non-negative decimal of at most `digits_max` digits.
std::optional<std::int64_t> parse_decimal(std::string_view text, std::size_t digits_max) {
    if (!all_digits(text) || text.size() > digits_max) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

// ---- signatures ----

std::string signed_payload(std::string_view timestamp_text, std::string_view body) {
    std::string payload;
    payload.reserve(timestamp_text.size() + 1 + body.size());
    payload.append(timestamp_text).append(".").append(body);
    return payload;
}

struct SignatureHeader {
    std::string_view timestamp_text;
    std::int64_t timestamp_s = 0;
    std::vector<std::string_view> signatures;  // the v1= values
};

Result<SignatureHeader, std::string> parse_signature_header(std::string_view header) {
    if (header.size() > kSignatureHeaderBytesMax) {
        return unexpected(std::string("signature header is longer than 8192 bytes"));
    }
    SignatureHeader parsed;
    bool have_timestamp = false;
    for (std::string_view element : split(header, ',')) {
        element = trim(element);
        const auto equals = element.find('=');
        if (equals == std::string_view::npos || equals == 0) {
            return unexpected("malformed signature header element " + quoted(element) +
                              " (want key=value)");
        }
        const std::string_view key = element.substr(0, equals);
        const std::string_view value = element.substr(equals + 1);
        if (key == "t") {
            if (have_timestamp) {
                return unexpected(std::string("signature header has more than one t="));
            }
            const auto seconds = parse_decimal(value, 18);
            if (!seconds) {
                return unexpected("signature header t=" + quoted(value) +
                                  " is not a number of seconds");
            }
            have_timestamp = true;
            parsed.timestamp_text = value;
            parsed.timestamp_s = *seconds;
        } else if (key == "v1") {
            parsed.signatures.push_back(value);
        }  // other schemes (v0=, ...) are ignored, as Stripe's receivers do
    }
    if (!have_timestamp) {
        return unexpected(std::string("signature header has no t= timestamp"));
    }
    if (parsed.signatures.empty()) {
        return unexpected(std::string("signature header has no v1= signature"));
    }
    return parsed;
}

bool same_in_constant_time(std::string_view given, const std::string& expected) {
    return given.size() == expected.size() &&
           CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

// ---- the retry schedule ----

Result<std::chrono::milliseconds, std::string> parse_duration(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])) != 0) {
        ++digits;
    }
    if (digits == 0) {
        return unexpected(std::string("not a duration (want a number and a unit: ms, s, m, h, d)"));
    }
    const auto number = parse_decimal(text.substr(0, digits), 9);
    if (!number) {
        return unexpected(std::string("number too large"));
    }
    const std::string_view unit = text.substr(digits);
    std::int64_t unit_ms = 0;
    if (unit == "ms") {
        unit_ms = 1;
    } else if (unit == "s") {
        unit_ms = 1000;
    } else if (unit == "m") {
        unit_ms = 60'000;
    } else if (unit == "h") {
        unit_ms = 3'600'000;
    } else if (unit == "d") {
        unit_ms = 86'400'000;
    } else {
        return unexpected(unit.empty()
                              ? std::string("no unit (want ms, s, m, h or d)")
                              : "unknown unit " + quoted(unit) + " (want ms, s, m, h or d)");
    }
    const std::int64_t duration_ms = *number * unit_ms;  // < 10^9 * 86'400'000: no overflow
    if (duration_ms == 0) {
        return unexpected(std::string("must be positive"));
    }
    if (duration_ms > kScheduleDurationMax_ms) {
        return unexpected(std::string("longer than 30d"));
    }
    return std::chrono::milliseconds{duration_ms};
}

// ---- URLs ----

bool host_name_character(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

bool ipv6_character(char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Splits "host[:port]" / "[v6][:port]" into host and port text ("" when absent).
Result<std::pair<std::string, std::string>, std::string> split_authority(
    std::string_view authority) {
    std::string_view host;
    std::string_view after_host;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return unexpected(std::string("URL has an unclosed [ in its IPv6 host"));
        }
        host = authority.substr(1, close - 1);
        after_host = authority.substr(close + 1);
        if (host.empty() || !std::all_of(host.begin(), host.end(), ipv6_character)) {
            return unexpected("URL host [" + std::string(host) + "] is not an IPv6 address");
        }
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        after_host = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
        if (host.empty()) {
            return unexpected(std::string("URL has no host"));
        }
        if (!std::all_of(host.begin(), host.end(), host_name_character)) {
            return unexpected("URL host " + quoted(host) +
                              " has a character other than letters, digits, '-', '.', '_'");
        }
    }
    if (after_host.empty()) {
        return std::pair{std::string(host), std::string()};
    }
    if (after_host.front() != ':') {
        return unexpected("URL has " + quoted(after_host) + " after its host (want :port)");
    }
    const std::string_view port = after_host.substr(1);
    const auto number = parse_decimal(port, 5);
    if (!number || *number < 1 || *number > 65535) {
        return unexpected("URL port " + quoted(port) + " is not a number 1..65535");
    }
    return std::pair{std::string(host), std::to_string(*number)};
}

// ---- the POST ----

std::string message_of(const error_code& error) {
    return error.message();
}

bool header_text_ok(std::string_view text) {
    return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

Result<http::request<http::string_body>, std::string> make_request(const WebhookUrl& url,
                                                                   const HttpCall& call) {
    const auto& headers = call.headers;
    constexpr http::verb kVerbs[] = {http::verb::get, http::verb::post, http::verb::put,
                                     http::verb::delete_};
    http::request<http::string_body> request{kVerbs[static_cast<int>(call.method)], url.target, 11};
    const bool default_port = url.port == (url.tls ? "443" : "80");
    const std::string host =
        url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    request.set(http::field::host, default_port ? host : host + ":" + url.port);
    if (!header_text_ok(call.content_type) || !header_text_ok(call.user_agent)) {
        return unexpected(std::string("the content type or user agent has CR, LF or NUL"));
    }
    if (!call.content_type.empty()) {
        request.set(http::field::content_type, call.content_type);
    }
    request.set(http::field::user_agent, call.user_agent);
    for (const auto& [name, value] : headers) {
        if (name.empty() || name.find(':') != std::string::npos || !header_text_ok(name) ||
            !header_text_ok(value)) {
            return unexpected("header " + quoted(name) +
                              " has an empty name, a ':' in its name, or CR, LF or NUL");
        }
        const std::string lower = lowercase(name);
        if (lower == "host" || lower == "content-length") {
            continue;  // set here
        }
        if (lower == "content-type" || lower == "user-agent") {
            request.erase(name);
        }
    }
    for (const auto& [name, value] : headers) {
        const std::string lower = lowercase(name);
        if (lower != "host" && lower != "content-length") {
            request.insert(name, value);
        }
    }
    request.body() = call.body;
    request.prepare_payload();
    return request;
}

HttpCallResult no_answer(std::string error, bool timed_out) {
    HttpCallResult result;
    result.error = std::move(error);
    result.timed_out = timed_out;
    return result;
}

struct ResolveState {
    std::mutex mutex;
    std::condition_variable resolved;
    bool done = false;
    error_code error;
    tcp::resolver::results_type endpoints;
};

// The endpoints of host:port, or a response saying why not (timed_out when `deadline` passed).
// getaddrinfo cannot be cancelled (Asio's resolver waits for it even when cancelled), so a name
// is resolved on a detached thread that owns its share of the state: a slow DNS server costs
// this call no more than its deadline. An IP address is not looked up.
Result<tcp::resolver::results_type, HttpCallResult> resolve_until(
    const std::string& host, const std::string& port,
    std::chrono::steady_clock::time_point deadline) {
    error_code not_an_address;
    const auto address = asio::ip::make_address(host, not_an_address);
    if (!not_an_address) {
        return tcp::resolver::results_type::create(
            tcp::endpoint(address, static_cast<unsigned short>(std::stoi(port))), host, port);
    }
    auto state = std::make_shared<ResolveState>();
    std::thread([state, host, port] {
        asio::io_context io;
        tcp::resolver resolver(io);
        error_code error;
        auto endpoints = resolver.resolve(host, port, error);
        const std::lock_guard lock(state->mutex);
        state->error = error;
        state->endpoints = std::move(endpoints);
        state->done = true;
        state->resolved.notify_all();
    }).detach();
    std::unique_lock lock(state->mutex);
    if (!state->resolved.wait_until(lock, deadline, [&] { return state->done; })) {
        return unexpected(no_answer("", true));
    }
    if (state->error) {
        return unexpected(no_answer("resolve " + host + ": " + message_of(state->error), false));
    }
    return state->endpoints;
}

// One exchange on a private io_context: connect, (TLS handshake), write, read the answer's
// header and, when asked, its body (at most body_bytes_max). A deadline timer closes everything
// when the timeout passes, so every pending operation ends and run() returns. Single-threaded: all
// handlers run inside run().
class Exchange {
  public:
    Exchange(WebhookUrl url, http::request<http::string_body> request,
             std::chrono::milliseconds timeout, bool read_body, std::size_t body_bytes_max)
        : url_(std::move(url)),
          request_(std::move(request)),
          timeout_(timeout),
          read_body_(read_body),
          tls_context_(ssl::context::tls_client),
          deadline_(io_),
          stream_(io_, tls_context_) {
        parser_.body_limit(body_bytes_max);
    }

    HttpCallResult run() {
        if (url_.tls) {
            if (const auto error = configure_tls()) {
                return no_answer(*error, false);
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + timeout_;
        auto endpoints = resolve_until(url_.host, url_.port, deadline);
        if (!endpoints) {
            return endpoints.error().timed_out
                       ? no_answer("timed out after " + std::to_string(timeout_.count()) +
                                       " ms while resolving " + url_.host,
                                   true)
                       : endpoints.error();
        }
        deadline_.expires_at(deadline);
        deadline_.async_wait([this](const error_code& error) { on_deadline(error); });
        stage_ = "connecting to " + url_.host + ":" + url_.port;
        asio::async_connect(socket(), *endpoints,
                            [this](const error_code& connect_error, const tcp::endpoint&) {
                                on_connected(connect_error);
                            });
        io_.run();
        return response_;
    }

  private:
    std::optional<std::string> configure_tls() {
        error_code error;
        tls_context_.set_default_verify_paths(error);
        if (error) {
            return "TLS: cannot load the system certificate store: " + message_of(error);
        }
        // On the stream: its SSL object was made from the context before this ran.
        stream_.set_verify_mode(ssl::verify_peer, error);
        if (!error) {
            stream_.set_verify_callback(ssl::host_name_verification(url_.host), error);
        }
        if (error) {
            return "TLS: cannot set up certificate verification: " + message_of(error);
        }
        error_code not_an_address;
        asio::ip::make_address(url_.host, not_an_address);
        if (not_an_address &&
            SSL_set_tlsext_host_name(stream_.native_handle(), url_.host.c_str()) != 1) {
            return std::string("TLS: cannot set the server name (SNI)");
        }
        return std::nullopt;
    }

    tcp::socket& socket() { return stream_.next_layer(); }

    void on_deadline(const error_code& error) {
        if (error || done_) {
            return;  // cancelled: the exchange finished first
        }
        response_ = no_answer(
            "timed out after " + std::to_string(timeout_.count()) + " ms while " + stage_, true);
        done_ = true;
        error_code ignored;
        socket().close(ignored);
    }

    // Ends the exchange with `error` unless the deadline already did.
    void fail(const std::string& what, const error_code& error) {
        if (done_) {
            return;
        }
        response_ = no_answer(what + ": " + message_of(error), false);
        finish();
    }

    void finish() {
        done_ = true;
        deadline_.cancel();
        error_code ignored;
        socket().close(ignored);
    }

    void on_connected(const error_code& error) {
        if (error) {
            return fail("connect to " + url_.host + ":" + url_.port, error);
        }
        if (!url_.tls) {
            return write(socket());
        }
        stage_ = "in the TLS handshake";
        stream_.async_handshake(ssl::stream_base::client, [this](const error_code& tls_error) {
            if (tls_error) {
                return fail("TLS handshake with " + url_.host, tls_error);
            }
            write(stream_);
        });
    }

    template <class Stream>
    void write(Stream& stream) {
        stage_ = "sending the request";
        http::async_write(stream, request_, [this, &stream](const error_code& error, std::size_t) {
            if (error) {
                return fail("send the request", error);
            }
            read(stream);
        });
    }

    template <class Stream>
    void read(Stream& stream) {
        stage_ = "waiting for the answer";
        http::async_read_header(stream, buffer_, parser_,
                                [this, &stream](const error_code& error, std::size_t) {
                                    if (error) {
                                        return fail("read the answer", error);
                                    }
                                    if (done_) {
                                        return;
                                    }
                                    response_ = HttpCallResult{};
                                    response_.status = static_cast<int>(parser_.get().result_int());
                                    keep_headers();
                                    if (!read_body_ || parser_.is_done()) {
                                        return finish();
                                    }
                                    read_rest(stream);
                                });
    }

    template <class Stream>
    void read_rest(Stream& stream) {
        stage_ = "reading the answer's body";
        http::async_read(stream, buffer_, parser_, [this](const error_code& error, std::size_t) {
            if (done_) {
                return;
            }
            if (error == http::error::body_limit) {
                response_.body_truncated = true;  // the status stands; the body is not kept
                return finish();
            }
            if (error) {
                return fail("read the answer's body", error);
            }
            response_.body = std::move(parser_.get().body());
            finish();
        });
    }

    // The answer's header fields (Beast bounds the header at 8 KiB) and its Retry-After.
    void keep_headers() {
        for (const auto& field : parser_.get()) {
            response_.headers.emplace_back(std::string(field.name_string()),
                                           std::string(field.value()));
        }
        const auto retry_after = parser_.get().find(http::field::retry_after);
        if (retry_after != parser_.get().end()) {
            const auto value = retry_after->value();
            response_.retry_after_seconds =
                parse_retry_after(std::string_view(value.data(), value.size()));
        }
    }

    WebhookUrl url_;
    http::request<http::string_body> request_;
    std::chrono::milliseconds timeout_;
    bool read_body_;
    asio::io_context io_;
    ssl::context tls_context_;
    asio::steady_timer deadline_;
    ssl::stream<tcp::socket> stream_;  // used as a plain socket (next_layer) for http://
    beast::flat_buffer buffer_;
    http::response_parser<http::string_body> parser_;
    std::string stage_;
    bool done_ = false;
    HttpCallResult response_;
};

}  // namespace

std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds,
                              std::string_view body) {
    const std::string timestamp_text = std::to_string(unix_seconds);
    return "t=" + timestamp_text +
           ",v1=" + hmac_sha256_hex(secret, signed_payload(timestamp_text, body));
}

Result<bool, std::string> verify_webhook_signature(std::string_view secret, std::string_view header,
                                                   std::string_view body, std::int64_t now_seconds,
                                                   std::int64_t tolerance_seconds) {
    UL_CHECK(tolerance_seconds >= 0, "a webhook signature tolerance is never negative");
    auto parsed = parse_signature_header(header);
    if (!parsed) {
        return unexpected(parsed.error());
    }
    // 128 bits: now_seconds is any int64, the timestamp at most 18 digits.
    const __int128 age_s = static_cast<__int128>(now_seconds) - parsed->timestamp_s;
    if (age_s > tolerance_seconds || -age_s > tolerance_seconds) {
        return unexpected("signature timestamp t=" + std::string(parsed->timestamp_text) +
                          " is more than " + std::to_string(tolerance_seconds) + " s from now (" +
                          std::to_string(now_seconds) + ")");
    }
    const std::string expected =
        hmac_sha256_hex(secret, signed_payload(parsed->timestamp_text, body));
    bool matched = false;
    for (const std::string_view signature : parsed->signatures) {
        matched = same_in_constant_time(signature, expected) || matched;
    }
    if (!matched) {
        return unexpected(std::string("no v1= signature matches the body under this secret"));
    }
    return true;
}

Result<RetrySchedule, std::string> parse_retry_schedule(std::string_view text) {
    static constexpr std::array<std::string_view, 4> kNames = {"first", "factor", "max_delay",
                                                               "give_up_after"};
    const auto parts = split(text, ',');
    if (parts.size() != kNames.size()) {
        return unexpected("retry schedule " + quoted(text) + " has " +
                          std::to_string(parts.size()) +
                          " part(s); want 4: <first>,<factor>,<max_delay>,<give_up_after> "
                          "(e.g. \"10s,2,1h,24h\")");
    }
    const auto part_error = [&](std::size_t index, const std::string& why) {
        return unexpected("retry schedule part " + std::to_string(index + 1) + " (" +
                          std::string(kNames[index]) + ") " + quoted(trim(parts[index])) + ": " +
                          why);
    };
    RetrySchedule schedule;
    std::array<std::chrono::milliseconds*, 4> durations = {
        &schedule.first, nullptr, &schedule.max_delay, &schedule.give_up_after};
    for (std::size_t index = 0; index < parts.size(); ++index) {
        const std::string_view part = trim(parts[index]);
        if (index == 1) {
            const auto factor = parse_decimal(part, 3);
            if (!factor || *factor < 1 || *factor > kFactorMax) {
                return part_error(index, "not an integer 1..100");
            }
            schedule.factor = static_cast<std::uint32_t>(*factor);
            continue;
        }
        auto duration = parse_duration(part);
        if (!duration) {
            return part_error(index, duration.error());
        }
        *durations[index] = *duration;
    }
    if (schedule.max_delay < schedule.first) {
        return part_error(2, "shorter than part 1 (first)");
    }
    return schedule;
}

std::optional<std::chrono::milliseconds> next_retry_delay(
    const RetrySchedule& schedule, std::uint32_t attempt,
    std::chrono::milliseconds elapsed_since_first, std::uint64_t random) {
    UL_CHECK(attempt >= 1, "retry attempts count from 1");
    UL_CHECK(schedule.first.count() > 0 && schedule.factor >= 1 &&
                 schedule.max_delay >= schedule.first && schedule.give_up_after.count() >= 0,
             "a retry schedule is positive, its factor >= 1 and max_delay >= first");
    UL_CHECK(elapsed_since_first.count() >= 0, "elapsed time is never negative");
    const auto cap_ms = static_cast<std::uint64_t>(schedule.max_delay.count());
    auto base_ms = static_cast<std::uint64_t>(schedule.first.count());
    // At most 64 multiplications reach the cap when factor >= 2; factor 1 never grows.
    for (std::uint32_t step = 1; step < attempt && schedule.factor > 1 && base_ms < cap_ms;
         ++step) {
        base_ms = base_ms > cap_ms / schedule.factor ? cap_ms : base_ms * schedule.factor;
    }
    base_ms = std::min(base_ms, cap_ms);
    const std::uint64_t half_ms = base_ms / 2;
    const std::uint64_t delay_ms = half_ms + random % (base_ms - half_ms + 1);
    const auto delay = std::chrono::milliseconds{static_cast<std::int64_t>(delay_ms)};
    if (elapsed_since_first > schedule.give_up_after - delay) {
        return std::nullopt;
    }
    return delay;
}

DeliveryVerdict classify_delivery(const WebhookResponse& response) {
    const int status = response.status;
    if (status == 0) {
        return DeliveryVerdict::retry;
    }
    if (status >= 200 && status <= 299) {
        return DeliveryVerdict::delivered;
    }
    if (status == 408 || status == 425 || status == 429 || status >= 500) {
        return DeliveryVerdict::retry;
    }
    return DeliveryVerdict::failed;
}

Result<WebhookUrl, std::string> parse_webhook_url(std::string_view url) {
    if (url.size() > kUrlBytesMax) {
        return unexpected(std::string("URL is longer than 2048 bytes"));
    }
    if (std::any_of(url.begin(), url.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        return unexpected(std::string("URL has a space or a control character"));
    }
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return unexpected("URL " + quoted(url) + " has no scheme (want http:// or https://)");
    }
    const std::string scheme = lowercase(url.substr(0, scheme_end));
    if (scheme != "http" && scheme != "https") {
        return unexpected("URL scheme " + quoted(scheme) + " is not http or https");
    }
    const std::string_view rest = url.substr(scheme_end + 3);
    if (rest.find('#') != std::string_view::npos) {
        return unexpected(std::string("URL has a fragment (#...); receivers never see one"));
    }
    const auto authority_end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, authority_end);
    if (authority.find('@') != std::string_view::npos) {
        return unexpected(
            std::string("URL has user info (user@host); send credentials in a header"));
    }
    if (authority.empty()) {
        return unexpected(std::string("URL has no host"));
    }
    auto host_port = split_authority(authority);
    if (!host_port) {
        return unexpected(host_port.error());
    }
    WebhookUrl parsed;
    parsed.tls = scheme == "https";
    parsed.host = std::move(host_port->first);
    parsed.port = host_port->second.empty() ? (parsed.tls ? "443" : "80") : host_port->second;
    const std::string_view target =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    parsed.target = target.empty()          ? "/"
                    : target.front() == '?' ? "/" + std::string(target)
                                            : std::string(target);
    return parsed;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value) {
    const auto seconds = parse_decimal(trim(value), 18);
    if (!seconds) {
        return std::nullopt;  // an HTTP-date or garbage: not used
    }
    return std::min<std::int64_t>(*seconds, kRetryAfterMax_s);
}

HttpCallResult http_call(const HttpCall& call) {
    constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
    const char* const method = kMethods[static_cast<int>(call.method)];
    try {
        auto parsed = parse_webhook_url(call.url);
        if (!parsed) {
            return no_answer(parsed.error(), false);
        }
        auto request = make_request(*parsed, call);
        if (!request) {
            return no_answer(request.error(), false);
        }
        Exchange exchange(std::move(parsed).value(), std::move(request).value(), call.timeout,
                          call.read_body, call.body_bytes_max);
        return exchange.run();
    } catch (const std::exception& error) {  // allocation, or TLS context set-up
        return no_answer(std::string("HTTP ") + method + " failed: " + error.what(), false);
    }
}

WebhookResponse post_webhook(std::string_view url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             std::string_view body, std::chrono::milliseconds timeout) {
    HttpCall call;
    call.url = std::string(url);
    call.headers = headers;
    call.body = std::string(body);
    call.timeout = timeout;
    call.read_body = false;  // only the status matters to a webhook
    HttpCallResult result = http_call(call);
    if (result.error.starts_with("HTTP POST failed: ")) {
        result.error.replace(0, 4, "webhook");
    }
    return WebhookResponse{result.status, std::move(result.error), result.timed_out};
}

}  // namespace ul
