// The HTTP server's request metrics: `http_requests_total{route,status}` and the latency
// histogram `http_request_duration_seconds{route}`, where `route` is the route's *pattern*
// ("/v1/tenants/{tenant}/usage", never the raw path, so the label's values are bounded by the
// routes registered) and "other" for a request no route matches (404, and requests refused
// before routing: malformed, too large). Also the path helpers routing shares with it.
// Lifecycle and threading: add_route() before traffic only (as HttpServer::route); observe()
// and append_text() from any thread at once (atomic counters; nothing allocated per request).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/prometheus_text.h"

namespace ul {

// "/v1/tenants/acme" → {"v1", "tenants", "acme"}; "/" → {}. Not decoded.
std::vector<std::string> split_path(std::string_view path);

// Whether `segments` match `pattern` (split patterns; a "{name}" part matches one non-empty
// segment and is captured into `params` when given).
bool match_path(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
                std::map<std::string, std::string>* params = nullptr);

class HttpMetrics {
  public:
    static constexpr std::string_view kOtherRoute = "other";
    static constexpr std::size_t kOther = 0;  // the route index of "other"
    // Latency bucket bounds in µs (rendered in seconds): 0.5 ms … 10 s.
    static constexpr std::size_t kBuckets = 14;
    static constexpr std::array<std::uint64_t, kBuckets> kBoundsUs{
        500,    1000,   2500,   5000,    10000,   25000,   50000,
        100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

    HttpMetrics();
    HttpMetrics(const HttpMetrics&) = delete;
    HttpMetrics& operator=(const HttpMetrics&) = delete;
    ~HttpMetrics();

    // Registers a route pattern ("/v1/tenants/{tenant}/usage") and answers its route index;
    // the same pattern (under another method) answers the same index. Before traffic only.
    std::size_t add_route(std::string_view pattern);
    // The index of the first registered pattern `segments` match (any method), else kOther.
    std::size_t route_of(const std::vector<std::string>& segments) const;
    std::string_view label(std::size_t route) const;  // the pattern, or "other"

    // One answered request. A status outside 100–599 is counted as 599.
    void observe(std::size_t route, int status, std::uint64_t duration_us);
    std::uint64_t requests(std::size_t route, int status) const;

    // The two families in Prometheus text: only (route, status) pairs and routes seen at least
    // once, so a scrape stays proportional to the routes in use.
    void append_text(std::string& out) const;

  private:
    static constexpr int kFirstStatus = 100;
    static constexpr int kLastStatus = 599;
    struct Route {
        std::string pattern;
        std::vector<std::string> segments;
        std::array<std::atomic<std::uint64_t>, kLastStatus - kFirstStatus + 1> by_status{};
        Histogram<kBuckets> duration_us{kBoundsUs};
    };
    static std::size_t status_index(int status);
    std::vector<std::unique_ptr<Route>> routes_;  // [kOther] is "other"
};

}  // namespace ul
