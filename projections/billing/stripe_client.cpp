#include "projections/billing/stripe_client.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "schemas/check.h"

namespace ul {
namespace {

constexpr std::size_t kStripeErrorBytesMax = 512;
constexpr std::int64_t kRetryAfterMax_s = 24 * 3600;
constexpr std::size_t kSecretKeyBytesMax = 4096;

bool unreserved(unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

void percent_encode(std::string_view text, bool keep_brackets, std::string& out) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (const char raw : text) {
        const auto c = static_cast<unsigned char>(raw);
        if (unreserved(c) || (keep_brackets && (c == '[' || c == ']'))) {
            out.push_back(raw);
            continue;
        }
        out.push_back('%');
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0x0f]);
    }
}

std::string_view trim_space(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
        text.remove_suffix(1);
    }
    return text;
}

// Says what is wrong with a key without quoting it.
std::optional<std::string> key_problem(std::string_view key) {
    if (key.empty()) {
        return std::string("is empty");
    }
    if (key.size() > kSecretKeyBytesMax) {
        return std::string("is longer than 4096 bytes");
    }
    const bool bad = std::any_of(key.begin(), key.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte >= 0x7f;
    });
    if (bad) {
        return std::string("has a space, a control character or a non-ASCII byte inside");
    }
    return std::nullopt;
}

std::string header_value(const HttpCallResult& result, std::string_view name) {
    for (const auto& [field, value] : result.headers) {
        if (field.size() == name.size() &&
            std::equal(field.begin(), field.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            return value;
        }
    }
    return {};
}

// An integral JSON number as int64: an integer, or a double with no fraction within range.
std::optional<std::int64_t> integral(simdjson::dom::element element) {
    std::int64_t as_integer = 0;
    if (element.get_int64().get(as_integer) == simdjson::SUCCESS) {
        return as_integer;
    }
    double as_double = 0;
    if (element.get_double().get(as_double) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    if (!std::isfinite(as_double) || std::trunc(as_double) != as_double ||
        std::fabs(as_double) >= 9.0e18) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(as_double);
}

std::int64_t integral_field(simdjson::dom::element element, const char* field) {
    simdjson::dom::element value;
    if (element[field].get(value) != simdjson::SUCCESS) {
        return 0;
    }
    return integral(value).value_or(0);
}

std::string text_of(simdjson::dom::element element, const char* field) {
    std::string_view value;
    if (element[field].get_string().get(value) == simdjson::SUCCESS) {
        return std::string(value);
    }
    return {};
}

Result<simdjson::dom::array, std::string> list_data(simdjson::dom::parser& parser,
                                                    std::string_view body, bool* has_more) {
    simdjson::dom::element document;
    if (parser.parse(body.data(), body.size()).get(document) != simdjson::SUCCESS) {
        return unexpected(std::string("the answer is not JSON"));
    }
    simdjson::dom::array data;
    if (document["data"].get_array().get(data) != simdjson::SUCCESS) {
        return unexpected(std::string("the answer is not a list (no data array)"));
    }
    bool more = false;
    if (document["has_more"].get_bool().get(more) != simdjson::SUCCESS) {
        more = false;
    }
    if (has_more != nullptr) {
        *has_more = more;
    }
    return data;
}

// A response that is not an HTTP failure but whose 2xx body we could not use.
StripeResponse unusable(StripeResponse response, const std::string& why) {
    response.verdict = StripeVerdict::permanent;
    response.stripe_error = "unexpected answer: " + why;
    return response;
}

std::string path_segment(std::string_view text) {
    std::string out;
    percent_encode(text, false, out);
    return out;
}

}  // namespace

std::string form_encode(const FormFields& fields) {
    std::string out;
    for (const auto& [key, value] : fields) {
        if (!out.empty()) {
            out.push_back('&');
        }
        percent_encode(key, true, out);
        out.push_back('=');
        percent_encode(value, false, out);
    }
    return out;
}

Result<std::string, std::string> load_stripe_secret_key(const std::string& file_path_or_empty) {
    std::string key;
    std::string source;
    if (!file_path_or_empty.empty()) {
        source = "the Stripe secret key file " + file_path_or_empty;
        std::ifstream file(file_path_or_empty, std::ios::binary);
        if (!file) {
            return unexpected("cannot read " + source);
        }
        std::ostringstream content;
        content << file.rdbuf();
        key = std::string(trim_space(content.str()));
    } else {
        source = "$STRIPE_SECRET_KEY";
        const char* value = std::getenv("STRIPE_SECRET_KEY");  // NOLINT(concurrency-mt-unsafe)
        if (value == nullptr) {
            return unexpected(
                std::string("no Stripe secret key: give a key file or set "
                            "$STRIPE_SECRET_KEY"));
        }
        key = std::string(trim_space(value));
    }
    if (const auto problem = key_problem(key)) {
        return unexpected("the Stripe secret key in " + source + " " + *problem);
    }
    return key;
}

// ---- token bucket ----

TokenBucket::TokenBucket(double requests_per_second, int burst, std::int64_t now_us)
    : rate_per_us_(requests_per_second / 1e6),
      burst_(static_cast<double>(burst)),
      tokens_(static_cast<double>(burst)),
      updated_us_(now_us) {
    UL_CHECK(requests_per_second > 0 && burst >= 1,
             "a token bucket has a positive rate and a burst of at least 1");
}

void TokenBucket::refill(std::int64_t now_us) {
    if (now_us <= updated_us_) {
        return;  // a clock going backwards mints nothing
    }
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - updated_us_) * rate_per_us_);
    updated_us_ = now_us;
}

