// Applies one encoded ledger entry to a batch of the counters projection: decodes the entry,
// parses its canonical event (no arrival window: entries were validated when they arrived),
// adds its cells (with the tenant's billing calendar) and advances the partition's next
// sequence. Used by the consumer (projection_service.h) and by `bench projection`.
// Not thread-safe (one per consuming thread).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "projections/projection_store.h"
#include "schemas/event.h"

namespace ul {

class EntryApplier {
  public:
    // `calendar_of` gives a tenant's billing calendar (called once per entry).
    EntryApplier(GroupBy group_by,
                 std::function<const BillingCalendar&(std::string_view tenant)> calendar_of);
    // The entry must be the next of `state` (the caller classified it); on success
    // state.next_sequence moves past it. An error text names the entry. With `only_tenant`, an
    // entry of another tenant is passed over (the sequence moves, nothing else): the cells of one
    // tenant, for reconcile.
    Result<bool, std::string> apply(std::string_view encoded, std::uint32_t partition,
                                    ProjectionPartition& state, ProjectionBatch& batch,
                                    std::string_view only_tenant = {});

  private:
    GroupBy group_by_;
    std::function<const BillingCalendar&(std::string_view)> calendar_of_;
    EventValidator validator_;
};

}  // namespace ul
