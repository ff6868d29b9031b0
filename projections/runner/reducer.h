// A projection is a pure reducer plus a state schema. The runner (runner.h) feeds it ledger
// entries in sequence order per partition — from usage.ledger live, or from the ledger store in
// replay, heal and reconcile — with the account version in force at each entry's event time
// (account_history.h); the reducer adds the entry's state deltas to its ReducerDeltas and appends
// the effects it decides (an alert to deliver, a Stripe report to make). It does no I/O: it links
// no RocksDB, librdkafka or Asio, reads no clock, and sends nothing. The runner writes the deltas
// (ReducerDeltas::write through a StateWriter), the effects (as outbox rows) and the partition
// watermarks in one RocksDB WriteBatch; separate workers perform the effects from the outbox.
// So a crash at any moment either keeps an entry's state, effects and watermark or none of them,
// and a repeat of an entry (below the watermark) decides nothing again.
// Determinism: reduce() is a function of the entry and the account version only, so the same
// ledger replays to byte-identical state and the same effects (same ids).
// Threading: a Reducer is immutable and may be shared; a ReducerDeltas belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "projections/runner/windows.h"
#include "schemas/account.h"
#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

// Ledger sequences are dense per partition: the next one is applied, a lower one is a repeat, a
// higher one means entries are missing (the partition stops; never skipped).
enum class SequenceVerdict : std::uint8_t {
    apply,
    repeat,
    jump,
};
constexpr SequenceVerdict classify_sequence(std::uint64_t next, std::uint64_t sequence) {
    return sequence == next  ? SequenceVerdict::apply
           : sequence < next ? SequenceVerdict::repeat
                             : SequenceVerdict::jump;
}

// One ledger entry as a reducer sees it: where it sits and its (accepted) event.
struct LedgerEntryRef {
    std::uint32_t partition = 0;
    std::uint64_t sequence = 0;
    const UsageEvent& event;
};

// The account version in force at the entry's event time; `account` is null when the tenant has
// none (then `calendar` is calendar months in UTC).
struct AccountInForce {
    const Account* account = nullptr;
    const BillingCalendar& calendar;
};

// An effect a reducer decided. Performed later, from the outbox, by a worker — never by the
// reducer. `id` is a function of the entries (for example "alert:acme:tokens:2026-12:80"), so a
// replay decides the same ids and a worker can tell the receiver which ones it already has.
struct Effect {
    std::string kind;     // e.g. "alert", "stripe_report"
    std::string id;       // unique among this projection's effects
    std::string payload;  // what the worker needs (JSON)
    friend bool operator==(const Effect&, const Effect&) = default;
};

// What a reducer may read of its state as written so far (the store the runner writes to; the
// deltas not yet written are the reducer's own, in its ReducerDeltas). A reducer that reads stays
// pure: its decision is a function of the state the ledger prefix before the entry produced, so
// live, replay and heal decide alike whatever the flush boundaries. `family` indexes
// Reducer::families().
class StateReader {
  public:
    virtual ~StateReader() = default;
    // The written value of `key`, nullopt when there is none; an error when the store fails.
    virtual Result<std::optional<std::string>, std::string> get(std::size_t family,
                                                                std::string_view key) const = 0;
};
// A state with nothing written (a reducer that reads nothing, a bench).
class EmptyStateReader final : public StateReader {
  public:
    Result<std::optional<std::string>, std::string> get(std::size_t /*family*/,
                                                        std::string_view /*key*/) const override {
        return std::optional<std::string>();
    }
};

// Where a reducer's deltas go: the runner's WriteBatch. `family` indexes Reducer::families().
class StateWriter {
  public:
    virtual ~StateWriter() = default;
    virtual void merge(std::size_t family, std::string_view key, std::string_view delta) = 0;
    virtual void put(std::size_t family, std::string_view key, std::string_view value) = 0;
    virtual void erase(std::size_t family, std::string_view key) = 0;
};

// A family of a reducer's state schema (one RocksDB column family). With `merge`, deltas are
// merged into the stored value without a read on the write path: `existing` (null: none) plus
// `delta` into `out`; false when they cannot be merged (damage, overflow), which the store
// reports as corruption instead of keeping a wrong value.
struct StateFamily {
    using Merge = bool (*)(const std::string_view* existing, std::string_view delta,
                           std::string& out);
    std::string name;
    Merge merge = nullptr;
};

// What applied entries add to a reducer's state and is not written yet.
class ReducerDeltas {
  public:
    virtual ~ReducerDeltas() = default;
    virtual std::size_t size() const = 0;  // cells or rows held: the flush policy's memory bound
    virtual bool empty() const = 0;
    virtual void clear() = 0;
    // Every delta, per family in key order (RocksDB's memtable then inserts each from the
    // previous one's place).
    virtual void write(StateWriter& out) const = 0;
};

class Reducer {
  public:
    virtual ~Reducer() = default;
    virtual std::string_view name() const = 0;
    virtual const std::vector<StateFamily>& families() const = 0;
    virtual std::unique_ptr<ReducerDeltas> make_deltas() const = 0;
    // Pure. Adds the entry's deltas to `deltas` (made by make_deltas) and appends its effects;
    // `state` is what was written before `deltas` began (the caller writes deltas nowhere else).
    // An error (an overflow) stops the entry's partition there (the watermark stays before the
    // entry). The counters reducer may have added some of the entry's cells before it found
    // the overflow: those deltas stay pending, as before the runner existed.
    virtual Result<bool, std::string> reduce(const LedgerEntryRef& entry,
                                             const AccountInForce& account,
                                             const StateReader& state, ReducerDeltas& deltas,
                                             std::vector<Effect>& effects) const = 0;
};

}  // namespace ul
