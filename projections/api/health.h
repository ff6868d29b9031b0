// ComponentHealth: which parts of a process have stopped, and why. A part that fails (the
// ledger's or the projection's consumer thread, in `up`) reports here at once; /readyz answers
// 503 naming it, and ingest refuses events while the ledger is down.
// Threading: thread-safe (a mutex); reports come from the failing threads, reads from HTTP
// threads and the main loop.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ul {

class ComponentHealth {
  public:
    struct Failure {
        std::string component;
        std::string error;
    };

    void report_failure(std::string component, std::string error) {
        std::lock_guard lock(mutex_);
        failures_.push_back(Failure{std::move(component), std::move(error)});
    }
    std::vector<Failure> failures() const {
        std::lock_guard lock(mutex_);
        return failures_;
    }
    // The error of `component`, when it failed.
    std::optional<std::string> failure_of(std::string_view component) const {
        std::lock_guard lock(mutex_);
        for (const Failure& failure : failures_) {
            if (failure.component == component) {
                return failure.error;
            }
        }
        return std::nullopt;
    }

  private:
    mutable std::mutex mutex_;
    std::vector<Failure> failures_;
};

}  // namespace ul