bool TokenBucket::try_take(std::int64_t now_us) {
    refill(now_us);
    if (tokens_ < 1.0) {
        return false;
    }
    tokens_ -= 1.0;
    return true;
}

std::int64_t TokenBucket::wait_us(std::int64_t now_us) {
    refill(now_us);
    if (tokens_ >= 1.0) {
        return 0;
    }
    const double missing_us = (1.0 - tokens_) / rate_per_us_;
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(missing_us)));
}

// ---- circuit breaker ----

std::string_view to_string(BreakerState state) {
    switch (state) {
        case BreakerState::closed:
            return "closed";
        case BreakerState::open:
            return "open";
        case BreakerState::half_open:
            return "half_open";
    }
    return "unknown";
}

CircuitBreaker::CircuitBreaker(int failures_to_open, std::chrono::seconds pause)
    : failures_to_open_(failures_to_open),
      pause_us_(std::chrono::duration_cast<std::chrono::microseconds>(pause).count()) {
    UL_CHECK(failures_to_open >= 1 && pause.count() > 0,
             "a circuit breaker opens after at least one failure, for a positive pause");
}

BreakerState CircuitBreaker::state(std::int64_t now_us) const {
    if (opened_until_us_ == 0) {
        return BreakerState::closed;
    }
    return now_us < opened_until_us_ ? BreakerState::open : BreakerState::half_open;
}

bool CircuitBreaker::allow(std::int64_t now_us) {
    switch (state(now_us)) {
        case BreakerState::closed:
            return true;
        case BreakerState::open:
            return false;
        case BreakerState::half_open:
            break;
    }
    // One trial at a time; a trial whose result never came is replaced after another pause.
    if (trial_started_us_ && now_us - *trial_started_us_ < pause_us_) {
        return false;
    }
    trial_started_us_ = now_us;
    return true;
}

void CircuitBreaker::record_success() {
    consecutive_failures_ = 0;
    opened_until_us_ = 0;
    trial_started_us_.reset();
}

void CircuitBreaker::record_failure(std::int64_t now_us) {
    if (consecutive_failures_ < std::numeric_limits<int>::max()) {
        ++consecutive_failures_;
    }
    const bool trial_failed = opened_until_us_ != 0 && now_us >= opened_until_us_;
    if (trial_failed || (opened_until_us_ == 0 && consecutive_failures_ >= failures_to_open_)) {
        opened_until_us_ = now_us + pause_us_;
        trial_started_us_.reset();
    }
    UL_CHECK(state(now_us) != BreakerState::closed || consecutive_failures_ < failures_to_open_,
             "a breaker with failures_to_open consecutive failures is not closed");
}

// ---- backoff and verdicts ----

