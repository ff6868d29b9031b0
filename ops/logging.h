// spdlog set-up for every command: text for people, `--log-format json` (one object per line)
// for machines. Logs go to stderr; stdout is kept for a command's result (summaries, JSON).
#pragma once

#include <string>

#include "schemas/canonical.h"  // append_json_escaped, for the JSON we print

namespace ul::ops {

struct LogOptions {
    std::string format = "text";  // text | json
    std::string level = "info";   // trace | debug | info | warn | error | off
};

void configure_logging(const LogOptions& options);

}  // namespace ul::ops
