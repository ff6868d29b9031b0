#include "projections/counters/reconcile.h"

#include <algorithm>
#include <limits>

#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Every key of the tenant, both families: tenant '\0' … (cells.h), up to tenant '\1'.
std::string tenant_end(const std::string& tenant) {
    return tenant + '\1';
}

void append_cell_json(std::string& out, const std::optional<Cell>& cell) {
    if (!cell) {
        out += "null";
        return;
    }
    out +=
        "{\"sum\":\"" + cell->sum.to_string() + "\",\"count\":" + std::to_string(cell->count) + "}";
}

}  // namespace

TenantRebuild::TenantRebuild(ReconcileOptions options)
    : options_(std::move(options)),
      reducer_(options_.group_by),
      applier_(reducer_, options_.accounts),
      batch_(reducer_) {}

Result<bool, std::string> TenantRebuild::advance(
    const LedgerStore& ledger, const std::map<std::uint32_t, std::uint64_t>& up_to) {
    // Progress counts every entry read by this rebuild, over all calls: a repair's second call
    // continues the first one's figures.
    ReplayProgress progress;
    progress.entries_done = entries_read_;
    progress.entries_total = entries_read_;
    for (const auto& [partition, end] : up_to) {
        const std::uint64_t from = states_[partition].next_sequence;
        progress.entries_total += end > from ? end - from : 0;
    }
    if (options_.progress) {
        options_.progress(progress);  // the total, at once
    }
    const auto started = std::chrono::steady_clock::now();
    auto last_progress = started;
    std::optional<std::string> failure;
    constexpr std::size_t kChunk = 4096;
    for (const auto& [partition, end] : up_to) {
        ProjectionPartition& state = states_[partition];
        while (state.next_sequence < end) {
            if (options_.cancel != nullptr && options_.cancel->load()) {
                return unexpected(std::string("cancelled"));
            }
            const std::uint64_t from = state.next_sequence;
            auto read =
                ledger.read_entries(partition, from, std::min<std::uint64_t>(kChunk, end - from),
                                    [&](std::uint64_t sequence, std::string_view entry) {
                                        if (failure || sequence != state.next_sequence) {
                                            return;
                                        }
                                        if (auto applied = applier_.apply(entry, partition, state,
                                                                          batch_, options_.tenant);
                                            !applied) {
                                            failure = applied.error();
                                        }
                                    });
            if (!read) {
                return unexpected(read.error());
            }
            if (failure) {
                return unexpected(*failure);
            }
            if (state.next_sequence == from) {
                return unexpected("the ledger store has no entry " + std::to_string(from) +
                                  " of partition " + std::to_string(partition) +
                                  " (it is behind the projection)");
            }
            entries_read_ += state.next_sequence - from;
            progress.entries_done += state.next_sequence - from;
            if (options_.progress && seconds_since(last_progress) * 1000 >=
                                         static_cast<double>(options_.progress_interval.count())) {
                last_progress = std::chrono::steady_clock::now();
                progress.seconds = seconds_since(started);
                options_.progress(progress);
            }
        }
    }
    if (options_.progress) {
        progress.seconds = seconds_since(started);
        options_.progress(progress);  // the end, however fast
    }
    return true;
}

std::vector<std::pair<std::string, Cell>> TenantRebuild::cells(CellFamily family) const {
    const CellMap& map = family == CellFamily::counters ? cell_deltas(*batch_.deltas).counters()
                                                        : cell_deltas(*batch_.deltas).breakdowns();
    std::vector<std::pair<std::string, Cell>> out;
    out.reserve(map.size());
    for (const auto& [key, cell] : map.sorted()) {
        out.emplace_back(std::string(key), *cell);
    }
    return out;
}

std::map<std::uint32_t, std::uint64_t> positions_of(
    const std::map<std::uint32_t, ProjectionPartition>& partitions) {
    std::map<std::uint32_t, std::uint64_t> out;
    for (const auto& [partition, state] : partitions) {
        out[partition] = state.next_sequence;
    }
    return out;
}