std::chrono::milliseconds stripe_backoff_delay(const StripeBackoff& backoff, std::uint32_t attempt,
                                               std::optional<std::int64_t> retry_after_seconds,
                                               std::uint64_t random) {
    UL_CHECK(backoff.base.count() > 0 && backoff.cap >= backoff.base,
             "a backoff has a positive base and cap >= base");
    const auto cap_ms = static_cast<std::uint64_t>(backoff.cap.count());
    auto ceiling_ms = static_cast<std::uint64_t>(backoff.base.count());
    for (std::uint32_t step = 0; step < attempt && ceiling_ms < cap_ms; ++step) {
        ceiling_ms = ceiling_ms > cap_ms / 2 ? cap_ms : ceiling_ms * 2;
    }
    ceiling_ms = std::min(ceiling_ms, cap_ms);
    auto delay_ms = static_cast<std::int64_t>(random % (ceiling_ms + 1));
    if (retry_after_seconds && *retry_after_seconds > 0) {
        delay_ms = std::max(delay_ms, std::min(*retry_after_seconds, kRetryAfterMax_s) * 1000);
    }
    return std::chrono::milliseconds{delay_ms};
}

std::string_view to_string(StripeVerdict verdict) {
    switch (verdict) {
        case StripeVerdict::ok:
            return "ok";
        case StripeVerdict::retry:
            return "retry";
        case StripeVerdict::permanent:
            return "permanent";
    }
    return "unknown";
}

StripeVerdict classify_stripe(const HttpCallResult& result) {
    const int status = result.status;
    if (status == 0) {
        return StripeVerdict::retry;
    }
    if (status >= 200 && status <= 299) {
        return StripeVerdict::ok;
    }
    const std::string should_retry = header_value(result, "Stripe-Should-Retry");
    if (should_retry == "true") {
        return StripeVerdict::retry;
    }
    if (should_retry == "false") {
        return StripeVerdict::permanent;
    }
    if (status == 408 || status == 409 || status == 429 || status >= 500) {
        return StripeVerdict::retry;
    }
    return StripeVerdict::permanent;
}

std::optional<std::string> stripe_error_text(std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    simdjson::dom::element error;
    if (parser.parse(body.data(), body.size()).get(document) != simdjson::SUCCESS ||
        document["error"].get(error) != simdjson::SUCCESS || !error.is_object()) {
        return std::nullopt;
    }
    std::string text = text_of(error, "type");
    const std::string code = text_of(error, "code");
    if (!code.empty()) {
        text += "/" + code;
    }
    text += ": " + text_of(error, "message");
    if (text.size() > kStripeErrorBytesMax) {
        text.resize(kStripeErrorBytesMax);
        text += "...";
    }
    return text;
}

std::string StripeResponse::describe() const {
    std::string text = "stripe ";
    text += status == 0 ? "no answer: " + error : "HTTP " + std::to_string(status);
    if (!stripe_error.empty()) {
        text += " (" + stripe_error + ")";
    }
    if (!request_id.empty()) {
        text += " request " + request_id;
    }
    text += " verdict ";
    text += to_string(verdict);
    return text;
}

// ---- parsers ----

Result<std::vector<StripeMeter>, std::string> parse_meter_list(std::string_view body,
                                                               bool* has_more) {
    simdjson::dom::parser parser;
    auto data = list_data(parser, body, has_more);
    if (!data) {
        return unexpected(data.error());
    }
    std::vector<StripeMeter> meters;
    for (const simdjson::dom::element item : *data) {
        StripeMeter meter{text_of(item, "id"), text_of(item, "event_name"),
                          text_of(item, "display_name"), text_of(item, "status")};
        if (meter.id.empty()) {
            return unexpected(std::string("a meter has no id"));
        }
        meters.push_back(std::move(meter));
    }
    return meters;
}

