#include "projections/counters/counters_reducer.h"

namespace ul {
namespace {

// Cells are sums; a value that does not decode or a sum past 128 bits cannot be merged.
bool merge_cells(const std::string_view* existing, std::string_view delta, std::string& out) {
    auto add = decode_cell(delta);
    if (!add) {
        return false;
    }
    Cell cell;
    if (existing != nullptr) {
        auto old = decode_cell(*existing);
        if (!old) {
            return false;
        }
        cell = *old;
    }
    if (!merge_cell(cell, *add)) {
        return false;
    }
    out.resize(kCellBytes);
    encode_cell(cell, out.data());
    return true;
}

}  // namespace

const std::vector<StateFamily>& CountersReducer::schema() {
    static const std::vector<StateFamily> families = {{"counters", merge_cells},
                                                      {"breakdown", merge_cells}};
    return families;
}

void CounterDeltas::write(StateWriter& out) const {
    char value[kCellBytes];
    auto write_sorted = [&](std::size_t family, const CellMap& map) {
        for (const auto& [key, cell] : map.sorted()) {
            encode_cell(*cell, value);
            out.merge(family, key, std::string_view(value, kCellBytes));
        }
    };
    write_sorted(CountersReducer::kCountersFamily, cells.counters());
    write_sorted(CountersReducer::kBreakdownFamily, cells.breakdowns());
}

const CellDeltas& cell_deltas(const ReducerDeltas& deltas) {
    return static_cast<const CounterDeltas&>(deltas).cells;
}

Result<bool, std::string> CountersReducer::reduce(const LedgerEntryRef& entry,
                                                  const AccountInForce& account,
                                                  const StateReader& /*state*/,
                                                  ReducerDeltas& deltas,
                                                  std::vector<Effect>& /*effects*/) const {
    if (!static_cast<CounterDeltas&>(deltas).cells.add_event(entry.event, account.calendar,
                                                             group_by_)) {
        return unexpected(std::string("a counter would overflow"));
    }
    return true;
}

}  // namespace ul
