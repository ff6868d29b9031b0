// Termination signals for long-running commands (broker, up, ledger). Call
// block_termination_signals() before any thread starts, so every thread inherits the blocked
// mask and SIGINT/SIGTERM are only ever taken by wait_for_termination_signal().
#pragma once

#include <chrono>

namespace ul::ops {

void block_termination_signals();
// The signal taken (SIGINT or SIGTERM), or 0 when `timeout` passed without one.
int wait_for_termination_signal(std::chrono::milliseconds timeout);

}  // namespace ul::ops