Result<MeterEventSummaries, std::string> parse_meter_event_summaries(std::string_view body,
                                                                     bool* has_more) {
    simdjson::dom::parser parser;
    auto data = list_data(parser, body, has_more);
    if (!data) {
        return unexpected(data.error());
    }
    MeterEventSummaries result;
    for (const simdjson::dom::element item : *data) {
        simdjson::dom::element value;
        if (item["aggregated_value"].get(value) != simdjson::SUCCESS) {
            return unexpected(std::string("a meter event summary has no aggregated_value"));
        }
        const auto aggregated = integral(value);
        if (!aggregated) {
            return unexpected(
                std::string("a meter event summary's aggregated_value is not an integer"));
        }
        MeterEventSummary summary;
        summary.aggregated_value = *aggregated;
        summary.id = text_of(item, "id");
        summary.start_time_s = integral_field(item, "start_time");
        summary.end_time_s = integral_field(item, "end_time");
        if (__builtin_add_overflow(result.total, *aggregated, &result.total)) {
            return unexpected(std::string("the meter event summaries overflow 64 bits"));
        }
        result.summaries.push_back(summary);
    }
    return result;
}

Result<StripeSession, std::string> parse_session(std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    if (parser.parse(body.data(), body.size()).get(document) != simdjson::SUCCESS) {
        return unexpected(std::string("the answer is not JSON"));
    }
    StripeSession session{text_of(document, "id"), text_of(document, "url")};
    if (session.id.empty()) {
        return unexpected(std::string("the session has no id"));
    }
    return session;
}

// ---- the client ----

StripeClient::StripeClient(StripeConfig config)
    : config_(std::move(config)),
      bucket_(config_.requests_per_second, config_.burst,
              std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now().time_since_epoch())
                  .count()) {
    while (!config_.api_base.empty() && config_.api_base.back() == '/') {
        config_.api_base.pop_back();
    }
}

void StripeClient::wait_for_token() {
    while (true) {
        std::int64_t wait_us = 0;
        {
            const std::lock_guard lock(bucket_mutex_);
            const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now().time_since_epoch())
                                            .count();
            if (bucket_.try_take(now_us)) {
                return;
            }
            wait_us = bucket_.wait_us(now_us);
        }
        std::this_thread::sleep_for(std::chrono::microseconds{wait_us});
    }
}

StripeResponse StripeClient::call(HttpMethod method, std::string_view path, std::string body,
                                  std::string_view idempotency_key) {
    wait_for_token();
    HttpCall request;
    request.method = method;
    request.url = config_.api_base + std::string(path);
    request.headers = {{"Authorization", "Bearer " + config_.secret_key},
                       {"Stripe-Version", config_.stripe_version},
                       {"Accept", "application/json"}};
    if (!idempotency_key.empty()) {
        request.headers.emplace_back("Idempotency-Key", std::string(idempotency_key));
    }
    request.body = std::move(body);
    request.content_type = method == HttpMethod::post ? "application/x-www-form-urlencoded" : "";
    request.user_agent = "usage-ledger-stripe";
    request.timeout = config_.timeout;
    HttpCallResult result = http_call(request);

    StripeResponse response;
    response.status = result.status;
    response.retry_after_seconds = result.retry_after_seconds;
    response.timed_out = result.timed_out;
    response.verdict = classify_stripe(result);
    response.request_id = header_value(result, "Request-Id");
    response.error = std::move(result.error);
    response.body = std::move(result.body);
    if (result.status != 0 && response.verdict != StripeVerdict::ok) {
        response.stripe_error = stripe_error_text(response.body)
                                    .value_or("HTTP " + std::to_string(result.status) +
                                              (result.body_truncated ? " (body too long)" : ""));
    }
    return response;
}

StripeResponse StripeClient::post(std::string_view path, const FormFields& form,
                                  std::string_view idempotency_key) {
    return call(HttpMethod::post, path, form_encode(form), idempotency_key);
}

StripeResponse StripeClient::get(std::string_view path_and_query) {
    return call(HttpMethod::get, path_and_query, std::string(), {});
}

StripeResponse StripeClient::create_meter_event(std::string_view event_name,
                                                std::string_view customer, std::int64_t value,
                                                std::string_view identifier,
                                                std::int64_t timestamp_seconds,
                                                std::string_view idempotency_key) {
    const FormFields form = {
        {"event_name", std::string(event_name)},
        {"payload[stripe_customer_id]", std::string(customer)},
        {"payload[value]", std::to_string(value)},
        {"identifier", std::string(identifier)},
        {"timestamp", std::to_string(timestamp_seconds)},
    };
    return post("/v1/billing/meter_events", form, idempotency_key);
}

