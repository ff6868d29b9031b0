#include "ledger/commit_waiter.h"

namespace ul {

void CommitWaiter::expect(std::uint32_t partition, std::int64_t offset,
                          std::function<void(const CommitVerdict&)> done) {
    CommitVerdict verdict;
    {
        std::lock_guard lock(mutex_);
        const auto found = recent_.find({partition, offset});
        if (found == recent_.end()) {
            waiting_.emplace(Position{partition, offset}, std::move(done));
            return;
        }
        verdict = found->second;
    }
    done(verdict);
}

bool CommitWaiter::cancel(std::uint32_t partition, std::int64_t offset) {
    std::lock_guard lock(mutex_);
    return waiting_.erase({partition, offset}) > 0;
}

void CommitWaiter::committed(std::span<const SourceMessage> batch,
                             std::span<const MessageOutcome> outcomes) {
    std::vector<std::pair<std::function<void(const CommitVerdict&)>, CommitVerdict>> ready;
    {
        std::lock_guard lock(mutex_);
        for (std::size_t index = 0; index < batch.size() && index < outcomes.size(); ++index) {
            const MessageOutcome& outcome = outcomes[index];
            if (outcome.redelivery) {
                continue;  // decided before; its verdict was reported then
            }
            const Position position{batch[index].partition, batch[index].offset};
            const CommitVerdict verdict{outcome.decision.verdict,
                                        outcome.decision.reason,
                                        outcome.partition,
                                        outcome.sequence,
                                        outcome.first_rejected,
                                        outcome.limited,
                                        outcome.used_micros,
                                        outcome.limit_micros,
                                        outcome.period_end_us,
                                        outcome.lease,
                                        outcome.lease_released,
                                        outcome.credits,
                                        outcome.credits_micros,
                                        outcome.credits_balance_micros,
                                        outcome.credits_uncovered_micros};
            if (recent_.emplace(position, verdict).second) {
                order_.push_back(position);
                if (order_.size() > capacity_) {
                    recent_.erase(order_.front());
                    order_.pop_front();
                }
            }
            auto [first, last] = waiting_.equal_range(position);
            for (auto it = first; it != last; ++it) {
                ready.emplace_back(std::move(it->second), verdict);
            }
            waiting_.erase(first, last);
        }
    }
    for (auto& [done, verdict] : ready) {
        done(verdict);
    }
}

}  // namespace ul
