// `usage-ledger dlq list`: the dead letters of usage.events.dlq for people (consumers/
// dead_letters.h): one JSON line per letter, then a last line {"next_cursor","more"} to read on.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "consumers/dead_letters.h"
#include "ops/cli.h"

namespace ul::ops {
namespace {

struct DlqArgs {
    KafkaOptions kafka;
    std::string topic = "usage.events.dlq";
    std::string reason;
    std::string tenant;
    std::size_t limit = 100;
    std::string cursor;
    int timeout_s = 30;
};

int run_dlq_list(const DlqArgs& args) {
    const std::string bootstrap = resolve_bootstrap_or_throw(args.kafka);
    const auto settings = kafka_settings_or_throw(args.kafka);
    auto cursor = decode_dead_letter_cursor(args.cursor);
    if (!cursor) {
        throw UsageError("--cursor: " + cursor.error());
    }
    DeadLetterQuery query{args.reason, args.tenant, args.limit, *cursor};
    auto page = read_dead_letters(bootstrap, settings, args.topic, query,
                                  std::chrono::seconds(args.timeout_s));
    if (!page) {
        spdlog::error("dlq list: {}", page.error());
        return kExitFailure;
    }
    for (const auto& letter : page->letters) {
        std::printf("%s\n", dead_letter_json(letter).c_str());
    }
    std::printf("{\"next_cursor\":\"%s\",\"more\":%s}\n",
                encode_dead_letter_cursor(page->next).c_str(), page->more ? "true" : "false");
    return kExitOk;
}

}  // namespace

void add_dlq_command(CLI::App& app, CommandRunner& run) {
    auto* dlq = app.add_subcommand("dlq", "Inspect the dead letters (usage.events.dlq)");
    dlq->require_subcommand(1);
    auto args = std::make_shared<DlqArgs>();
    auto* list = dlq->add_subcommand(
        "list",
        "Print dead letters as JSON lines, oldest first per partition: {\"partition\",\"offset\",\n"
        "\"published_at\",\"error\" (the reason "
        "code),\"detail\",\"source\":{\"partition\",\"offset\"}\n"
        "(where the message was in usage.events),\"tenant_id\",\"key\",\"value\" (the original "
        "bytes;\n"
        "\"value_base64\" when they are not UTF-8)}, then {\"next_cursor\",\"more\"}: pass\n"
        "--cursor NEXT_CURSOR to read on. Reads with its own consumer, commits nothing.");
    add_kafka_options(*list, args->kafka);
    list->add_option("--reason", args->reason, "Only this reason code (e.g. bad_quantity)");
    list->add_option("--tenant", args->tenant, "Only this tenant's dead letters");
    list->add_option("--limit", args->limit, "At most this many letters")
        ->check(CLI::Range(1, 100'000))
        ->capture_default_str();
    list->add_option("--cursor", args->cursor, "Continue after a previous page (its next_cursor)");
    list->add_option("--topic", args->topic, "Dead-letter topic")->capture_default_str();
    list->add_option("--timeout", args->timeout_s, "Seconds to wait for Kafka")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    list->callback([args, &run] { run = [args] { return run_dlq_list(*args); }; });
}

}  // namespace ul::ops
