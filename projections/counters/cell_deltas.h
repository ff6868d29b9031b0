// CellDeltas: what ledger entries not yet written to the projection store add to its cells —
// each event's hour, day and billing-month cells and its group-by breakdown cells, merged in
// memory (cell_map.h) so one write holds each key once, however many entries touched it.
// Pure, single-threaded.
#pragma once

#include <map>
#include <set>
#include <string>

#include "projections/counters/cell_map.h"
#include "projections/counters/cells.h"
#include "projections/runner/windows.h"
#include "schemas/event.h"

namespace ul {

class CellDeltas {
  public:
    // The cells of one accepted event: hour, day (UTC), billing month (calendar), and a
    // breakdown cell per group-by property present on the event. False on overflow.
    [[nodiscard]] bool add_event(const UsageEvent& event, const BillingCalendar& calendar,
                                 const GroupBy& group_by);
    const CellMap& counters() const { return counters_; }
    const CellMap& breakdowns() const { return breakdowns_; }
    // The meters each tenant has deltas for (a tenant's month cell is new exactly once per
    // meter and month, so this costs nothing per entry).
    const std::map<std::string, std::set<std::string>, std::less<>>& meters() const {
        return meters_;
    }
    std::size_t cells() const { return counters_.size() + breakdowns_.size(); }
    bool empty() const { return counters_.empty() && breakdowns_.empty(); }
    void clear();

  private:
    CellMap counters_;
    CellMap breakdowns_;
    std::map<std::string, std::set<std::string>, std::less<>> meters_;
    std::string keys_[3];  // scratch: one event's hour, day and month keys
};

}  // namespace ul
