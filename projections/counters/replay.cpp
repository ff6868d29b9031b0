#include "projections/counters/replay.h"
#include "projections/alerts/alerts_reducer.h"

#include <algorithm>
#include <limits>
#include <map>

#include <filesystem>
#include <memory>

#include "ledger/ledger_store.h"
#include "projections/runner/entry_applier.h"
#include "projections/runner/windows.h"
#include "schemas/account.h"
#include "schemas/time.h"

namespace ul {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string sum_text(const DecimalSum& sum) {
    char out[DecimalSum::kFormatBytes];
    return {out, sum.format(out)};
}

}  // namespace

Result<ReplayReport, std::string> replay(const ReplayOptions& options) {
    std::error_code error;
    if (std::filesystem::exists(options.out_path, error) &&
        !std::filesystem::is_empty(options.out_path, error)) {
        return unexpected(options.out_path + " is not empty: replay writes a fresh store");
    }
    LedgerStoreOptions ledger_options;
    ledger_options.path = options.ledger_path;
    auto ledger = LedgerStore::open(ledger_options, OpenMode::secondary);
    if (!ledger) {
        return unexpected("the ledger store: " + ledger.error());
    }
    const AlertsReducer reducer(options.group_by, options.plans);
    ProjectionStoreOptions store_options;
    store_options.path = options.out_path;
    store_options.families = reducer.families();
    auto store = ProjectionStore::open(store_options, ProjectionOpenMode::read_write);
    if (!store) {
        return unexpected(store.error());
    }
    const AccountHistory history = AccountHistory::of(options.account_versions);
    EntryApplier applier(reducer, history, store->get());

    // What to rebuild: every partition of the ledger, up to its end or `up_to`.
    std::map<std::uint32_t, std::uint64_t> ends;
    ReplayProgress progress;
    for (const auto& [partition, state] : (*ledger)->partitions()) {
        std::uint64_t end = state.next_sequence;
        if (options.up_to) {
            const auto found = options.up_to->find(partition);
            end = found == options.up_to->end() ? 0 : std::min(end, found->second);
        }
        ends[partition] = end;
        progress.entries_total += end;
    }
    ReplayReport report;
    ProjectionBatch batch(reducer);
    for (const auto& [tenant, json] : options.accounts) {
        // The current accounts only: their versions come next.
        batch.accounts.push_back({tenant, json, 0, std::numeric_limits<std::int64_t>::min(), 0,
                                  /*add_version=*/false});
    }
    for (const auto& version : options.account_versions) {
        batch.accounts.push_back({version.tenant, version.json, 0, version.effective_at_us,
                                  version.updated_at_us, true});
    }
    const auto started = std::chrono::steady_clock::now();
    auto last_progress = started;
    std::optional<std::string> failure;
    auto write = [&]() -> Result<bool, std::string> {
        if (auto applied = (*store)->apply(batch); !applied) {
            return applied;
        }
        ++report.writes;
        batch.clear();
        return true;
    };
    for (const auto& [partition, end] : ends) {
        ProjectionPartition state;  // the batch carries a copy to each write (its watermark)
        constexpr std::size_t kChunk = 4096;  // entries per read; the batch bound is in cells
        while (state.next_sequence < end && !failure) {
            if (options.cancel != nullptr && options.cancel->load()) {
                return unexpected(std::string("cancelled"));
            }
            const std::uint64_t from = state.next_sequence;
            auto read = (*ledger)->read_entries(
                partition, from, std::min<std::uint64_t>(kChunk, end - from),
                [&](std::uint64_t sequence, std::string_view entry) {
                    if (failure || sequence != state.next_sequence) {
                        return;
                    }
                    if (auto applied = applier.apply(entry, partition, state, batch); !applied) {
                        failure = applied.error();
                    }
                });
            if (!read) {
                return unexpected(read.error());
            }
            if (state.next_sequence == from && !failure) {
                failure = "the ledger store has no entry " + std::to_string(from) +
                          " of partition " + std::to_string(partition);
            }
            progress.entries_done += state.next_sequence - from;
            if (batch.deltas->size() >= options.max_cells) {
                batch.partitions[partition] = state;
                if (auto written = write(); !written) {
                    return unexpected(written.error());
                }
            }
            if (options.progress && seconds_since(last_progress) * 1000 >=
                                        static_cast<double>(options.progress_interval.count())) {
                last_progress = std::chrono::steady_clock::now();
                progress.seconds = seconds_since(started);
                options.progress(progress);
            }
        }
        if (failure) {
            return unexpected("partition " + std::to_string(partition) + ": " + *failure);
        }
        batch.partitions[partition] = state;
        report.positions[partition] = state.next_sequence;
    }
    if (auto written = write(); !written) {
        return unexpected(written.error());
    }
    if (options.progress) {
        progress.seconds = seconds_since(started);
        options.progress(progress);  // the end, however fast
    }
    report.entries = progress.entries_done;
    report.seconds = seconds_since(started);
    return report;
}

