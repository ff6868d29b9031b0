// Example: record one usage event from a service with the producer client library.
//   record_usage --bootstrap 127.0.0.1:9092 --tenant acme --meter tokens --quantity 1500
//                [--subject user-42] [--key req-7f3a] [--property model=gpt-x ...]
// Prints the delivery report; exit 1 when the event was refused or not delivered, 2 on bad usage.
#include <cstdio>
#include <string>

#include "producers/usage_producer.h"

namespace {

constexpr const char* kUsage =
    "usage: record_usage --bootstrap HOST:PORT --tenant T --meter M --quantity Q\n"
    "                    [--subject S] [--key IDEMPOTENCY_KEY] [--property NAME=VALUE]...\n";

bool parse(int argc, char** argv, std::string& bootstrap, ul::UsageRecord& record) {
    for (int index = 1; index < argc; index += 2) {
        const std::string flag = argv[index];
        if (index + 1 >= argc) {
            std::fprintf(stderr, "record_usage: %s needs a value\n", flag.c_str());
            return false;
        }
        const std::string value = argv[index + 1];
        if (flag == "--bootstrap") {
            bootstrap = value;
        } else if (flag == "--tenant") {
            record.tenant_id = value;
        } else if (flag == "--meter") {
            record.meter = value;
        } else if (flag == "--quantity") {
            record.quantity = value;
        } else if (flag == "--subject") {
            record.subject = value;
        } else if (flag == "--key") {
            record.idempotency_key = value;
        } else if (flag == "--property" && value.find('=') != std::string::npos) {
            const auto equals = value.find('=');
            record.string_properties.emplace_back(value.substr(0, equals),
                                                  value.substr(equals + 1));
        } else {
            std::fprintf(stderr, "record_usage: unknown flag or bad value: %s %s\n", flag.c_str(),
                         value.c_str());
            return false;
        }
    }
    if (bootstrap.empty()) {
        std::fprintf(stderr, "record_usage: --bootstrap is required\n");
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string bootstrap;
    ul::UsageRecord record;
    if (!parse(argc, argv, bootstrap, record)) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    // Before the producer: its destructor may still run the callback, which writes these.
    ul::DeliveryReport report;
    bool reported = false;
    ul::ProducerOptions options;
    options.bootstrap = bootstrap;
    options.delivery_timeout_ms = 10'000;
    options.connect_timeout_ms = 5'000;
    auto created = ul::UsageProducer::create(options);
    if (!created) {
        std::fprintf(stderr, "record_usage: %s\n", created.error().c_str());
        return 1;
    }
    auto& producer = *created;
    auto reachable = producer->wait_for_cluster();  // fail fast, and catch a missing topic
    if (!reachable) {
        std::fprintf(stderr, "record_usage: %s\n", reachable.error().c_str());
        return 1;
    }
    // Validates by the event contract, makes a UUIDv7 idempotency key when none is given, queues.
    auto key = producer->record(record, [&](const ul::DeliveryReport& delivered) {
        report = delivered;
        reported = true;
    });
    if (!key) {
        std::fprintf(stderr, "record_usage: refused: %s\n", key.error().detail.c_str());
        return 1;
    }
    // flush serves the callback; message.timeout.ms (10 s) bounds it, the margin covers the rest.
    (void)producer->flush(options.delivery_timeout_ms + 5'000);
    if (!reported || !report.ok) {
        std::fprintf(stderr, "record_usage: not recorded (idempotency key %s): %s\n", key->c_str(),
                     reported ? report.error.c_str() : "no delivery report in time");
        return 1;
    }
    std::printf("recorded: idempotency_key %s partition %d offset %lld\n", key->c_str(),
                report.partition, static_cast<long long>(report.offset));
    return 0;
}