Result<ReconcileReport, std::string> compare_tenant(const LedgerStore& ledger,
                                                    const ProjectionStore& live,
                                                    const StoreSnapshot& snapshot,
                                                    TenantRebuild& rebuild) {
    auto partitions = live.partitions_at(snapshot.get());
    if (!partitions) {
        return unexpected(partitions.error());
    }
    ReconcileReport report;
    report.tenant = rebuild.tenant();
    report.positions = positions_of(*partitions);
    if (auto advanced = rebuild.advance(ledger, report.positions); !advanced) {
        return unexpected(advanced.error());
    }
    auto comparison = compare_cells(live, snapshot.get(), counter_prefix(report.tenant),
                                    tenant_end(report.tenant), rebuild.cells(CellFamily::counters),
                                    rebuild.cells(CellFamily::breakdown));
    if (!comparison) {
        return unexpected(comparison.error());
    }
    report.comparison = std::move(comparison).value();
    report.entries_read = rebuild.entries_read();
    report.tenant_entries = rebuild.tenant_entries();
    return report;
}

Result<bool, std::string> repair_tenant(const LedgerStore& ledger, ProjectionStore& live,
                                        TenantRebuild& rebuild, ReconcileReport& report) {
    report.tenant = rebuild.tenant();
    report.positions = positions_of(live.partitions());
    if (auto advanced = rebuild.advance(ledger, report.positions); !advanced) {
        return unexpected(advanced.error());
    }
    // Every difference, not only the reported ones: max_reported is the whole map's size bound.
    const auto counters = rebuild.cells(CellFamily::counters);
    const auto breakdowns = rebuild.cells(CellFamily::breakdown);
    auto comparison =
        compare_cells(live, nullptr, counter_prefix(report.tenant), tenant_end(report.tenant),
                      counters, breakdowns, std::numeric_limits<std::size_t>::max());
    if (!comparison) {
        return unexpected(comparison.error());
    }
    std::vector<CellReplacement> replacements;
    for (const auto& difference : comparison->differences) {
        replacements.push_back({difference.family, difference.key, difference.rebuilt});
    }
    if (!replacements.empty()) {
        if (auto replaced = live.replace_cells(replacements); !replaced) {
            return replaced;
        }
    }
    // The report names what was replaced (as many as a comparison reports).
    constexpr std::size_t kReported = 1000;
    if (comparison->differences.size() > kReported) {
        comparison->differences.resize(kReported);
    }
    report.comparison = std::move(comparison).value();
    report.entries_read = rebuild.entries_read();
    report.tenant_entries = rebuild.tenant_entries();
    report.repaired = true;
    return true;
}

std::string reconcile_json(const ReconcileReport& report) {
    std::string out = "{\"tenant_id\":";
    append_json_string(out, report.tenant);
    out += ",\"entries_read\":" + std::to_string(report.entries_read) +
           ",\"tenant_entries\":" + std::to_string(report.tenant_entries) +
           ",\"cells_compared\":" + std::to_string(report.comparison.cells_compared) +
           ",\"differences\":" + std::to_string(report.comparison.total) + ",\"cells\":[";
    bool first = true;
    for (const auto& difference : report.comparison.differences) {
        out += first ? "{" : ",{";
        first = false;
        out += "\"description\":";
        append_json_string(out, describe(difference));
        if (difference.family == CellFamily::counters) {
            if (auto key = decode_counter_key(difference.key)) {
                out += ",\"family\":\"counters\",\"meter\":";
                append_json_string(out, key->meter);
                out += ",\"window\":\"" + std::string(window_name(key->window)) +
                       "\",\"period_start\":\"" + format_rfc3339(key->period_start_us) + "\"";
            }
        } else if (auto key = decode_breakdown_key(difference.key)) {
            out += ",\"family\":\"breakdown\",\"meter\":";
            append_json_string(out, key->meter);
            out += ",\"day\":\"" + format_rfc3339(key->day_start_us) + "\",\"property\":";
            append_json_string(out, key->property);
            out += ",\"value\":";
            append_json_string(out, key->value);
        }
        out += ",\"live\":";
        append_cell_json(out, difference.live);
        out += ",\"rebuilt\":";
        append_cell_json(out, difference.rebuilt);
        out += "}";
    }
    out += "],\"repaired\":";
    out += report.repaired ? "true" : "false";
    out += ",\"positions\":{";
    first = true;
    for (const auto& [partition, next] : report.positions) {
        out += (first ? "\"" : ",\"") + std::to_string(partition) + "\":" + std::to_string(next);
        first = false;
    }
    out += "}}";
    return out;
}

}  // namespace ul
