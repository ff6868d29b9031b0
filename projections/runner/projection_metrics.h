// The counters projection's metrics: written by the consuming thread, read from any thread
// (/metrics, /readyz, progress lines). Pure; rendered in the Prometheus text format.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "ledger/ledger_metrics.h"

namespace ul {

struct ProjectionMetrics {
    std::atomic<std::uint64_t> applied{0};  // persisted totals
    std::atomic<std::uint64_t> repeats{0};
    std::atomic<std::uint64_t> stalled_partitions{0};
    std::atomic<std::uint64_t> accounts{0};
    std::atomic<std::uint64_t> bad_accounts{0};  // account messages that did not parse
    // Account records (and tombstones) not applied, by reason (the signed control plane).
    std::atomic<std::uint64_t> accounts_rejected_unsigned{0};
    std::atomic<std::uint64_t> accounts_rejected_bad_signature{0};
    std::atomic<std::uint64_t> accounts_rejected_stale{0};          // at or before the version held
    std::atomic<std::uint64_t> accounts_rejected_key_collision{0};  // key held by another tenant
    Histogram<8> batch_size{{{1, 10, 50, 100, 500, 1000, 5000, 10000}}};
    Histogram<10> apply_latency_us{
        {{250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000}}};
    std::atomic<std::int64_t> lag{-1};  // usage.ledger messages not yet read; -1: unknown
    std::atomic<std::uint64_t> assigned_partitions{0};
    std::atomic<bool> accounts_loaded{false};  // usage.accounts read to its end once
    // Committed ledger entries not applied yet, from the ledger store; -1: no ledger store here.
    std::atomic<std::int64_t> ledger_lag{-1};
    // False until the entries committed before this start were applied from the ledger store.
    std::atomic<bool> caught_up{false};
    std::atomic<std::uint64_t> disk_paused{0};
};

// Names prefixed `projection_`.
void append_projection_metrics_text(const ProjectionMetrics& metrics, std::string& out);

}  // namespace ul
