// The pure parts of the HTTP and process metrics: route labels are patterns (bounded), the
// Prometheus text of the request counters and the latency histogram, and /proc parsing.
#include "projections/api/http_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "projections/api/process_metrics.h"

namespace {

using ul::HttpMetrics;
using ul::split_path;

bool contains(const std::string& text, const std::string& line) {
    return text.find(line) != std::string::npos;
}

TEST(HttpMetrics, RouteLabelIsThePatternNeverThePath) {
    HttpMetrics metrics;
    const auto usage = metrics.add_route("/v1/tenants/{tenant}/usage");
    const auto history = metrics.add_route("/v1/tenants/{tenant}/usage/history");
    const auto health = metrics.add_route("/healthz");
    const auto root = metrics.add_route("/");
    EXPECT_EQ(metrics.add_route("/v1/tenants/{tenant}/usage"), usage);  // another method

    EXPECT_EQ(metrics.route_of(split_path("/v1/tenants/acme/usage")), usage);
    EXPECT_EQ(metrics.route_of(split_path("/v1/tenants/globex/usage")), usage);
    EXPECT_EQ(metrics.label(usage), "/v1/tenants/{tenant}/usage");
    EXPECT_EQ(metrics.route_of(split_path("/v1/tenants/acme/usage/history")), history);
    EXPECT_EQ(metrics.route_of(split_path("/healthz")), health);
    EXPECT_EQ(metrics.route_of(split_path("/")), root);
    // Unmatched: one label for every unknown path, so its values stay bounded.
    EXPECT_EQ(metrics.route_of(split_path("/v1/tenants//usage")), HttpMetrics::kOther);
    EXPECT_EQ(metrics.route_of(split_path("/no/such/path")), HttpMetrics::kOther);
    EXPECT_EQ(metrics.route_of(split_path("/healthz/x")), HttpMetrics::kOther);
    EXPECT_EQ(metrics.label(HttpMetrics::kOther), "other");
}

TEST(HttpMetrics, TextHasCountersByRouteAndStatusAndAHistogramInSeconds) {
    HttpMetrics metrics;
    const auto usage = metrics.add_route("/v1/tenants/{tenant}/usage");
    metrics.add_route("/healthz");          // never requested: no samples
    metrics.observe(usage, 200, 400);       // 0.4 ms
    metrics.observe(usage, 200, 3000);      // 3 ms
    metrics.observe(usage, 429, 20000000);  // 20 s: only +Inf
    metrics.observe(HttpMetrics::kOther, 404, 100);
    metrics.observe(HttpMetrics::kOther, 42, 100);  // out of range: counted as 599
    EXPECT_EQ(metrics.requests(usage, 200), 2U);
    EXPECT_EQ(metrics.requests(HttpMetrics::kOther, 599), 1U);

    std::string text;
    metrics.append_text(text);
    EXPECT_TRUE(contains(text, "# TYPE http_requests_total counter\n")) << text;
    EXPECT_TRUE(contains(
        text, "http_requests_total{route=\"/v1/tenants/{tenant}/usage\",status=\"200\"} 2\n"))
        << text;
    EXPECT_TRUE(contains(
        text, "http_requests_total{route=\"/v1/tenants/{tenant}/usage\",status=\"429\"} 1\n"));
    EXPECT_TRUE(contains(text, "http_requests_total{route=\"other\",status=\"404\"} 1\n"));
    EXPECT_TRUE(contains(text, "http_requests_total{route=\"other\",status=\"599\"} 1\n"));
    EXPECT_FALSE(contains(text, "status=\"500\""));
    EXPECT_FALSE(contains(text, "/healthz"));

    EXPECT_TRUE(contains(text, "# TYPE http_request_duration_seconds histogram\n"));
    const std::string usage_label = "route=\"/v1/tenants/{tenant}/usage\"";
    EXPECT_TRUE(contains(
        text, "http_request_duration_seconds_bucket{" + usage_label + ",le=\"0.0005\"} 1\n"))
        << text;
    EXPECT_TRUE(contains(
        text, "http_request_duration_seconds_bucket{" + usage_label + ",le=\"0.005\"} 2\n"));
    EXPECT_TRUE(
        contains(text, "http_request_duration_seconds_bucket{" + usage_label + ",le=\"10\"} 2\n"));
    EXPECT_TRUE(contains(
        text, "http_request_duration_seconds_bucket{" + usage_label + ",le=\"+Inf\"} 3\n"));
    EXPECT_TRUE(contains(text, "http_request_duration_seconds_sum{" + usage_label + "} 20.0034\n"));
    EXPECT_TRUE(contains(text, "http_request_duration_seconds_count{" + usage_label + "} 3\n"));
    EXPECT_TRUE(contains(text, "http_request_duration_seconds_count{route=\"other\"} 2\n"));
}

TEST(HttpMetrics, LabelValuesAreEscaped) {
    EXPECT_EQ(ul::metric_label("route", "a\"b\\c\nd"), "route=\"a\\\"b\\\\c\\nd\"");
}

TEST(ProcessMetrics, ParsesProcSelfStatAfterTheLastParenthesis) {
    // A command name with a space and a parenthesis; utime 150, stime 50, starttime 12345,
    // rss 2560 pages.
    const std::string stat =
        "4242 (usage (ledger) S 1 4242 4242 0 -1 4194560 5000 0 0 0 150 50 0 0 20 0 9 0 12345 "
        "123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    const auto parsed = ul::parse_proc_stat(stat);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->user_ticks, 150U);
    EXPECT_EQ(parsed->system_ticks, 50U);
    EXPECT_EQ(parsed->start_ticks, 12345U);
    EXPECT_EQ(parsed->rss_pages, 2560U);
    EXPECT_FALSE(ul::parse_proc_stat("4242 usage-ledger S 1").has_value());
    EXPECT_FALSE(ul::parse_proc_stat("4242 (x) S 1 2 3").has_value());

    EXPECT_EQ(ul::parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"),
              std::optional<std::uint64_t>(1700000000));
    EXPECT_FALSE(ul::parse_boot_time("cpu 1 2 3\n").has_value());

    const auto sample = ul::process_sample(*parsed, 1700000000, 100, 4096);
    EXPECT_EQ(sample.resident_memory_bytes, 2560U * 4096U);
    EXPECT_EQ(sample.cpu_us, 2'000'000U);
    EXPECT_EQ(sample.start_time_us, 1700000000ULL * 1'000'000 + 123'450'000);
}

TEST(ProcessMetrics, TextNamesTheStandardProcessFamilies) {
    ul::ProcessSample sample;
    sample.resident_memory_bytes = 10485760;
    sample.cpu_us = 2'500'000;
    sample.start_time_us = 1'700'000'123'450'000;
    sample.open_fds = 17;
    sample.max_fds = 1024;
    std::string text;
    ul::append_process_metrics_text(sample, text);
    EXPECT_TRUE(contains(text, "# TYPE process_resident_memory_bytes gauge\n")) << text;
    EXPECT_TRUE(contains(text, "process_resident_memory_bytes 10485760\n"));
    EXPECT_TRUE(contains(text, "# TYPE process_cpu_seconds_total counter\n"));
    EXPECT_TRUE(contains(text, "process_cpu_seconds_total 2.5\n"));
    EXPECT_TRUE(contains(text, "process_open_fds 17\n"));
    EXPECT_TRUE(contains(text, "process_max_fds 1024\n"));
    EXPECT_TRUE(contains(text, "process_start_time_seconds 1700000123.45\n"));
}

TEST(ProcessMetrics, ReadsThisProcess) {
    const auto sample = ul::read_process_sample();
    ASSERT_TRUE(sample.has_value());
    EXPECT_GT(sample->resident_memory_bytes, 0U);
    EXPECT_GT(sample->open_fds, 2U);  // stdin, stdout, stderr at least
    EXPECT_GT(sample->start_time_us, 1'600'000'000ULL * 1'000'000);
}

}  // namespace
