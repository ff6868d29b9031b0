#include "tests/fakes/fake_stripe.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "schemas/canonical.h"  // append_json_string

namespace ul::fakes {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::int64_t kPastWindowSeconds = 35LL * 24 * 60 * 60;  // Stripe: the past 35 days
constexpr std::int64_t kFutureWindowSeconds = 5LL * 60;           // Stripe: up to 5 minutes ahead
constexpr std::string_view kMeterEventsPath = "/v1/billing/meter_events";
constexpr std::size_t kMaxBodyBytes = 1U << 20U;
constexpr std::size_t kMaxIdempotencyKeyChars = 255;  // Stripe's limit
constexpr std::size_t kMaxEventNameChars = 100;       // Stripe's limit
constexpr std::size_t kMaxIdentifierChars = 100;      // Stripe's limit

using Form = std::vector<std::pair<std::string, std::string>>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// What the fake answers: a status and JSON body, or (hold) nothing for a while.
struct Answer {
    int status = 200;
    std::string body;
    Headers headers;
    std::optional<std::chrono::milliseconds> hold;
    // The endpoint ran (parameters were valid): Stripe saves such answers under the idempotency
    // key; validation failures are not saved.
    bool executed = false;
};

// The parts of an HTTP request the fake looks at.
struct Incoming {
    std::string method;
    std::string target;
    std::string path;
    std::string query;
    std::string authorization;
    std::string idempotency_key;
    std::string stripe_version;
    std::string content_type;
    std::string body;
};

std::string json_string(std::string_view text) {
    std::string out;
    append_json_string(out, text);
    return out;
}

std::string json_string_or_null(const std::string* text) {
    return text == nullptr ? std::string("null") : json_string(*text);
}

Answer stripe_error(int status, std::string_view type, std::string_view message,
                    std::string_view param = {}, std::string_view code = {}) {
    Answer answer;
    answer.status = status;
    answer.body = "{\"error\":{";
    if (!code.empty()) {
        answer.body += "\"code\":" + json_string(code) + ",";
    }
    answer.body += "\"message\":" + json_string(message) + ",";
    if (!param.empty()) {
        answer.body += "\"param\":" + json_string(param) + ",";
    }
    answer.body += "\"type\":" + json_string(type) + "}}";
    return answer;
}

Answer invalid_request(std::string_view message, std::string_view param = {},
                       std::string_view code = {}) {
    return stripe_error(400, "invalid_request_error", message, param, code);
}

Answer missing_param(std::string_view param) {
    return invalid_request("Missing required param: " + std::string(param) + ".", param,
                           "parameter_missing");
}

Answer not_found(const Incoming& request) {
    return stripe_error(404, "invalid_request_error",
                        "Unrecognized request URL (" + request.method + ": " + request.path +
                            "). Please see https://stripe.com/docs or we can help at "
                            "https://support.stripe.com/.");
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

Result<std::string, std::string> form_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= text.size()) {
                return unexpected("truncated percent escape in '" + std::string(text) + "'");
            }
            const int high = hex_value(text[i + 1]);
            const int low = hex_value(text[i + 2]);
            if (high < 0 || low < 0) {
                return unexpected("malformed percent escape in '" + std::string(text) + "'");
            }
            out += static_cast<char>(high * 16 + low);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Digits only (no sign, no decimal point), fitting int64.
std::optional<std::int64_t> parse_whole_number(std::string_view text) {
    if (text.empty() || !std::all_of(text.begin(), text.end(),
                                     [](unsigned char c) { return std::isdigit(c) != 0; })) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// An optional '-' then digits, fitting int64 (Stripe's integer parameters).
std::optional<std::int64_t> parse_integer(std::string_view text) {
    if (!text.empty() && text.front() == '-') {
        auto magnitude = parse_whole_number(text.substr(1));
        if (!magnitude) {
            return std::nullopt;
        }
        return -*magnitude;
    }
    return parse_whole_number(text);
}

std::string base64_decode(std::string_view text) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : text) {
        const auto index = kAlphabet.find(c);
        if (index == std::string_view::npos) {
            break;  // '=' padding or garbage: stop
        }
        bits = (bits << 6U) | static_cast<std::uint32_t>(index);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> static_cast<unsigned>(count)) & 0xFFU);
        }
    }
    return out;
}

// The API key in "Bearer <key>" or "Basic base64(<key>:)"; empty when neither.
std::string api_key_of(std::string_view authorization) {
    constexpr std::string_view kBearer = "Bearer ";
    constexpr std::string_view kBasic = "Basic ";
    if (authorization.starts_with(kBearer)) {
        return std::string(authorization.substr(kBearer.size()));
    }
    if (authorization.starts_with(kBasic)) {
        const std::string decoded = base64_decode(authorization.substr(kBasic.size()));
        return decoded.substr(0, decoded.find(':'));
    }
    return {};
}

