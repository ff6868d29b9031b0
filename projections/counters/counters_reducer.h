// The counters projection as a reducer (projections/runner/reducer.h): each entry adds its
// event's hour, day (UTC) and billing-month cells — the month of the account version in force at
// the event's time — and a breakdown cell per group-by property (cell_deltas.h). State schema:
// families `counters` and `breakdown`, 48-byte cells merged by summing (no read on the write
// path). It decides no effects. Pure; a CountersReducer is immutable and may be shared.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "projections/counters/cell_deltas.h"
#include "projections/runner/reducer.h"

namespace ul {

// A reducer's deltas for the counters: the merged cells of the entries applied since the last
// write, plus tenant → meters for reads. A reducer built on the counters (the alerts,
// projections/alerts/usage_reducer.h) derives its deltas from these, so every read of the
// counters finds them (cell_deltas).
class CounterDeltas : public ReducerDeltas {
  public:
    std::size_t size() const override { return cells.cells(); }
    bool empty() const override { return cells.empty(); }
    void clear() override { cells.clear(); }
    void write(StateWriter& out) const override;
    CellDeltas cells;
};

// The counter cells of `deltas`, which a CountersReducer made.
const CellDeltas& cell_deltas(const ReducerDeltas& deltas);

class CountersReducer final : public Reducer {
  public:
    static constexpr std::size_t kCountersFamily = 0;
    static constexpr std::size_t kBreakdownFamily = 1;
    explicit CountersReducer(GroupBy group_by) : group_by_(std::move(group_by)) {}
    // The state schema: {counters, breakdown}, both merged by summing cells.
    static const std::vector<StateFamily>& schema();

    std::string_view name() const override { return "counters"; }
    const std::vector<StateFamily>& families() const override { return schema(); }
    std::unique_ptr<ReducerDeltas> make_deltas() const override {
        return std::make_unique<CounterDeltas>();
    }
    Result<bool, std::string> reduce(const LedgerEntryRef& entry, const AccountInForce& account,
                                     const StateReader& state, ReducerDeltas& deltas,
                                     std::vector<Effect>& effects) const override;
    const GroupBy& group_by() const { return group_by_; }

  private:
    GroupBy group_by_;
};

}  // namespace ul
