// Damage for tests that prove drift is found and repaired: one more count in the first day cell
// of a stopped projection store (of `tenant`, when given), written through RocksDB behind the
// projection's back. Header-only: the support library does not link the projection store.
#pragma once

#include <string>
#include <string_view>

#include "projections/alerts/alerts_reducer.h"
#include "projections/runner/projection_store.h"
#include "schemas/result.h"

namespace ul::test {

// The damaged cell's key bytes.
inline Result<std::string, std::string> damage_day_cell(const std::string& store_path,
                                                        std::string_view tenant = {}) {
    ProjectionStoreOptions options;
    options.families = AlertsReducer::schema();
    options.path = store_path;
    auto store = ProjectionStore::open(options, ProjectionOpenMode::read_write);
    if (!store) {
        return unexpected(store.error());
    }
    std::string key;
    Cell cell;
    auto found = (*store)->for_each_cell(CellFamily::counters, "", "",
                                         [&](std::string_view bytes, const Cell& value) {
                                             auto decoded = decode_counter_key(bytes);
                                             if (decoded && decoded->window == WindowKind::day &&
                                                 (tenant.empty() || decoded->tenant_id == tenant)) {
                                                 key = std::string(bytes);
                                                 cell = value;
                                                 return false;
                                             }
                                             return true;
                                         });
    if (!found || key.empty()) {
        return unexpected(std::string("no day cell to damage"));
    }
    cell.count += 1;
    char bytes[kCellBytes];
    encode_cell(cell, bytes);
    const auto status =
        (*store)->raw_db()->Put(rocksdb::WriteOptions(), (*store)->counters_family(), key,
                                rocksdb::Slice(bytes, sizeof bytes));
    if (!status.ok()) {
        return unexpected(status.ToString());
    }
    return key;
}

}  // namespace ul::test
