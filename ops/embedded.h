// Pieces shared by the commands that run the embedded system (broker, up).
#pragma once

#include <memory>
#include <string>

#include "consumers/embedded_broker.h"

namespace ul::ops {

// Writes `bootstrap` to `path` atomically (temp file + rename), creating parent directories.
void write_bootstrap_file(const std::string& path, const std::string& bootstrap);
// The embedded broker with the default topics, each with `partitions` partitions; throws on
// failure.
std::unique_ptr<kafka::EmbeddedBroker> start_embedded_broker(int partitions);

}  // namespace ul::ops
