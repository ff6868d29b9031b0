#include "projections/runner/projection_metrics.h"

#include <utility>

namespace ul {

void append_projection_metrics_text(const ProjectionMetrics& metrics, std::string& out) {
    append_metric_header(out, "projection_entries_applied_total", "counter",
                         "Ledger entries applied to the counters projection.");
    append_metric_sample(out, "projection_entries_applied_total", "", metrics.applied.load());
    append_metric_header(out, "projection_entries_repeated_total", "counter",
                         "Ledger entries seen again (below the watermark) and skipped.");
    append_metric_sample(out, "projection_entries_repeated_total", "", metrics.repeats.load());
    append_metric_header(out, "projection_stalled_partitions", "gauge",
                         "Ledger partitions stopped at a gap in usage.ledger (never skipped).");
    append_metric_sample(out, "projection_stalled_partitions", "",
                         metrics.stalled_partitions.load());
    append_metric_header(out, "projection_lag_entries", "gauge",
                         "usage.ledger messages not yet read (-1: unknown).");
    append_metric_sample(out, "projection_lag_entries", "", metrics.lag.load());
    append_metric_header(out, "projection_assigned_partitions", "gauge",
                         "Partitions of usage.ledger assigned.");
    append_metric_sample(out, "projection_assigned_partitions", "",
                         metrics.assigned_partitions.load());
    append_metric_header(out, "projection_ledger_lag_entries", "gauge",
                         "Entries committed in the ledger store and not applied yet (-1: the "
                         "ledger store is not readable from this process).");
    append_metric_sample(out, "projection_ledger_lag_entries", "", metrics.ledger_lag.load());
    append_metric_header(out, "projection_disk_paused", "gauge",
                         "1 while the projection stopped consuming because free disk space is "
                         "below --min-free-disk.");
    append_metric_sample(out, "projection_disk_paused", "", metrics.disk_paused.load());
    append_metric_header(out, "projection_accounts", "gauge", "Accounts known.");
    append_metric_sample(out, "projection_accounts", "", metrics.accounts.load());
    append_metric_header(out, "projection_bad_accounts_total", "counter",
                         "Messages of usage.accounts that were not valid accounts (skipped).");
    append_metric_sample(out, "projection_bad_accounts_total", "", metrics.bad_accounts.load());
    append_metric_header(out, "projection_account_records_rejected_total", "counter",
                         "Records of usage.accounts not applied: unsigned, bad_signature, stale "
                         "(not newer than the account held), key_collision.");
    const std::pair<const char*, const std::atomic<std::uint64_t>*> rejected[] = {
        {"reason=\"unsigned\"", &metrics.accounts_rejected_unsigned},
        {"reason=\"bad_signature\"", &metrics.accounts_rejected_bad_signature},
        {"reason=\"stale\"", &metrics.accounts_rejected_stale},
        {"reason=\"key_collision\"", &metrics.accounts_rejected_key_collision},
    };
    for (const auto& [labels, count] : rejected) {
        append_metric_sample(out, "projection_account_records_rejected_total", labels,
                             count->load());
    }
    append_histogram(out, "projection_batch_size_entries",
                     "Ledger entries per write to the projection store.", metrics.batch_size);
    append_histogram(out, "projection_apply_latency_seconds",
                     "Time of one write to the projection store.", metrics.apply_latency_us, true);
}

}  // namespace ul
