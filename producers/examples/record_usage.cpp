// Example: record one usage event from a service with the producer client library.
//   record_usage --bootstrap 127.0.0.1:9092 --tenant acme --meter tokens --quantity 1500
// Prints the delivery report; exit 1 when the event was refused or not delivered.
#include <cstdio>
#include <cstring>
#include <string>

#include "producers/usage_producer.h"

int main(int argc, char** argv) {
    std::string bootstrap;
    ul::UsageRecord record;
    for (int index = 1; index + 1 < argc; index += 2) {
        const std::string flag = argv[index];
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
        } else {
            std::fprintf(stderr, "record_usage: unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    ul::ProducerOptions options;
    options.bootstrap = bootstrap;
    options.delivery_timeout_ms = 10'000;
    auto producer = ul::UsageProducer::create(options);
    if (!producer) {
        std::fprintf(stderr, "record_usage: %s\n", producer.error().c_str());
        return 1;
    }
    auto delivery = (*producer)->record(record);  // validates, makes a UUIDv7 key, queues
    (void)(*producer)->flush(15000);              // serves the delivery callback
    const ul::DeliveryReport report = delivery.get();
    if (!report.ok) {
        std::fprintf(stderr, "record_usage: not recorded: %s\n", report.error.c_str());
        return 1;
    }
    std::printf("recorded: partition %d offset %lld\n", report.partition,
                static_cast<long long>(report.offset));
    return 0;
}
