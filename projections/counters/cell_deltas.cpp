#include "projections/counters/cell_deltas.h"

#include <algorithm>

namespace ul {

bool CellDeltas::add_event(const UsageEvent& event, const BillingCalendar& calendar,
                           const GroupBy& group_by) {
    const Cell cell = cell_of(event.quantity, event.timestamp_us);
    constexpr WindowKind kWindows[] = {WindowKind::hour, WindowKind::day, WindowKind::month};
    std::uint64_t hashes[3];
    for (std::size_t index = 0; index < 3; ++index) {
        keys_[index].clear();
        append_counter_key(
            CounterKey{event.tenant_id, event.meter, kWindows[index],
                       period_of(kWindows[index], calendar, event.timestamp_us).start_us},
            keys_[index]);
        hashes[index] = CellMap::hash(keys_[index]);
        counters_.prefetch(hashes[index]);
    }
    for (std::size_t index = 0; index < 3; ++index) {
        bool inserted = false;
        if (!counters_.add(keys_[index], hashes[index], cell, &inserted)) {
            return false;
        }
        if (inserted && kWindows[index] == WindowKind::month) {
            auto tenant = meters_.find(event.tenant_id);
            if (tenant == meters_.end()) {
                tenant =
                    meters_.emplace(std::string(event.tenant_id), std::set<std::string>{}).first;
            }
            tenant->second.emplace(event.meter);
        }
    }
    const auto meter = std::find_if(group_by.begin(), group_by.end(),
                                    [&](const auto& entry) { return entry.first == event.meter; });
    if (meter == group_by.end()) {
        return true;
    }
    const std::int64_t day_start = day_period(event.timestamp_us).start_us;
    for (const std::string& property : meter->second) {
        for (std::size_t index = 0; index < event.property_count; ++index) {
            if (event.properties[index].key != property) {
                continue;
            }
            keys_[0].clear();
            append_breakdown_key(BreakdownKey{event.tenant_id, event.meter, day_start, property,
                                              event.properties[index].value},
                                 keys_[0]);
            if (!breakdowns_.add(keys_[0], cell)) {
                return false;
            }
        }
    }
    return true;
}

void CellDeltas::clear() {
    counters_.clear();
    breakdowns_.clear();
    meters_.clear();
}

}  // namespace ul
