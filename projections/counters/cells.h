// The counters projection's data, pure: cells per (tenant, meter, window, period) and per
// (tenant, meter, day, property, value), their byte encodings (RocksDB keys sort as DESIGN's
// export order: tenant, meter, period), how one ledger event becomes cell deltas, and how deltas
// merge. No I/O; the store (projection_store.h) wraps RocksDB around it.
//
// Key of a counter cell:   tenant '\0' meter '\0' window(1 byte) period_start(8 bytes)
// Key of a breakdown cell: tenant '\0' meter '\0' day_start(8) property '\0' value
// period_start is µs since the epoch, big-endian with the sign bit flipped (so keys sort by
// time, before 1970 too). Tenant ids and meters cannot contain '\0' (schemas/README.md), so the
// separators keep the byte order of the keys equal to the order of (tenant, meter, …).
// Value of both (48 bytes, little-endian): sum (int128 micro-units), count (u64), max quantity
// (int64 micro-units), first and last event time (int64 µs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "projections/runner/reducer.h"  // classify_sequence
#include "projections/runner/windows.h"
#include "schemas/decimal.h"
#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

struct Cell {
    DecimalSum sum;
    std::uint64_t count = 0;
    Decimal max;
    std::int64_t first_us = 0;  // event time of the earliest event in the cell
    std::int64_t last_us = 0;   // event time of the latest

    friend bool operator==(const Cell&, const Cell&) = default;
};

inline constexpr std::size_t kCellBytes = 48;

Cell cell_of(Decimal quantity, std::int64_t timestamp_us);
// Adds `from` into `into` (sum, count; max, first, last by comparison). False on overflow of
// the sum or the count (into is then unchanged): 2^127 micro-units, never in practice.
[[nodiscard]] bool merge_cell(Cell& into, const Cell& from);

void encode_cell(const Cell& cell, char* out);  // writes kCellBytes
Result<Cell, std::string> decode_cell(std::string_view bytes);

struct CounterKey {
    std::string_view tenant_id;
    std::string_view meter;
    WindowKind window = WindowKind::hour;
    std::int64_t period_start_us = 0;
};
void append_counter_key(const CounterKey& key, std::string& out);
Result<CounterKey, std::string> decode_counter_key(std::string_view bytes);  // views into bytes
// The prefix of every counter key of (tenant) or (tenant, meter) or (tenant, meter, window).
std::string counter_prefix(std::string_view tenant_id);
std::string counter_prefix(std::string_view tenant_id, std::string_view meter);
std::string counter_prefix(std::string_view tenant_id, std::string_view meter, WindowKind window);

struct BreakdownKey {
    std::string_view tenant_id;
    std::string_view meter;
    std::int64_t day_start_us = 0;
    std::string_view property;
    std::string_view value;
};
void append_breakdown_key(const BreakdownKey& key, std::string& out);
Result<BreakdownKey, std::string> decode_breakdown_key(std::string_view bytes);
std::string breakdown_prefix(std::string_view tenant_id, std::string_view meter,
                             std::int64_t day_start_us);

// Properties to break usage down by, per meter (plans file `group_by`).
using GroupBy = std::vector<std::pair<std::string, std::vector<std::string>>>;

}  // namespace ul
