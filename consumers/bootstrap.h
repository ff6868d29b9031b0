// Where the Kafka cluster is: --bootstrap HOST:PORT or --bootstrap-file F (as `broker` writes).
#pragma once

#include <string>

#include "schemas/result.h"

namespace ul::kafka {

// Exactly one of the two must be given; the file is read and trimmed. The error is one line
// naming the problem (and the path).
Result<std::string, std::string> resolve_bootstrap(const std::string& bootstrap,
                                                   const std::string& bootstrap_file);

}  // namespace ul::kafka
