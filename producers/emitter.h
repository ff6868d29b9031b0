// The core of `usage-ledger emit`: read lines, validate each by the event contract, report every
// invalid line (number, reason, detail), hand every valid line to a sender, count everything.
// Invalid lines are never sent. Lines are sent as the bytes the user wrote (the ledger
// re-validates and canonicalises), keyed by tenant_id.
// Not thread-safe; one Emitter per run.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "producers/line_reader.h"
#include "schemas/event.h"

namespace ul {

struct EmitSummary {
    std::uint64_t lines = 0;  // every line read, blank ones included
    std::uint64_t blank = 0;  // empty or whitespace-only lines: skipped, neither valid nor invalid
    std::uint64_t valid = 0;
    std::uint64_t invalid = 0;
    std::array<std::uint64_t, kReasonCount> invalid_by_reason{};
    std::uint64_t bytes = 0;
};

// Appends the summary as one JSON object: {"lines","valid","invalid","invalid_by_reason":{…},…}.
// Reasons with a zero count are left out of invalid_by_reason.
void append_summary_json(const EmitSummary& summary, std::string& out);

struct EmitHooks {
    // A valid line; returns false to stop the run (e.g. the sender failed for good).
    std::function<bool(const Line& line, const UsageEvent& event)> on_valid;
    // An invalid line with its reason and one-line detail.
    std::function<void(const Line& line, Reason reason, std::string_view detail)> on_invalid;
    // Called about every `progress_every_lines` lines with the running summary.
    std::function<void(const EmitSummary& summary)> on_progress;
    std::uint64_t progress_every_lines = 1U << 18U;
    // The clock, read once per progress step: validation windows are relative to it.
    std::function<std::int64_t()> now_us;
};

// Runs the reader to its end. Error: an I/O error (text), after which the summary is partial.
Result<EmitSummary, std::string> run_emitter(LineReader& reader, EventValidator& validator,
                                             const EmitHooks& hooks);

}  // namespace ul
