// spdlog set-up for every command: text for people, `--log-format json` (one object per line)
// for machines. Logs go to stderr; stdout is kept for a command's result (summaries, JSON).
#pragma once

#include <string>

namespace ul::ops {

struct LogOptions {
    std::string format = "text";  // text | json
    std::string level = "info";   // trace | debug | info | warn | error | off
};

void configure_logging(const LogOptions& options);

// RFC 8259 string escaping for the JSON we print ourselves (summaries, json logs).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace ul::ops