std::string redacted_key(std::string_view key) {
    if (key.size() <= 8) {
        return std::string(key.size(), '*');
    }
    return std::string(key.substr(0, 8)) + "****" + std::string(key.substr(key.size() - 4));
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> segments;
    std::size_t start = 1;
    while (start <= path.size()) {
        const auto slash = path.find('/', start);
        const auto end = slash == std::string_view::npos ? path.size() : slash;
        segments.emplace_back(path.substr(start, end - start));
        start = end + 1;
    }
    return segments;
}

const std::string* find_param(const Form& form, std::string_view name) {
    for (const auto& [key, value] : form) {
        if (key == name) {
            return &value;
        }
    }
    return nullptr;
}

// A required parameter: present and not empty.
const std::string* required_param(const Form& form, std::string_view name) {
    const std::string* value = find_param(form, name);
    return value == nullptr || value->empty() ? nullptr : value;
}

// 400 for a parameter that is neither in `names` nor accepted by `also`, or given twice.
std::optional<Answer> check_param_names(const Form& form, const std::set<std::string>& names,
                                        const std::function<bool(const std::string&)>& also = {}) {
    std::set<std::string> seen;
    for (const auto& [key, value] : form) {
        if (names.count(key) == 0 && !(also && also(key))) {
            return invalid_request("Received unknown parameter: " + key, key, "parameter_unknown");
        }
        if (!seen.insert(key).second) {
            return invalid_request("Received duplicate parameter: " + key +
                                       " (the fake refuses what Stripe would overwrite)",
                                   key);
        }
    }
    return std::nullopt;
}

// The body as a form, or 400 when it is not application/x-www-form-urlencoded or malformed.
Result<Form, Answer> form_body(const Incoming& request) {
    const std::string type =
        lowercase(request.content_type.substr(0, request.content_type.find(';')));
    if (type != "application/x-www-form-urlencoded") {
        return unexpected(invalid_request(
            "Invalid request: POST bodies must be application/x-www-form-urlencoded (got '" +
            request.content_type + "')."));
    }
    auto form = parse_form(request.body);
    if (!form) {
        return unexpected(invalid_request("Invalid request body: " + form.error() + "."));
    }
    return std::move(form.value());
}

// Starts with `prefix` and ends with ']' (e.g. "metadata[...]").
bool bracketed_under(const std::string& key, std::string_view prefix) {
    return key.size() > prefix.size() + 1 && key.starts_with(prefix) && key.back() == ']';
}

struct Meter {
    std::string id;
    std::string event_name;
    std::int64_t created = 0;
};

std::string meter_json(const Meter& meter) {
    return "{\"id\":" + json_string(meter.id) +
           ",\"object\":\"billing.meter\",\"created\":" + std::to_string(meter.created) +
           ",\"customer_mapping\":{\"event_payload_key\":\"stripe_customer_id\",\"type\":"
           "\"by_id\"},\"default_aggregation\":{\"formula\":\"sum\"},\"display_name\":" +
           json_string(meter.event_name) + ",\"event_name\":" + json_string(meter.event_name) +
           ",\"event_time_window\":null,\"livemode\":false,\"status\":\"active\","
           "\"status_transitions\":{\"deactivated_at\":null},\"updated\":" +
           std::to_string(meter.created) + ",\"value_settings\":{\"event_payload_key\":\"value\"}}";
}

struct SummaryAlteration {
    std::string customer;
    std::string event_name;
    std::int64_t delta = 0;
    std::optional<std::int64_t> timestamp;
};

struct IdempotencyRecord {
    std::string method;
    std::string path;
    std::string body;
    Answer answer;
    std::string request_id;
};

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>, std::string> parse_form(
    std::string_view body) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t start = 0;
    while (start <= body.size()) {
        const auto amp = body.find('&', start);
        const auto end = amp == std::string_view::npos ? body.size() : amp;
        const std::string_view part = body.substr(start, end - start);
        start = end + 1;
        if (part.empty()) {
            continue;
        }
        const auto equals = part.find('=');
        auto key = form_decode(part.substr(0, equals));
        if (!key) {
            return unexpected(key.error());
        }
        auto value = form_decode(equals == std::string_view::npos ? std::string_view()
                                                                  : part.substr(equals + 1));
        if (!value) {
            return unexpected(value.error());
        }
        pairs.emplace_back(std::move(key.value()), std::move(value.value()));
    }
    return pairs;
}

namespace {
class Session;
}  // namespace

// The fake's state and request logic. All of it is guarded by `mutex`; `handle` runs on the
// server thread, the getters and knobs on test threads.
struct FakeStripe::Impl {
    FakeStripeOptions options;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    tcp::acceptor acceptor{io};
    std::uint16_t port = 0;
    std::thread thread;
    std::vector<std::weak_ptr<Session>> sessions;  // server thread only

