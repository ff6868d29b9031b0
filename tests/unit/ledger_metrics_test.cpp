#include "ledger/ledger_metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using ul::Histogram;
using ul::LedgerMetrics;

TEST(LedgerMetrics, HistogramBucketsAreUpperInclusive) {
    Histogram<3> histogram(std::array<std::uint64_t, 3>{10, 100, 1000});
    for (const std::uint64_t value : {0, 10, 11, 100, 999, 1000, 1001, 5000}) {
        histogram.observe(value);
    }
    EXPECT_EQ(histogram.bucket(0), 2U);  // 0, 10
    EXPECT_EQ(histogram.bucket(1), 2U);  // 11, 100
    EXPECT_EQ(histogram.bucket(2), 2U);  // 999, 1000
    EXPECT_EQ(histogram.bucket(3), 2U);  // +Inf: 1001, 5000
    EXPECT_EQ(histogram.count(), 8U);
    EXPECT_EQ(histogram.sum(), 0U + 10 + 11 + 100 + 999 + 1000 + 1001 + 5000);
}

TEST(LedgerMetrics, PrometheusTextHasCumulativeBucketsAndEveryOutcome) {
    LedgerMetrics metrics;
    ul::OutcomeCounts counts;
    counts.accepted = 7;
    counts.duplicate = 2;
    counts.conflict = 1;
    counts.dead_lettered = 3;
    counts.dead_lettered_by_reason[static_cast<std::size_t>(ul::Reason::malformed_json)] = 3;
    metrics.publish_counts(counts, 42, 1, 3);
    metrics.batch_size.observe(1);
    metrics.batch_size.observe(50);
    metrics.batch_size.observe(20000);
    metrics.consumer_lag.store(5);
    std::string text;
    ul::append_ledger_metrics_text(metrics, text);

    EXPECT_NE(text.find("ledger_events_consumed_total 13\n"), std::string::npos) << text;
    EXPECT_NE(text.find("ledger_events_total{outcome=\"accepted\"} 7\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_events_total{outcome=\"dead_lettered\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_dead_lettered_total{reason=\"malformed_json\"} 3\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("ledger_gap_events_total 42\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_gaps_total 1\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_log_resets_total 3\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_batch_size_events_bucket{le=\"1\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_batch_size_events_bucket{le=\"50\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_batch_size_events_bucket{le=\"10000\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_batch_size_events_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_batch_size_events_count 3\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_batch_size_events_sum 20051\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_consumer_lag_events 5\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE ledger_commit_latency_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("ledger_commit_latency_seconds_bucket{le=\"0.00025\"} 0\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(ul::micros_as_seconds(1'500'000), "1.5");
    EXPECT_EQ(ul::micros_as_seconds(250), "0.00025");
    EXPECT_EQ(ul::micros_as_seconds(0), "0");
    // Every sample line belongs to a family declared before it.
    std::string declared;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        if (line.rfind("# TYPE ", 0) == 0) {
            declared = line.substr(7, line.find(' ', 7) - 7);
        } else if (line[0] != '#') {
            EXPECT_EQ(line.rfind(declared, 0), 0U) << line << " outside " << declared;
        }
    }
}

}  // namespace