Result<std::vector<StripeMeter>, StripeResponse> StripeClient::list_meters() {
    std::vector<StripeMeter> meters;
    std::string starting_after;
    for (int page = 0; page < kPagesMax; ++page) {
        FormFields query = {{"limit", "100"}};
        if (!starting_after.empty()) {
            query.emplace_back("starting_after", starting_after);
        }
        StripeResponse response = get("/v1/billing/meters?" + form_encode(query));
        if (response.verdict != StripeVerdict::ok) {
            return unexpected(std::move(response));
        }
        bool has_more = false;
        auto parsed = parse_meter_list(response.body, &has_more);
        if (!parsed) {
            return unexpected(unusable(std::move(response), parsed.error()));
        }
        meters.insert(meters.end(), parsed->begin(), parsed->end());
        if (!has_more || parsed->empty()) {
            return meters;
        }
        starting_after = parsed->back().id;
    }
    return meters;
}

Result<MeterEventSummaries, StripeResponse> StripeClient::meter_event_summaries(
    std::string_view meter_id, std::string_view customer, std::int64_t start_s,
    std::int64_t end_s) {
    MeterEventSummaries all;
    std::string starting_after;
    const std::string path = "/v1/billing/meters/" + path_segment(meter_id) + "/event_summaries?";
    for (int page = 0; page < kPagesMax; ++page) {
        FormFields query = {{"customer", std::string(customer)},
                            {"start_time", std::to_string(start_s)},
                            {"end_time", std::to_string(end_s)},
                            {"limit", "100"}};
        if (!starting_after.empty()) {
            query.emplace_back("starting_after", starting_after);
        }
        StripeResponse response = get(path + form_encode(query));
        if (response.verdict != StripeVerdict::ok) {
            return unexpected(std::move(response));
        }
        bool has_more = false;
        auto parsed = parse_meter_event_summaries(response.body, &has_more);
        if (!parsed) {
            return unexpected(unusable(std::move(response), parsed.error()));
        }
        if (__builtin_add_overflow(all.total, parsed->total, &all.total)) {
            return unexpected(unusable(std::move(response), "the sums overflow 64 bits"));
        }
        all.summaries.insert(all.summaries.end(), parsed->summaries.begin(),
                             parsed->summaries.end());
        if (!has_more || parsed->summaries.empty()) {
            return all;
        }
        starting_after = parsed->summaries.back().id;
        if (starting_after.empty()) {
            return all;
        }
    }
    return all;
}

Result<StripeSession, StripeResponse> StripeClient::create_checkout_session(
    std::string_view price_id, std::string_view tenant, const std::optional<std::string>& customer,
    std::string_view success_url, std::string_view cancel_url, std::string_view idempotency_key) {
    FormFields form = {
        {"mode", "subscription"},
        {"line_items[0][price]", std::string(price_id)},
        {"client_reference_id", std::string(tenant)},
        {"success_url", std::string(success_url)},
        {"cancel_url", std::string(cancel_url)},
    };
    if (customer && !customer->empty()) {
        form.emplace_back("customer", *customer);
    }
    StripeResponse response = post("/v1/checkout/sessions", form, idempotency_key);
    if (response.verdict != StripeVerdict::ok) {
        return unexpected(std::move(response));
    }
    auto session = parse_session(response.body);
    if (!session) {
        return unexpected(unusable(std::move(response), session.error()));
    }
    return std::move(session).value();
}

Result<StripeSession, StripeResponse> StripeClient::create_portal_session(
    std::string_view customer, std::string_view return_url, std::string_view idempotency_key) {
    const FormFields form = {{"customer", std::string(customer)},
                             {"return_url", std::string(return_url)}};
    StripeResponse response = post("/v1/billing_portal/sessions", form, idempotency_key);
    if (response.verdict != StripeVerdict::ok) {
        return unexpected(std::move(response));
    }
    auto session = parse_session(response.body);
    if (!session) {
        return unexpected(unusable(std::move(response), session.error()));
    }
    return std::move(session).value();
}

}  // namespace ul