    mutable std::mutex mutex;
    std::mt19937_64 random;
    std::vector<MeterEvent> events;
    std::set<std::string> identifiers;
    std::vector<RecordedRequest> requests;
    std::vector<Meter> meters;
    std::vector<SummaryAlteration> alterations;
    std::map<std::string, IdempotencyRecord> idempotency;
    std::vector<std::map<std::string, std::string>> checkout_sessions;
    std::vector<std::map<std::string, std::string>> portal_sessions;
    int fail_next_count = 0;
    int fail_next_status = 500;
    double failure_rate = 0.0;
    int rate_limit_count = 0;
    int retry_after_seconds = 1;
    int hang_count = 0;
    std::chrono::milliseconds hang_hold{0};
    std::uint64_t request_counter = 0;
    std::uint64_t object_counter = 0;

    std::int64_t now() const { return options.now_seconds(); }

    Result<bool, std::string> listen();
    void accept();
    void close_everything();

    Answer handle(const Incoming& request);
    Answer route(const Incoming& request);
    std::optional<Answer> injected_failure();
    Answer with_idempotency(const Incoming& request, const std::function<Answer()>& run,
                            const std::string& request_id);
    Answer create_meter_event(const Incoming& request);
    Answer list_meters() const;
    Answer retrieve_meter(const std::string& id) const;
    Answer list_event_summaries(const Incoming& request, const std::string& meter_id) const;
    Answer create_checkout_session(const Incoming& request);
    Answer create_portal_session(const Incoming& request);
    const Meter* meter_by_id(std::string_view id) const;
    const Meter* meter_by_event_name(std::string_view event_name) const;
    std::int64_t sum(const std::string& customer, const std::string& event_name,
                     std::int64_t start_seconds, std::int64_t end_seconds) const;
};

namespace {

// One connection: read a request, answer (or hold), repeat while keep-alive. Server thread only.
class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, FakeStripe::Impl& owner)
        : socket_(std::move(socket)), timer_(socket_.get_executor()), owner_(owner) {}

    void read() {
        parser_.emplace();
        parser_->body_limit(kMaxBodyBytes);
        http::async_read(socket_, buffer_, *parser_,
                         [self = shared_from_this()](const beast::error_code& error, std::size_t) {
                             self->on_read(error);
                         });
    }

    void close() {
        beast::error_code ignored;
        timer_.cancel();
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

  private:
    void on_read(const beast::error_code& error) {
        if (error) {
            close();
            return;
        }
        const auto& message = parser_->get();
        Incoming request;
        request.method = std::string(message.method_string());
        request.target = std::string(message.target());
        const auto question = request.target.find('?');
        request.path = request.target.substr(0, question);
        request.query = question == std::string::npos ? "" : request.target.substr(question + 1);
        request.authorization = std::string(message[http::field::authorization]);
        request.idempotency_key = std::string(message["Idempotency-Key"]);
        request.stripe_version = std::string(message["Stripe-Version"]);
        request.content_type = std::string(message[http::field::content_type]);
        request.body = message.body();
        const bool keep_alive = message.keep_alive();
        const Answer answer = owner_.handle(request);
        if (answer.hold) {
            timer_.expires_after(*answer.hold);
            timer_.async_wait(
                [self = shared_from_this()](const beast::error_code&) { self->close(); });
            return;
        }
        response_ = {};
        response_.version(11);
        response_.result(static_cast<unsigned>(answer.status));
        response_.set(http::field::content_type, "application/json");
        response_.set(http::field::server, "fake-stripe");
        for (const auto& [name, value] : answer.headers) {
            response_.set(name, value);
        }
        response_.keep_alive(keep_alive);
        response_.body() = answer.body;
        response_.prepare_payload();
        http::async_write(socket_, response_,
                          [self = shared_from_this(), keep_alive](
                              const beast::error_code& write_error, std::size_t) {
                              if (write_error || !keep_alive) {
                                  self->close();
                                  return;
                              }
                              self->read();
                          });
    }

    tcp::socket socket_;
    asio::steady_timer timer_;
    FakeStripe::Impl& owner_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
};

}  // namespace

