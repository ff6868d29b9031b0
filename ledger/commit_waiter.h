// Lets a caller wait for the ledger's verdict on one Kafka message (partition, offset) of
// usage.events: HTTP ingest with ?wait=committed. The ledger thread reports every committed
// batch; a waiter registered after its message was committed still gets the verdict (recent
// verdicts are kept, at most `capacity`, oldest dropped). Thread-safe; no I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ledger/ledger_store.h"

namespace ul {

struct CommitVerdict {
    Verdict verdict = Verdict::invalid;
    Reason reason = Reason::malformed_json;  // when invalid
    std::uint32_t partition = 0;             // accepted: the ledger position; duplicate or
    std::uint64_t sequence = 0;              // conflict: the position of the entry that won
    // As MessageOutcome (ledger_store.h): the first verdict of a duplicate's key was
    // rejected_limit; a hard limit applies, with the total after this event, the limit, and
    // the period's end.
    bool first_rejected = false;
    bool limited = false;
    std::int64_t used_micros = 0;
    std::int64_t limit_micros = 0;
    std::int64_t period_end_us = 0;
    bool lease = false;  // as MessageOutcome: a lease operation, and what a release found
    bool lease_released = false;
    bool credits = false;  // as MessageOutcome: a credits operation
    std::int64_t credits_micros = 0;
    std::int64_t credits_balance_micros = 0;
    std::int64_t credits_uncovered_micros = 0;
};

class CommitWaiter {
  public:
    explicit CommitWaiter(std::size_t capacity = 200'000) : capacity_(capacity) {}
    // Calls `done` exactly once with the verdict: at once if already known, else when the batch
    // holding (partition, offset) commits, on the ledger thread. Never blocks.
    void expect(std::uint32_t partition, std::int64_t offset,
                std::function<void(const CommitVerdict&)> done);
    // Forgets a waiter that gave up (e.g. a timeout); false when it already ran.
    bool cancel(std::uint32_t partition, std::int64_t offset);
    // The ledger thread, after each committed batch (messages and outcomes in the same order).
    void committed(std::span<const SourceMessage> batch, std::span<const MessageOutcome> outcomes);

  private:
    using Position = std::pair<std::uint32_t, std::int64_t>;
    std::size_t capacity_;
    std::mutex mutex_;
    std::multimap<Position, std::function<void(const CommitVerdict&)>> waiting_;
    std::map<Position, CommitVerdict> recent_;
    std::deque<Position> order_;
};

}  // namespace ul
