// Applies one encoded ledger entry to a projection's batch: decodes the entry, reads its
// canonical event back (schemas/canonical.h decode_canonical_event; the full validator, with no
// arrival window, only for anything not in canonical form), finds the
// account version in force at the event's time and hands both to the reducer, whose deltas and
// effects go into the batch; then advances the partition's next sequence. The one code path of
// every source: the live runner (usage.ledger), heal and catch-up (the ledger store), replay,
// reconcile and `bench projection`.
// Not thread-safe (one per consuming thread).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "projections/runner/account_history.h"
#include "projections/runner/projection_store.h"
#include "projections/runner/reducer.h"
#include "schemas/event.h"

namespace ul {

class EntryApplier {
  public:
    // `accounts` gives the account version in force for a tenant at an event time (called once
    // per entry); `state` is the store the batches are written to (reducer.h StateReader; null:
    // nothing written yet, ever). The reducer, what `accounts` refers to and `state` outlive the
    // applier.
    using AccountsAt = std::function<AccountInForce(std::string_view tenant, std::int64_t time_us)>;
    EntryApplier(const Reducer& reducer, AccountsAt accounts, const StateReader* state = nullptr);
    // The same, from a history the caller keeps.
    EntryApplier(const Reducer& reducer, const AccountHistory& history,
                 const StateReader* state = nullptr);
    // The store is known only once opened (the runner).
    void set_state(const StateReader* state) { state_ = state != nullptr ? state : &empty_; }
    // The entry must be the next of `state` (the caller classified it); on success
    // state.next_sequence moves past it. An error text names the entry. With `only_tenant`, an
    // entry of another tenant is passed over (the sequence moves, nothing else): the cells of one
    // tenant, for reconcile.
    Result<bool, std::string> apply(std::string_view encoded, std::uint32_t partition,
                                    ProjectionPartition& state, ProjectionBatch& batch,
                                    std::string_view only_tenant = {});

  private:
    const Reducer& reducer_;
    AccountsAt accounts_;
    EmptyStateReader empty_;
    const StateReader* state_;
    EventValidator validator_;
    UsageEvent event_;       // the entry being applied (views into it and unescaped_)
    std::string unescaped_;  // decode_canonical_event's scratch
};

}  // namespace ul