Result<bool, std::string> FakeStripe::Impl::listen() {
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    beast::error_code error;
    acceptor.open(endpoint.protocol(), error);
    if (!error) {
        acceptor.set_option(asio::socket_base::reuse_address(true), error);
    }
    if (!error) {
        acceptor.bind(endpoint, error);
    }
    if (!error) {
        acceptor.listen(asio::socket_base::max_listen_connections, error);
    }
    if (error) {
        beast::error_code ignored;
        acceptor.close(ignored);
        return unexpected("fake Stripe cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                          error.message());
    }
    port = acceptor.local_endpoint().port();
    accept();
    return true;
}

void FakeStripe::Impl::accept() {
    acceptor.async_accept([this](const beast::error_code& error, tcp::socket socket) {
        if (error) {
            return;  // closed (set_down, stop) or failed: accepting ends
        }
        auto session = std::make_shared<Session>(std::move(socket), *this);
        std::erase_if(sessions, [](const std::weak_ptr<Session>& weak) { return weak.expired(); });
        sessions.push_back(session);
        session->read();
        if (acceptor.is_open()) {
            accept();
        }
    });
}

void FakeStripe::Impl::close_everything() {
    beast::error_code ignored;
    acceptor.close(ignored);
    for (const auto& weak : sessions) {
        if (auto session = weak.lock()) {
            session->close();
        }
    }
    sessions.clear();
}

Answer FakeStripe::Impl::handle(const Incoming& request) {
    const std::lock_guard lock(mutex);
    const std::string request_id = "req_fake_" + std::to_string(++request_counter);
    RecordedRequest recorded{request.method,
                             request.target,
                             request.authorization,
                             request.idempotency_key,
                             request.stripe_version,
                             request.content_type,
                             request.body,
                             0,
                             false};
    Answer answer;
    const std::string key = api_key_of(request.authorization);
    if (request.authorization.empty()) {
        answer = stripe_error(401, "invalid_request_error",
                              "You did not provide an API key. You need to provide your API key "
                              "in the Authorization header, using Bearer auth (e.g. "
                              "'Authorization: Bearer YOUR_SECRET_KEY').");
    } else if (key != options.secret_key) {
        answer = stripe_error(401, "invalid_request_error",
                              "Invalid API Key provided: " + redacted_key(key));
    } else if (auto failure = request.method == "POST" && request.path == kMeterEventsPath
                                  ? injected_failure()
                                  : std::nullopt) {
        answer = std::move(*failure);
    } else if (request.method == "POST" && !request.idempotency_key.empty()) {
        answer = with_idempotency(
            request, [&] { return route(request); }, request_id);
    } else {
        answer = route(request);
    }
    answer.headers.emplace_back("Request-Id", request_id);
    recorded.status = answer.hold ? 0 : answer.status;
    recorded.idempotent_replayed =
        std::any_of(answer.headers.begin(), answer.headers.end(),
                    [](const auto& header) { return header.first == "Idempotent-Replayed"; });
    requests.push_back(std::move(recorded));
    return answer;
}

Answer FakeStripe::Impl::route(const Incoming& request) {
    const std::vector<std::string> segments = split_path(request.path);
    const auto is = [&](std::initializer_list<std::string_view> expected) {
        return std::equal(segments.begin(), segments.end(), expected.begin(), expected.end());
    };
    if (request.method == "POST" && is({"v1", "billing", "meter_events"})) {
        return create_meter_event(request);
    }
    if (request.method == "POST" && is({"v1", "checkout", "sessions"})) {
        return create_checkout_session(request);
    }
    if (request.method == "POST" && is({"v1", "billing_portal", "sessions"})) {
        return create_portal_session(request);
    }
    if (request.method == "GET" && is({"v1", "billing", "meters"})) {
        return list_meters();
    }
    const bool under_meters = segments.size() >= 4 && segments[0] == "v1" &&
                              segments[1] == "billing" && segments[2] == "meters" &&
                              !segments[3].empty();
    if (request.method == "GET" && under_meters && segments.size() == 4) {
        return retrieve_meter(segments[3]);
    }
    if (request.method == "GET" && under_meters && segments.size() == 5 &&
        segments[4] == "event_summaries") {
        return list_event_summaries(request, segments[3]);
    }
    return not_found(request);
}

std::optional<Answer> FakeStripe::Impl::injected_failure() {
    if (rate_limit_count > 0) {
        --rate_limit_count;
        Answer answer = stripe_error(429, "invalid_request_error",
                                     "Request rate limit exceeded. Learn more about rate limits "
                                     "here https://stripe.com/docs/rate-limits.",
                                     {}, "rate_limit");
        answer.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
        return answer;
    }
    if (fail_next_count > 0) {
        --fail_next_count;
        Answer answer = stripe_error(fail_next_status, "api_error",
                                     "The fake Stripe failed this request on purpose (fail_next).");
        answer.headers.emplace_back("Stripe-Should-Retry", "true");
        return answer;
    }
    if (failure_rate > 0.0 &&
        std::uniform_real_distribution<double>(0.0, 1.0)(random) < failure_rate) {
        Answer answer = stripe_error(500, "api_error",
                                     "The fake Stripe failed this request on purpose "
                                     "(set_failure_rate).");
        answer.headers.emplace_back("Stripe-Should-Retry", "true");
        return answer;
    }
    return std::nullopt;
}

Answer FakeStripe::Impl::with_idempotency(const Incoming& request,
                                          const std::function<Answer()>& run,
                                          const std::string& request_id) {
    const std::string& key = request.idempotency_key;
    if (key.size() > kMaxIdempotencyKeyChars) {
        return invalid_request("Invalid Idempotency-Key: it must be at most 255 characters long.");
    }
    const auto found = idempotency.find(key);
    if (found != idempotency.end()) {
        const IdempotencyRecord& record = found->second;
        if (record.method != request.method || record.path != request.path ||
            record.body != request.body) {
            return stripe_error(400, "idempotency_error",
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                "than '" +
                                    key + "' if you meant to execute a different request.");
        }
        Answer replay = record.answer;
        replay.headers.emplace_back("Idempotent-Replayed", "true");
        replay.headers.emplace_back("Original-Request", record.request_id);
        return replay;
    }
    Answer answer = run();
    if (answer.executed) {
        IdempotencyRecord record{request.method, request.path, request.body, answer, request_id};
        record.answer.hold.reset();
        idempotency.emplace(key, std::move(record));
        answer.headers.emplace_back("Idempotency-Key", key);
    }
    return answer;
}

Answer FakeStripe::Impl::create_meter_event(const Incoming& request) {
    auto form = form_body(request);
    if (!form) {
        return form.error();
    }
    const Form& params = form.value();
    if (auto refused =
            check_param_names(params, {"event_name", "identifier", "timestamp",
                                       "payload[stripe_customer_id]", "payload[value]"})) {
        return *refused;
    }
    const std::string* event_name = required_param(params, "event_name");
    if (event_name == nullptr) {
        return missing_param("event_name");
    }
    if (event_name->size() > kMaxEventNameChars) {
        return invalid_request("Invalid event_name: must be at most 100 characters.", "event_name");
    }
    const std::string* customer = required_param(params, "payload[stripe_customer_id]");
    if (customer == nullptr) {
        return missing_param("payload[stripe_customer_id]");
    }
    const std::string* value_text = required_param(params, "payload[value]");
    if (value_text == nullptr) {
        return missing_param("payload[value]");
    }
    const auto value = parse_whole_number(*value_text);
    if (!value) {
        return invalid_request("Invalid payload[value]: '" + *value_text +
                                   "' is not a whole number (digits only, no sign or decimal "
                                   "point).",
                               "payload[value]");
    }
    const std::int64_t now_seconds = now();
    std::int64_t timestamp = now_seconds;
    if (const std::string* timestamp_text = find_param(params, "timestamp")) {
        const auto parsed = parse_integer(*timestamp_text);
        if (!parsed) {
            return invalid_request("Invalid integer: " + *timestamp_text, "timestamp",
                                   "parameter_invalid_integer");
        }
        timestamp = *parsed;
    }
    if (timestamp < now_seconds - kPastWindowSeconds ||
        timestamp > now_seconds + kFutureWindowSeconds) {
        return invalid_request("Timestamp " + std::to_string(timestamp) +
                                   " is outside the allowed window: it must be within the past 35 "
                                   "calendar days or up to 5 minutes in the future (now is " +
                                   std::to_string(now_seconds) + ").",
                               "timestamp");
    }
    if (meter_by_event_name(*event_name) == nullptr) {
        return invalid_request("No active meter was found for event_name '" + *event_name + "'.",
                               "event_name");
    }
    const std::string* given_identifier = find_param(params, "identifier");
    if (given_identifier != nullptr && given_identifier->size() > kMaxIdentifierChars) {
        return invalid_request("Invalid identifier: must be at most 100 characters.", "identifier");
    }
    // Parameters are valid: from here on the endpoint has run (the idempotency store keeps it).
    if (given_identifier != nullptr && !given_identifier->empty() &&
        identifiers.count(*given_identifier) != 0) {
        Answer answer = invalid_request(
            "An event already exists with identifier " + *given_identifier + ".", "identifier");
        answer.headers.emplace_back("Stripe-Should-Retry", "false");
        answer.executed = true;
        return answer;
    }
    const std::string identifier = given_identifier != nullptr && !given_identifier->empty()
                                       ? *given_identifier
                                       : "fake_evt_" + std::to_string(++object_counter);
    identifiers.insert(identifier);
    events.push_back(
        MeterEvent{*event_name, *customer, identifier, *value, timestamp, now_seconds});

    Answer answer;
    answer.executed = true;
    answer.body =
        "{\"object\":\"billing.meter_event\",\"created\":" + std::to_string(now_seconds) +
        ",\"event_name\":" + json_string(*event_name) +
        ",\"identifier\":" + json_string(identifier) +
        ",\"livemode\":false,\"payload\":{\"stripe_customer_id\":" + json_string(*customer) +
        ",\"value\":" + json_string(*value_text) + "},\"timestamp\":" + std::to_string(timestamp) +
        "}";
    if (hang_count > 0) {
        --hang_count;
        answer.hold = hang_hold;
    }
    return answer;
}

Answer FakeStripe::Impl::list_meters() const {
    Answer answer;
    answer.body = "{\"object\":\"list\",\"data\":[";
    for (std::size_t i = 0; i < meters.size(); ++i) {
        answer.body += (i == 0 ? "" : ",") + meter_json(meters[i]);
    }
    answer.body += "],\"has_more\":false,\"url\":\"/v1/billing/meters\"}";
    return answer;
}

Answer FakeStripe::Impl::retrieve_meter(const std::string& id) const {
    const Meter* meter = meter_by_id(id);
    if (meter == nullptr) {
        return stripe_error(404, "invalid_request_error", "No such billing meter: '" + id + "'",
                            "id", "resource_missing");
    }
    Answer answer;
    answer.body = meter_json(*meter);
    return answer;
}
Answer FakeStripe::Impl::list_event_summaries(const Incoming& request,
                                              const std::string& meter_id) const {
    const Meter* meter = meter_by_id(meter_id);
    if (meter == nullptr) {
        return stripe_error(404, "invalid_request_error",
                            "No such billing meter: '" + meter_id + "'", "id", "resource_missing");
    }
    auto query = parse_form(request.query);
    if (!query) {
        return invalid_request("Invalid query string: " + query.error() + ".");
    }
    const Form& params = query.value();
    if (auto refused = check_param_names(params, {"customer", "start_time", "end_time", "limit"})) {
        return *refused;
    }
    const std::string* customer = required_param(params, "customer");
    if (customer == nullptr) {
        return missing_param("customer");
    }
    std::int64_t bounds[2] = {0, 0};
    const std::string names[2] = {"start_time", "end_time"};
    for (int i = 0; i < 2; ++i) {
        const std::string* text = required_param(params, names[i]);
        if (text == nullptr) {
            return missing_param(names[i]);
        }
        const auto parsed = parse_integer(*text);
        if (!parsed) {
            return invalid_request("Invalid integer: " + *text, names[i],
                                   "parameter_invalid_integer");
        }
        if (*parsed % 60 != 0) {
            return invalid_request(names[i] + " must be aligned with minute boundaries.", names[i]);
        }
        bounds[i] = *parsed;
    }
    if (bounds[0] >= bounds[1]) {
        return invalid_request("start_time must be before end_time.", "start_time");
    }
    if (const std::string* limit = find_param(params, "limit")) {
        const auto parsed = parse_whole_number(*limit);
        if (!parsed || *parsed < 1 || *parsed > 100) {
            return invalid_request("Invalid limit: must be between 1 and 100.", "limit");
        }
    }
    std::int64_t aggregated = sum(*customer, meter->event_name, bounds[0], bounds[1]);
    for (const SummaryAlteration& alteration : alterations) {
        if (alteration.customer == *customer && alteration.event_name == meter->event_name &&
            (!alteration.timestamp ||
             (*alteration.timestamp >= bounds[0] && *alteration.timestamp < bounds[1]))) {
            aggregated += alteration.delta;
        }
    }
    Answer answer;
    answer.body = "{\"object\":\"list\",\"data\":[{\"id\":" +
                  json_string("mtrusg_test_" + meter->id + "_" + *customer + "_" +
                              std::to_string(bounds[0])) +
                  ",\"object\":\"billing.meter_event_summary\",\"aggregated_value\":" +
                  std::to_string(aggregated) + ",\"end_time\":" + std::to_string(bounds[1]) +
                  ",\"livemode\":false,\"meter\":" + json_string(meter->id) +
                  ",\"start_time\":" + std::to_string(bounds[0]) +
                  "}],\"has_more\":false,\"url\":" +
                  json_string("/v1/billing/meters/" + meter->id + "/event_summaries") + "}";
    return answer;
}

namespace {

// line_items[<n>][price|quantity]
bool is_line_item_param(const std::string& key) {
    constexpr std::string_view kPrefix = "line_items[";
    if (!key.starts_with(kPrefix)) {
        return false;
    }
    const auto close = key.find(']', kPrefix.size());
    if (close == std::string::npos || close == kPrefix.size() ||
        !std::all_of(key.begin() + static_cast<std::ptrdiff_t>(kPrefix.size()),
                     key.begin() + static_cast<std::ptrdiff_t>(close),
                     [](unsigned char c) { return std::isdigit(c) != 0; })) {
        return false;
    }
    const std::string rest = key.substr(close + 1);
    return rest == "[price]" || rest == "[quantity]";
}

}  // namespace

Answer FakeStripe::Impl::create_checkout_session(const Incoming& request) {
    auto form = form_body(request);
    if (!form) {
        return form.error();
    }
    const Form& params = form.value();
    const auto also = [](const std::string& key) {
        return is_line_item_param(key) || bracketed_under(key, "metadata[") ||
               bracketed_under(key, "subscription_data[metadata][");
    };
    if (auto refused = check_param_names(
            params,
            {"mode", "success_url", "cancel_url", "client_reference_id", "customer",
             "customer_email", "allow_promotion_codes", "billing_address_collection"},
            also)) {
        return *refused;
    }
    const std::string* mode = required_param(params, "mode");
    if (mode == nullptr) {
        return missing_param("mode");
    }
    if (*mode != "subscription") {
        return invalid_request("Invalid mode: the fake supports mode=subscription only.", "mode");
    }
    if (required_param(params, "line_items[0][price]") == nullptr) {
        return missing_param("line_items[0][price]");
    }
    for (const auto& [key, value] : params) {
        if (key.ends_with("[quantity]") && is_line_item_param(key) && !parse_whole_number(value)) {
            return invalid_request("Invalid integer: " + value, key, "parameter_invalid_integer");
        }
    }
    const std::string* success_url = required_param(params, "success_url");
    if (success_url == nullptr) {
        return missing_param("success_url");
    }
    const std::string number = std::to_string(checkout_sessions.size() + 1);
    const std::string id = "cs_test_" + number;
    const std::string url = "https://checkout.stripe.com/c/pay/" + id;
    std::map<std::string, std::string> session(params.begin(), params.end());
    session["id"] = id;
    session["url"] = url;
    checkout_sessions.push_back(session);

    Answer answer;
    answer.executed = true;
    answer.body =
        "{\"id\":" + json_string(id) + ",\"object\":\"checkout.session\",\"cancel_url\":" +
        json_string_or_null(find_param(params, "cancel_url")) + ",\"client_reference_id\":" +
        json_string_or_null(find_param(params, "client_reference_id")) +
        ",\"created\":" + std::to_string(now()) +
        ",\"customer\":" + json_string_or_null(find_param(params, "customer")) +
        ",\"livemode\":false,\"mode\":\"subscription\",\"payment_status\":\"unpaid\","
        "\"status\":\"open\",\"success_url\":" +
        json_string(*success_url) + ",\"url\":" + json_string(url) + "}";
    return answer;
}

Answer FakeStripe::Impl::create_portal_session(const Incoming& request) {
    auto form = form_body(request);
    if (!form) {
        return form.error();
    }
    const Form& params = form.value();
    if (auto refused =
            check_param_names(params, {"customer", "return_url", "configuration", "locale"})) {
        return *refused;
    }
    const std::string* customer = required_param(params, "customer");
    if (customer == nullptr) {
        return missing_param("customer");
    }
    const std::string number = std::to_string(portal_sessions.size() + 1);
    const std::string id = "bps_" + number;
    const std::string url = "https://billing.stripe.com/p/session/test_" + number;
    std::map<std::string, std::string> session(params.begin(), params.end());
    session["id"] = id;
    session["url"] = url;
    portal_sessions.push_back(session);

    Answer answer;
    answer.executed = true;
    answer.body = "{\"id\":" + json_string(id) +
                  ",\"object\":\"billing_portal.session\",\"created\":" + std::to_string(now()) +
                  ",\"customer\":" + json_string(*customer) +
                  ",\"livemode\":false,\"return_url\":" +
                  json_string_or_null(find_param(params, "return_url")) +
                  ",\"url\":" + json_string(url) + "}";
    return answer;
}

const Meter* FakeStripe::Impl::meter_by_id(std::string_view id) const {
    const auto found = std::find_if(meters.begin(), meters.end(),
                                    [&](const Meter& meter) { return meter.id == id; });
    return found == meters.end() ? nullptr : &*found;
}

const Meter* FakeStripe::Impl::meter_by_event_name(std::string_view event_name) const {
    const auto found = std::find_if(meters.begin(), meters.end(), [&](const Meter& meter) {
        return meter.event_name == event_name;
    });
    return found == meters.end() ? nullptr : &*found;
}

std::int64_t FakeStripe::Impl::sum(const std::string& customer, const std::string& event_name,
                                   std::int64_t start_seconds, std::int64_t end_seconds) const {
    std::int64_t total = 0;
    for (const MeterEvent& event : events) {
        if (event.customer == customer && event.event_name == event_name &&
            event.timestamp >= start_seconds && event.timestamp < end_seconds) {
            total += event.value;
        }
    }
    return total;
}

// ---- FakeStripe ----

Result<std::unique_ptr<FakeStripe>, std::string> FakeStripe::start(FakeStripeOptions options) {
    std::unique_ptr<FakeStripe> fake(new FakeStripe());
    fake->impl_ = std::make_unique<Impl>();
    Impl& impl = *fake->impl_;
    if (!options.now_seconds) {
        options.now_seconds = [] {
            return static_cast<std::int64_t>(
                std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
        };
    }
    impl.options = std::move(options);
    impl.random.seed(impl.options.seed);
    impl.port = impl.options.port;
    auto listening = impl.listen();
    if (!listening) {
        return unexpected(listening.error());
    }
    std::fprintf(stderr, "fake-stripe: listening on 127.0.0.1:%u, seed %llu\n",
                 static_cast<unsigned>(impl.port),
                 static_cast<unsigned long long>(impl.options.seed));
    impl.thread = std::thread([&impl] { impl.io.run(); });
    return fake;
}

FakeStripe::~FakeStripe() {
    if (!impl_) {
        return;
    }
    // Held connections' timers would keep run() going: stop outright. The io_context's
    // destructor then destroys the pending handlers, and with them the sessions.
    impl_->io.stop();
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
    impl_->close_everything();
}

std::string FakeStripe::base_url() const {
    return "http://" + address();
}

std::string FakeStripe::address() const {
    return "127.0.0.1:" + std::to_string(port());
}

std::uint16_t FakeStripe::port() const {
    return impl_->port;
}

void FakeStripe::fail_next(int count, int status) {
    const std::lock_guard lock(impl_->mutex);
    impl_->fail_next_count = count;
    impl_->fail_next_status = status;
}

void FakeStripe::set_failure_rate(double fraction) {
    const std::lock_guard lock(impl_->mutex);
    impl_->failure_rate = fraction;
}

void FakeStripe::rate_limit_next(int count, int retry_after_seconds) {
    const std::lock_guard lock(impl_->mutex);
    impl_->rate_limit_count = count;
    impl_->retry_after_seconds = retry_after_seconds;
}

void FakeStripe::hang_after_record_next(int count, std::chrono::milliseconds hold) {
    const std::lock_guard lock(impl_->mutex);
    impl_->hang_count = count;
    impl_->hang_hold = hold;
}

void FakeStripe::set_down(bool down) {
    std::promise<std::string> done;
    auto future = done.get_future();
    asio::post(impl_->io, [impl = impl_.get(), down, &done] {
        if (down) {
            impl->close_everything();
            done.set_value({});
            return;
        }
        if (impl->acceptor.is_open()) {
            done.set_value({});
            return;
        }
        auto listening = impl->listen();
        done.set_value(listening ? std::string() : listening.error());
    });
    const std::string error = future.get();
    if (!error.empty()) {
        std::fprintf(stderr, "fake-stripe: %s\n", error.c_str());
    }
    UL_CHECK(error.empty(), "fake Stripe could not listen again on its port");
}

std::vector<MeterEvent> FakeStripe::events() const {
    const std::lock_guard lock(impl_->mutex);
    return impl_->events;
}

std::vector<RecordedRequest> FakeStripe::requests() const {
    const std::lock_guard lock(impl_->mutex);
    return impl_->requests;
}

std::map<std::tuple<std::string, std::string>, std::int64_t> FakeStripe::totals() const {
    const std::lock_guard lock(impl_->mutex);
    std::map<std::tuple<std::string, std::string>, std::int64_t> sums;
    for (const MeterEvent& event : impl_->events) {
        sums[{event.customer, event.event_name}] += event.value;
    }
    return sums;
}

std::int64_t FakeStripe::total(const std::string& customer, const std::string& event_name,
                               std::int64_t start_seconds, std::int64_t end_seconds) const {
    const std::lock_guard lock(impl_->mutex);
    return impl_->sum(customer, event_name, start_seconds, end_seconds);
}

void FakeStripe::add_meter(std::string id, std::string event_name) {
    const std::lock_guard lock(impl_->mutex);
    UL_CHECK(impl_->meter_by_id(id) == nullptr, "add_meter: the meter id is taken");
    UL_CHECK(impl_->meter_by_event_name(event_name) == nullptr,
             "add_meter: another meter has this event_name (Stripe allows one)");
    impl_->meters.push_back(Meter{std::move(id), std::move(event_name), impl_->now()});
}

void FakeStripe::alter_summary(std::string customer, std::string event_name, std::int64_t delta) {
    const std::lock_guard lock(impl_->mutex);
    impl_->alterations.push_back(
        SummaryAlteration{std::move(customer), std::move(event_name), delta, std::nullopt});
}

void FakeStripe::alter_summary(std::string customer, std::string event_name, std::int64_t delta,
                               std::int64_t timestamp) {
    const std::lock_guard lock(impl_->mutex);
    impl_->alterations.push_back(
        SummaryAlteration{std::move(customer), std::move(event_name), delta, timestamp});
}

std::vector<std::map<std::string, std::string>> FakeStripe::checkout_sessions() const {
    const std::lock_guard lock(impl_->mutex);
    return impl_->checkout_sessions;
}

std::vector<std::map<std::string, std::string>> FakeStripe::portal_sessions() const {
    const std::lock_guard lock(impl_->mutex);
    return impl_->portal_sessions;
}

}  // namespace ul::fakes
