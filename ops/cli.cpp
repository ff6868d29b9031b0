#include "ops/cli.h"

#include <chrono>

#include "consumers/bootstrap.h"
#include "schemas/time.h"

namespace ul::ops {

void add_kafka_options(CLI::App& command, KafkaOptions& options) {
    auto* bootstrap = command.add_option("--bootstrap", options.bootstrap,
                                         "Kafka bootstrap servers, HOST:PORT[,HOST:PORT]");
    auto* file = command.add_option("--bootstrap-file", options.bootstrap_file,
                                    "File holding the bootstrap address (as `broker` writes it)");
    bootstrap->excludes(file);
}

std::string resolve_bootstrap_or_throw(const KafkaOptions& options) {
    auto resolved = ul::kafka::resolve_bootstrap(options.bootstrap, options.bootstrap_file);
    if (!resolved) {
        throw UsageError(resolved.error());
    }
    return std::move(resolved).value();
}

void add_max_event_age_option(CLI::App& command, std::int64_t& max_event_age_us) {
    command
        .add_option_function<std::string>(
            "--max-event-age",
            [&max_event_age_us](const std::string& text) {
                auto parsed = ul::parse_duration(text);
                if (!parsed) {
                    throw CLI::ValidationError("--max-event-age", parsed.error());
                }
                max_event_age_us = *parsed;
            },
            "Late-arrival limit: events older than this are rejected (e.g. 35d, 12h, 90m)")
        ->default_str("35d");
}

std::int64_t system_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace ul::ops
