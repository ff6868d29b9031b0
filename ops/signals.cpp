#include "ops/signals.h"

#include <csignal>
#include <ctime>

namespace ul::ops {
namespace {
sigset_t termination_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}
}  // namespace

void block_termination_signals() {
    const sigset_t set = termination_set();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_termination_signal(std::chrono::milliseconds timeout) {
    const sigset_t set = termination_set();
    timespec wait{};
    wait.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    wait.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000);
    const int taken = sigtimedwait(&set, nullptr, &wait);
    return taken > 0 ? taken : 0;
}

}  // namespace ul::ops
