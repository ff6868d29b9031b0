#include "projections/api/http_metrics.h"

#include "schemas/check.h"

namespace ul {

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> segments;
    std::size_t start = 1;  // after the leading '/'
    while (start <= path.size()) {
        const auto end = path.find('/', start);
        const auto stop = end == std::string_view::npos ? path.size() : end;
        segments.emplace_back(path.substr(start, stop - start));
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    if (segments.size() == 1 && segments[0].empty()) {
        segments.clear();  // "/"
    }
    return segments;
}

bool match_path(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
                std::map<std::string, std::string>* params) {
    if (pattern.size() != segments.size()) {
        return false;
    }
    for (std::size_t index = 0; index < pattern.size(); ++index) {
        const std::string& part = pattern[index];
        if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
            if (segments[index].empty()) {
                return false;
            }
            if (params != nullptr) {
                (*params)[part.substr(1, part.size() - 2)] = segments[index];
            }
        } else if (part != segments[index]) {
            return false;
        }
    }
    return true;
}

HttpMetrics::HttpMetrics() {
    routes_.push_back(std::make_unique<Route>());
    routes_[kOther]->pattern = std::string(kOtherRoute);
}

HttpMetrics::~HttpMetrics() = default;

std::size_t HttpMetrics::add_route(std::string_view pattern) {
    for (std::size_t index = kOther + 1; index < routes_.size(); ++index) {
        if (routes_[index]->pattern == pattern) {
            return index;
        }
    }
    auto route = std::make_unique<Route>();
    route->pattern = std::string(pattern);
    route->segments = split_path(pattern);
    routes_.push_back(std::move(route));
    return routes_.size() - 1;
}

std::size_t HttpMetrics::route_of(const std::vector<std::string>& segments) const {
    for (std::size_t index = kOther + 1; index < routes_.size(); ++index) {
        if (match_path(routes_[index]->segments, segments)) {
            return index;
        }
    }
    return kOther;
}

std::string_view HttpMetrics::label(std::size_t route) const {
    UL_CHECK(route < routes_.size(), "no such route index");
    return routes_[route]->pattern;
}

std::size_t HttpMetrics::status_index(int status) {
    if (status < kFirstStatus || status > kLastStatus) {
        status = kLastStatus;  // not an HTTP status: a handler's bug, kept apart from real ones
    }
    return static_cast<std::size_t>(status - kFirstStatus);
}

void HttpMetrics::observe(std::size_t route, int status, std::uint64_t duration_us) {
    UL_CHECK(route < routes_.size(), "no such route index");
    Route& target = *routes_[route];
    target.by_status[status_index(status)].fetch_add(1, std::memory_order_relaxed);
    target.duration_us.observe(duration_us);
}

std::uint64_t HttpMetrics::requests(std::size_t route, int status) const {
    UL_CHECK(route < routes_.size(), "no such route index");
    return routes_[route]->by_status[status_index(status)].load(std::memory_order_relaxed);
}

void HttpMetrics::append_text(std::string& out) const {
    append_metric_header(out, "http_requests_total", "counter",
                         "Answered HTTP requests by route pattern and status");
    for (const auto& route : routes_) {
        for (std::size_t index = 0; index < route->by_status.size(); ++index) {
            const std::uint64_t count = route->by_status[index].load(std::memory_order_relaxed);
            if (count == 0) {
                continue;
            }
            append_metric_sample(out, "http_requests_total",
                                 metric_label("route", route->pattern) + "," +
                                     metric_label("status", std::to_string(kFirstStatus + index)),
                                 count);
        }
    }
    append_metric_header(out, "http_request_duration_seconds", "histogram",
                         "Time from a request read to its response queued, by route pattern");
    for (const auto& route : routes_) {
        if (route->duration_us.count() == 0) {
            continue;
        }
        append_histogram_samples(out, "http_request_duration_seconds",
                                 metric_label("route", route->pattern), route->duration_us, true);
    }
}

}  // namespace ul
