#include "projections/runner/entry_applier.h"

#include <limits>

#include "schemas/canonical.h"

namespace ul {
namespace {

ValidationOptions entry_validation() {
    // Entries were validated by the ledger on arrival; here they are only parsed. No arrival
    // window: a replay years later reads the same events.
    ValidationOptions options;
    options.max_event_age_us = std::numeric_limits<std::int64_t>::max();
    options.max_future_us = std::numeric_limits<std::int64_t>::max();
    return options;
}

}  // namespace

EntryApplier::EntryApplier(const Reducer& reducer, AccountsAt accounts, const StateReader* state)
    : reducer_(reducer),
      accounts_(std::move(accounts)),
      state_(state != nullptr ? state : &empty_),
      validator_(entry_validation()) {}

EntryApplier::EntryApplier(const Reducer& reducer, const AccountHistory& history,
                           const StateReader* state)
    : EntryApplier(
          reducer,
          [&history](std::string_view tenant, std::int64_t time_us) {
              return history.at(tenant, time_us);
          },
          state) {}

Result<bool, std::string> EntryApplier::apply(std::string_view encoded, std::uint32_t partition,
                                              ProjectionPartition& state, ProjectionBatch& batch,
                                              std::string_view only_tenant) {
    auto decoded = decode_ledger_entry_header(encoded, /*read_prev_hash=*/false);
    if (!decoded) {
        return unexpected("ledger partition " + std::to_string(partition) +
                          ": an entry that does not decode: " + decoded.error());
    }
    const std::uint64_t sequence = decoded->header.sequence;
    if (!only_tenant.empty() && canonical_tenant_id(decoded->event_json) != only_tenant) {
        state.next_sequence = sequence + 1;
        return true;
    }
    // The canonical form is read back directly (a forward scan); anything else — never written
    // by this ledger — goes through the full validator.
    const UsageEvent* event = &event_;
    if (!decode_canonical_event(decoded->event_json, event_, unescaped_)) {
        auto validated = validator_.validate(decoded->event_json, 0);
        if (!validated) {
            return unexpected("ledger partition " + std::to_string(partition) + " sequence " +
                              std::to_string(sequence) +
                              ": an event that does not parse: " + validated.error().detail);
        }
        event_ = *validated;
    }
    const LedgerEntryRef entry{partition, sequence, *event};
    auto reduced = reducer_.reduce(entry, accounts_(event->tenant_id, event->timestamp_us), *state_,
                                   *batch.deltas, batch.effects);
    if (!reduced) {
        return unexpected("ledger partition " + std::to_string(partition) + " sequence " +
                          std::to_string(sequence) + ": " + std::string(reducer_.name()) + ": " +
                          reduced.error());
    }
    state.next_sequence = sequence + 1;
    ++batch.applied;
    return true;
}

}  // namespace ul
