// The ledger consumer's metrics: written by the consuming thread after each batch, read from any
// thread (the HTTP /metrics handler, progress logs). Every field is an atomic, so a reader never
// races the writer; a reader may see one batch's figures half-updated, never a torn value.
// Pure: no I/O. `append_ledger_metrics_text` renders the Prometheus text exposition format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ledger/admission.h"

namespace ul {

// A fixed-bucket histogram of non-negative integers (Prometheus semantics: bucket i counts
// observations <= bounds[i]; the last, implicit bucket is +Inf).
template <std::size_t N>
class Histogram {
  public:
    explicit constexpr Histogram(std::array<std::uint64_t, N> bounds) : bounds_(bounds) {}

    void observe(std::uint64_t value) {
        std::size_t bucket = 0;
        while (bucket < N && value > bounds_[bucket]) {
            ++bucket;
        }
        buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
        sum_.fetch_add(value, std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
    }
    std::span<const std::uint64_t, N> bounds() const { return bounds_; }
    std::uint64_t bucket(std::size_t index) const {
        return buckets_[index].load(std::memory_order_relaxed);
    }
    std::uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }
    std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

  private:
    std::array<std::uint64_t, N> bounds_;
    std::array<std::atomic<std::uint64_t>, N + 1> buckets_{};
    std::atomic<std::uint64_t> sum_{0};
    std::atomic<std::uint64_t> count_{0};
};

struct LedgerMetrics {
    // Outcome totals, as persisted in the store (they survive restarts).
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> duplicate{0};
    std::atomic<std::uint64_t> conflict{0};
    std::array<std::atomic<std::uint64_t>, kReasonCount> dead_lettered_by_reason{};
    std::atomic<std::uint64_t> gap_events{0};  // events lost to gaps (retention, truncation)
    std::atomic<std::uint64_t> gaps{0};        // real gaps: offsets gone before they were read
    std::atomic<std::uint64_t> log_resets{0};  // a broker's log found reset (nothing lost)
    // Since this process started.
    Histogram<8> batch_size{{{1, 10, 50, 100, 500, 1000, 5000, 10000}}};
    Histogram<10> commit_latency_us{
        {{250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000}}};
    std::atomic<std::uint64_t> relay_failures{0};
    // Events in Kafka not yet consumed, summed over the assigned partitions (high watermark
    // minus next offset, from the consumer's cached watermarks); -1 until known.
    std::atomic<std::int64_t> consumer_lag{-1};
    std::atomic<std::uint64_t> assigned_partitions{0};
    // Free space on the store's disk at the last check; 1 while writing is paused below
    // --min-free-disk.
    std::atomic<std::uint64_t> disk_free_bytes{0};
    std::atomic<std::uint64_t> disk_paused{0};

    // Copies persisted totals (after a batch, on the consuming thread).
    void publish_counts(const OutcomeCounts& counts, std::uint64_t gap_event_total,
                        std::uint64_t gap_count, std::uint64_t log_reset_count);
};

// Appends the metrics in Prometheus text format (HELP, TYPE, samples; names prefixed `ledger_`).
void append_ledger_metrics_text(const LedgerMetrics& metrics, std::string& out);

// Prometheus text exposition helpers, for every metrics family of the program.
void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help);
void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::uint64_t value);
void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::int64_t value);
// Observations in µs may be rendered in seconds (Prometheus base units): bucket bounds and the
// sum as exact decimals ("0.00025").
std::string micros_as_seconds(std::uint64_t micros);
template <std::size_t N>
void append_histogram(std::string& out, std::string_view name, std::string_view help,
                      const Histogram<N>& histogram, bool micros_to_seconds = false) {
    append_metric_header(out, name, "histogram", help);
    const std::string bucket_name = std::string(name) + "_bucket";
    auto bound = [&](std::uint64_t value) {
        return micros_to_seconds ? micros_as_seconds(value) : std::to_string(value);
    };
    std::uint64_t cumulative = 0;
    for (std::size_t index = 0; index < N; ++index) {
        cumulative += histogram.bucket(index);
        append_metric_sample(out, bucket_name, "le=\"" + bound(histogram.bounds()[index]) + "\"",
                             cumulative);
    }
    cumulative += histogram.bucket(N);
    append_metric_sample(out, bucket_name, "le=\"+Inf\"", cumulative);
    out.append(name).append("_sum ").append(bound(histogram.sum())).append("\n");
    // The count is the +Inf bucket, so the exposition is consistent even mid-update.
    append_metric_sample(out, std::string(name) + "_count", "", cumulative);
}

}  // namespace ul
