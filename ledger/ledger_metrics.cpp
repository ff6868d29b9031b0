#include "ledger/ledger_metrics.h"

#include <array>

#include <string_view>

#include "schemas/event.h"

namespace ul {
void LedgerMetrics::publish_counts(const OutcomeCounts& counts, std::uint64_t gap_event_total,
                                   std::uint64_t gap_count, std::uint64_t log_reset_count) {
    accepted.store(counts.accepted, std::memory_order_relaxed);
    duplicate.store(counts.duplicate, std::memory_order_relaxed);
    conflict.store(counts.conflict, std::memory_order_relaxed);
    for (std::size_t reason = 0; reason < kReasonCount; ++reason) {
        dead_lettered_by_reason[reason].store(counts.dead_lettered_by_reason[reason],
                                              std::memory_order_relaxed);
    }
    gap_events.store(gap_event_total, std::memory_order_relaxed);
    gaps.store(gap_count, std::memory_order_relaxed);
    log_resets.store(log_reset_count, std::memory_order_relaxed);
}

void append_ledger_metrics_text(const LedgerMetrics& metrics, std::string& out) {
    const std::uint64_t accepted = metrics.accepted.load(std::memory_order_relaxed);
    const std::uint64_t duplicate = metrics.duplicate.load(std::memory_order_relaxed);
    const std::uint64_t conflict = metrics.conflict.load(std::memory_order_relaxed);
    // Each reason read once: the same values make the total and its parts (two reads of one
    // counter while the ledger publishes could make dead_lettered - rejected_limit wrap).
    std::array<std::uint64_t, kReasonCount> by_reason{};
    std::uint64_t dead_lettered = 0;
    for (std::size_t reason = 0; reason < kReasonCount; ++reason) {
        by_reason[reason] = metrics.dead_lettered_by_reason[reason].load(std::memory_order_relaxed);
        dead_lettered += by_reason[reason];
    }
    // rejected_limit is its own outcome (stored as a dead letter with reason limit_exceeded).
    const std::uint64_t rejected_limit =
        by_reason[static_cast<std::size_t>(Reason::limit_exceeded)];
    append_metric_header(out, "ledger_events_consumed_total", "counter",
                         "Events consumed from usage.events and given exactly one outcome.");
    append_metric_sample(out, "ledger_events_consumed_total", "",
                         accepted + duplicate + conflict + dead_lettered);
    append_metric_header(out, "ledger_events_total", "counter", "Consumed events by outcome.");
    append_metric_sample(out, "ledger_events_total", "outcome=\"accepted\"", accepted);
    append_metric_sample(out, "ledger_events_total", "outcome=\"duplicate\"", duplicate);
    append_metric_sample(out, "ledger_events_total", "outcome=\"conflict\"", conflict);
    append_metric_sample(out, "ledger_events_total", "outcome=\"dead_lettered\"",
                         dead_lettered - rejected_limit);
    append_metric_sample(out, "ledger_events_total", "outcome=\"rejected_limit\"", rejected_limit);
    append_metric_header(out, "ledger_dead_lettered_total", "counter",
                         "Dead-lettered events by reason code.");
    for (std::size_t reason = 0; reason < kReasonCount; ++reason) {
        append_metric_sample(
            out, "ledger_dead_lettered_total",
            "reason=\"" + std::string(reason_code(static_cast<Reason>(reason))) + "\"",
            metrics.dead_lettered_by_reason[reason].load(std::memory_order_relaxed));
    }
    append_metric_header(
        out, "ledger_gap_events_total", "counter",
        "Events lost before the ledger read them (retention, embedded broker truncation).");
    append_metric_sample(out, "ledger_gap_events_total", "",
                         metrics.gap_events.load(std::memory_order_relaxed));
    append_metric_header(out, "ledger_gaps_total", "counter",
                         "Gaps recorded: offsets gone from Kafka before the ledger read them.");
    append_metric_sample(out, "ledger_gaps_total", "",
                         metrics.gaps.load(std::memory_order_relaxed));
    append_metric_header(out, "ledger_log_resets_total", "counter",
                         "Partitions whose log was found reset (a new or emptied broker; up's "
                         "embedded broker on every restart): nothing lost, recorded apart.");
    append_metric_sample(out, "ledger_log_resets_total", "",
                         metrics.log_resets.load(std::memory_order_relaxed));
    append_histogram(out, "ledger_batch_size_events", "Events per applied batch (one WriteBatch).",
                     metrics.batch_size);
    append_histogram(out, "ledger_commit_latency_seconds",
                     "Time to apply and commit one batch (fsync included when durable).",
                     metrics.commit_latency_us, true);
    append_metric_header(out, "ledger_relay_failures_total", "counter",
                         "Outbox relays that did not complete and will be retried.");
    append_metric_sample(out, "ledger_relay_failures_total", "",
                         metrics.relay_failures.load(std::memory_order_relaxed));
    append_metric_header(
        out, "ledger_consumer_lag_events", "gauge",
        "Events in usage.events not yet consumed, over the assigned partitions (-1: unknown).");
    append_metric_sample(out, "ledger_consumer_lag_events", "",
                         metrics.consumer_lag.load(std::memory_order_relaxed));
    append_metric_header(out, "ledger_assigned_partitions", "gauge",
                         "Partitions of usage.events assigned.");
    append_metric_sample(out, "ledger_assigned_partitions", "",
                         metrics.assigned_partitions.load(std::memory_order_relaxed));
    append_metric_header(out, "ledger_disk_free_bytes", "gauge",
                         "Free space on the ledger store's disk at the last check.");
    append_metric_sample(out, "ledger_disk_free_bytes", "",
                         metrics.disk_free_bytes.load(std::memory_order_relaxed));
    append_metric_header(out, "ledger_disk_paused", "gauge",
                         "1 while the ledger stopped consuming because free disk space is below "
                         "--min-free-disk.");
    append_metric_sample(out, "ledger_disk_paused", "",
                         metrics.disk_paused.load(std::memory_order_relaxed));
}

}  // namespace ul
