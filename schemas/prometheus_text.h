// The Prometheus text exposition format (version 0.0.4), for every metrics family of the program
// (ledger, projection, alerts, billing, HTTP, process), and the fixed-bucket histogram they use.
// Pure: no I/O. Histogram is thread-safe (atomics; a reader may see an observation half-counted,
// never a torn value); the append functions write to the caller's string.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

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

void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help);
// `labels` is the text between the braces (`route="/healthz",status="200"`), or empty.
void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::uint64_t value);
void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::int64_t value);
// A value already rendered as text (an exact decimal such as micros_as_seconds' answer).
void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::string_view value);
// `name="value"` with the value escaped as the format requires (backslash, quote, newline).
std::string metric_label(std::string_view name, std::string_view value);
// Observations in µs may be rendered in seconds (Prometheus base units): bucket bounds and the
// sum as exact decimals ("0.00025").
std::string micros_as_seconds(std::uint64_t micros);

// The samples of one histogram series (`_bucket` per bound and +Inf, `_sum`, `_count`), each
// with `labels` (may be empty) before `le`; no HELP/TYPE lines.
template <std::size_t N>
void append_histogram_samples(std::string& out, std::string_view name, std::string_view labels,
                              const Histogram<N>& histogram, bool micros_to_seconds = false) {
    const std::string bucket_name = std::string(name) + "_bucket";
    const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
    auto bound = [&](std::uint64_t value) {
        return micros_to_seconds ? micros_as_seconds(value) : std::to_string(value);
    };
    std::uint64_t cumulative = 0;
    for (std::size_t index = 0; index < N; ++index) {
        cumulative += histogram.bucket(index);
        append_metric_sample(out, bucket_name,
                             prefix + "le=\"" + bound(histogram.bounds()[index]) + "\"",
                             cumulative);
    }
    cumulative += histogram.bucket(N);
    append_metric_sample(out, bucket_name, prefix + "le=\"+Inf\"", cumulative);
    append_metric_sample(out, std::string(name) + "_sum", labels,
                         std::string_view(bound(histogram.sum())));
    // The count is the +Inf bucket, so the exposition is consistent even mid-update.
    append_metric_sample(out, std::string(name) + "_count", labels, cumulative);
}

// One unlabelled histogram family: HELP, TYPE and its samples.
template <std::size_t N>
void append_histogram(std::string& out, std::string_view name, std::string_view help,
                      const Histogram<N>& histogram, bool micros_to_seconds = false) {
    append_metric_header(out, name, "histogram", help);
    append_histogram_samples(out, name, "", histogram, micros_to_seconds);
}

}  // namespace ul
