#include "producers/emitter.h"

#include <string>

#include "schemas/check.h"

namespace ul {
namespace {

bool is_blank(std::string_view text) {
    for (const char c : text) {
        if (c != ' ' && c != '\t' && c != '\r') {
            return false;
        }
    }
    return true;
}

}  // namespace

void append_summary_json(const EmitSummary& summary, std::string& out) {
    out += "{\"lines\":" + std::to_string(summary.lines);
    out += ",\"valid\":" + std::to_string(summary.valid);
    out += ",\"invalid\":" + std::to_string(summary.invalid);
    out += ",\"invalid_by_reason\":{";
    bool first = true;
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        if (summary.invalid_by_reason[index] == 0) {
            continue;
        }
        if (!first) {
            out += ',';
        }
        first = false;
        out += '"';
        out += reason_code(static_cast<Reason>(index));
        out += "\":" + std::to_string(summary.invalid_by_reason[index]);
    }
    out += "},\"blank\":" + std::to_string(summary.blank);
    out += ",\"bytes\":" + std::to_string(summary.bytes);
    out += '}';
}

Result<EmitSummary, std::string> run_emitter(LineReader& reader, EventValidator& validator,
                                             const EmitHooks& hooks) {
    UL_CHECK(hooks.now_us, "run_emitter needs a clock");
    EmitSummary summary;
    std::int64_t now_us = hooks.now_us();
    Line line;
    while (true) {
        auto more = reader.next(line);
        if (!more) {
            return unexpected(more.error());
        }
        if (!*more) {
            break;
        }
        ++summary.lines;
        summary.bytes += line.length + 1;
        if (summary.lines % hooks.progress_every_lines == 0) {
            now_us = hooks.now_us();
            if (hooks.on_progress) {
                hooks.on_progress(summary);
            }
        }
        if (line.too_long) {
            ++summary.invalid;
            ++summary.invalid_by_reason[static_cast<std::size_t>(Reason::too_large)];
            if (hooks.on_invalid) {
                hooks.on_invalid(line, Reason::too_large,
                                 "message is " + std::to_string(line.length) + " bytes (at most " +
                                     std::to_string(kMaxEventBytes) + ")");
            }
            continue;
        }
        if (is_blank(line.text)) {
            ++summary.blank;
            continue;
        }
        auto validated = validator.validate(line.text, line.readable, now_us);
        if (!validated) {
            ++summary.invalid;
            ++summary.invalid_by_reason[static_cast<std::size_t>(validated.error().reason)];
            if (hooks.on_invalid) {
                hooks.on_invalid(line, validated.error().reason, validated.error().detail);
            }
            continue;
        }
        ++summary.valid;
        if (hooks.on_valid && !hooks.on_valid(line, *validated)) {
            break;
        }
    }
    UL_CHECK(summary.lines == summary.valid + summary.invalid + summary.blank,
             "every line is valid, invalid or blank");
    return summary;
}

}  // namespace ul