Result<StoreComparison, std::string> compare_cells(const ProjectionStore& live,
                                                   const rocksdb::Snapshot* snapshot,
                                                   std::string_view from, std::string_view to,
                                                   const SortedCells& rebuilt_counters,
                                                   const SortedCells& rebuilt_breakdowns,
                                                   std::size_t max_reported) {
    StoreComparison out;
    auto note = [&](CellFamily family, std::string_view key, std::optional<Cell> live_cell,
                    std::optional<Cell> rebuilt_cell) {
        ++out.total;
        if (out.differences.size() < max_reported) {
            out.differences.push_back(
                CellDifference{family, std::string(key), live_cell, rebuilt_cell});
        }
    };
    for (const CellFamily family : {CellFamily::counters, CellFamily::breakdown}) {
        const SortedCells& rebuilt =
            family == CellFamily::counters ? rebuilt_counters : rebuilt_breakdowns;
        std::size_t next = 0;  // a merge join of two key-ordered sequences
        auto walked = live.for_each_cell(
            family, from, to,
            [&](std::string_view key, const Cell& cell) {
                ++out.cells_compared;
                while (next < rebuilt.size() && rebuilt[next].first < key) {
                    note(family, rebuilt[next].first, std::nullopt, rebuilt[next].second);
                    ++next;
                }
                if (next < rebuilt.size() && rebuilt[next].first == key) {
                    if (!(rebuilt[next].second == cell)) {
                        note(family, key, cell, rebuilt[next].second);
                    }
                    ++next;
                } else {
                    note(family, key, cell, std::nullopt);
                }
                return true;
            },
            snapshot);
        if (!walked) {
            return unexpected(walked.error());
        }
        for (; next < rebuilt.size(); ++next) {
            note(family, rebuilt[next].first, std::nullopt, rebuilt[next].second);
        }
    }
    return out;
}

Result<StoreComparison, std::string> compare_stores(const ProjectionStore& live,
                                                    const ProjectionStore& rebuilt,
                                                    std::size_t max_reported) {
    auto cells = read_all_cells(rebuilt);
    if (!cells) {
        return unexpected(cells.error());
    }
    auto comparison = compare_cells(live, nullptr, "", "", (*cells)[0], (*cells)[1], max_reported);
    if (!comparison) {
        return comparison;
    }
    // The other state families, row by row (a merge join of two sorted maps).
    const std::size_t families = std::min(live.state_families(), rebuilt.state_families());
    for (std::size_t family = 2; family < families; ++family) {
        std::map<std::string, std::string> rows[2];
        for (int side = 0; side < 2; ++side) {
            auto read = (side == 0 ? live : rebuilt)
                            .for_each_state(family, "", "",
                                            [&](std::string_view key, std::string_view value) {
                                                rows[side].emplace(key, value);
                                                return true;
                                            });
            if (!read) {
                return unexpected(read.error());
            }
        }
        auto report = [&](const std::string& key, const char* what) {
            ++comparison->total;
            if (comparison->row_differences.size() < max_reported) {
                std::string printable;
                for (const char c : key) {
                    printable += c >= 0x20 && c < 0x7f ? std::string(1, c) : std::string("\\0");
                }
                comparison->row_differences.push_back("state family " + std::to_string(family) +
                                                      ", key " + printable + ": " + what);
            }
        };
        for (const auto& [key, value] : rows[0]) {
            ++comparison->rows_compared;
            const auto other = rows[1].find(key);
            if (other == rows[1].end()) {
                report(key, "only the live store has it");
            } else if (other->second != value) {
                report(key, "differs");
            }
        }
        for (const auto& [key, value] : rows[1]) {
            if (rows[0].count(key) == 0) {
                ++comparison->rows_compared;
                report(key, "only the rebuilt store has it");
            }
        }
    }
    return comparison;
}

Result<std::array<SortedCells, 2>, std::string> read_all_cells(const ProjectionStore& store) {
    // Into memory: reading a bounded piece at a time would be leaner.
    std::array<SortedCells, 2> cells;
    for (const CellFamily family : {CellFamily::counters, CellFamily::breakdown}) {
        auto read =
            store.for_each_cell(family, "", "", [&](std::string_view key, const Cell& cell) {
                cells[static_cast<std::size_t>(family)].emplace_back(std::string(key), cell);
                return true;
            });
        if (!read) {
            return unexpected(read.error());
        }
    }
    return cells;
}

std::string describe(const CellDifference& difference) {
    auto value = [](const std::optional<Cell>& cell) {
        return cell ? "sum " + sum_text(cell->sum) + " count " + std::to_string(cell->count)
                    : std::string("absent");
    };
    std::string where;
    if (difference.family == CellFamily::counters) {
        auto key = decode_counter_key(difference.key);
        if (!key) {
            return "a damaged counter key: " + key.error();
        }
        where = "tenant " + std::string(key->tenant_id) + ", meter " + std::string(key->meter) +
                ", window " + std::string(window_name(key->window)) + ", start " +
                format_rfc3339(key->period_start_us);
    } else {
        auto key = decode_breakdown_key(difference.key);
        if (!key) {
            return "a damaged breakdown key: " + key.error();
        }
        where = "tenant " + std::string(key->tenant_id) + ", meter " + std::string(key->meter) +
                ", day " + format_rfc3339(key->day_start_us) + ", " + std::string(key->property) +
                "=" + std::string(key->value);
    }
    return where + ": live " + value(difference.live) + ", rebuilt " + value(difference.rebuilt);
}

}  // namespace ul
