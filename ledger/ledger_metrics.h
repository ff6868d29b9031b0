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
#include "schemas/prometheus_text.h"

namespace ul {

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

}  // namespace ul
