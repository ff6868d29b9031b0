// Fuzzes HTTP request parsing as the server does it, without sockets: Boost.Beast's
// request_parser (the server's header and body limits) fed the bytes, then, for a request that
// parsed, our request-target handling (parse_request_target: path, percent-decoded segments,
// query) and routing (match_path against the server's route patterns, HttpMetrics::route_of).
// Invariants: a parsed path starts with '/'; a route that matches captures every "{name}".
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "projections/api/http_metrics.h"
#include "projections/api/http_server.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// The query API's route patterns (projections/api/*.cpp, ops/), as the server registers them.
constexpr std::string_view kPatterns[] = {
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/whoami",
    "/v1/events",
    "/v1/admin/jobs",
    "/v1/admin/jobs/{id}",
    "/v1/admin/reconcile",
    "/v1/admin/tenants",
    "/v1/admin/dead-letters",
    "/v1/admin/accounts",
    "/v1/admin/accounts/{tenant}",
    "/v1/tenants/{tenant}/keys",
    "/v1/tenants/{tenant}/keys/{id}",
    "/v1/stripe/webhook",
    "/v1/tenants/{tenant}/usage",
    "/v1/tenants/{tenant}/usage/history",
    "/v1/tenants/{tenant}/consume",
    "/v1/tenants/{tenant}/leases",
    "/v1/tenants/{tenant}/leases/{lease_id}",
    "/v1/tenants/{tenant}/credits",
    "/v1/tenants/{tenant}/credits/grants",
    "/v1/tenants/{tenant}/entitlements",
    "/v1/tenants/{tenant}/alerts",
    "/v1/tenants/{tenant}/alerts/{id}/deliveries",
    "/v1/tenants/{tenant}/alerts/{id}/redeliver",
    "/v1/tenants/{tenant}/alert-rules",
    "/v1/tenants/{tenant}/alert-rules/{id}",
    "/v1/tenants/{tenant}/billing",
    "/v1/tenants/{tenant}/billing/checkout",
    "/v1/tenants/{tenant}/billing/portal",
};

struct Routes {
    std::vector<std::vector<std::string>> patterns;
    ul::HttpMetrics metrics;
    Routes() {
        for (const std::string_view pattern : kPatterns) {
            patterns.push_back(ul::split_path(pattern));
            metrics.add_route(pattern);
        }
    }
};

// Feeds the bytes to the parser as one read would; true when a whole request parsed.
bool parse(const std::uint8_t* data, std::size_t size,
           http::request_parser<http::string_body>& parser) {
    parser.body_limit(1U << 20U);  // HttpServerOptions::max_body_bytes' default
    parser.header_limit(16U * 1024U);
    parser.eager(true);
    beast::error_code error;
    boost::asio::const_buffer buffer(data, size);
    while (buffer.size() > 0 && !parser.is_done()) {
        const std::size_t used = parser.put(buffer, error);
        if (error == http::error::need_more) {
            error = {};
            if (used == 0) {
                break;
            }
        }
        if (error) {
            return false;
        }
        buffer += used;
    }
    if (!parser.is_done()) {
        parser.put_eof(error);
    }
    return !error && parser.is_done();
}

void route(const Routes& routes, const ul::HttpRequest& request) {
    for (const auto& pattern : routes.patterns) {
        std::map<std::string, std::string> params;
        if (!ul::match_path(pattern, request.segments, &params)) {
            continue;
        }
        FUZZ_CHECK(pattern.size() == request.segments.size(), "a match of another length");
        std::size_t captures = 0;
        for (const std::string& part : pattern) {
            captures += part.starts_with('{') ? 1 : 0;
        }
        FUZZ_CHECK(params.size() <= captures, "more params than captures");
        for (const auto& [name, value] : params) {
            FUZZ_CHECK(!value.empty(), "an empty path parameter");
        }
    }
    (void)routes.metrics.label(routes.metrics.route_of(request.segments));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Routes routes;
    http::request_parser<http::string_body> parser;
    if (!parse(data, size, parser)) {
        return 0;
    }
    auto message = parser.release();
    ul::HttpRequest request;
    request.method = std::string(message.method_string());
    const std::string_view target(message.target().data(), message.target().size());
    const ul::RequestTargetError error = ul::parse_request_target(target, request);
    if (error == ul::RequestTargetError::bad_path) {
        return 0;
    }
    FUZZ_CHECK(!request.path.empty() && request.path.front() == '/', "a path without '/'");
    route(routes, request);
    if (error == ul::RequestTargetError::bad_query) {
        return 0;
    }
    request.content_type = std::string(message[http::field::content_type]);
    request.authorization = std::string(message[http::field::authorization]);
    for (const auto& field : message) {
        request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    (void)request.query_param("wait");
    (void)request.header("stripe-signature");
    return 0;
}
