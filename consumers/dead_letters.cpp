#include "consumers/dead_letters.h"

#include <openssl/evp.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <thread>
#include <tuple>

#include "schemas/canonical.h"
#include "schemas/text.h"
#include "schemas/time.h"

namespace ul {
namespace {

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(bytes.data()),
                                        static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(std::max(written, 0)));
    return out;
}

DeadLetterRecord record_of(const rd_kafka_message_t& message) {
    DeadLetterRecord letter;
    letter.partition = message.partition;
    letter.offset = message.offset;
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    letter.timestamp_ms = rd_kafka_message_timestamp(&message, &type);
    auto header = [&](std::string_view name) {
        const auto value = kafka::header_of(message, name);
        return value ? std::string(*value) : std::string();
    };
    letter.error = header("error");
    letter.detail = header("detail");
    parse_integer(header("source-partition"), letter.source_partition);
    parse_integer(header("source-offset"), letter.source_offset);
    if (message.key != nullptr) {
        letter.key.assign(static_cast<const char*>(message.key), message.key_len);
    }
    letter.value_null = message.payload == nullptr || header("null-value") == "true";
    if (message.payload != nullptr) {
        letter.value.assign(static_cast<const char*>(message.payload), message.len);
    }
    return letter;
}

}  // namespace

std::string encode_dead_letter_cursor(const DeadLetterCursor& cursor) {
    std::string out;
    for (const auto& [partition, offset] : cursor) {
        out += (out.empty() ? "" : "_") + std::to_string(partition) + "." + std::to_string(offset);
    }
    return out;
}

Result<DeadLetterCursor, std::string> decode_dead_letter_cursor(std::string_view text) {
    DeadLetterCursor cursor;
    if (!text.empty() && text.back() == '_') {
        return unexpected(std::string("not a dead-letter cursor: it ends with '_'"));
    }
    while (!text.empty()) {
        const auto end = std::min(text.find('_'), text.size());
        const std::string_view pair = text.substr(0, end);
        text.remove_prefix(std::min(text.size(), end + 1));
        const auto dot = pair.find('.');
        std::int32_t partition = 0;
        std::int64_t offset = 0;
        if (dot == std::string_view::npos || !parse_integer(pair.substr(0, dot), partition) ||
            !parse_integer(pair.substr(dot + 1), offset) || partition < 0 || offset < 0 ||
            !cursor.emplace(partition, offset).second) {
            return unexpected("not a dead-letter cursor (partition.offset pairs joined by _): '" +
                              std::string(pair) + "'");
        }
    }
    return cursor;
}

std::string dead_letter_tenant(const DeadLetterRecord& letter) {
    if (!letter.value_null && letter.value.size() <= 1'000'000) {
        simdjson::ondemand::parser parser;
        const simdjson::padded_string padded(letter.value);
        simdjson::ondemand::document document;
        simdjson::ondemand::object object;
        std::string_view tenant;
        if (parser.iterate(padded).get(document) == simdjson::SUCCESS &&
            document.get_object().get(object) == simdjson::SUCCESS &&
            object.find_field_unordered("tenant_id").get_string().get(tenant) ==
                simdjson::SUCCESS) {
            return std::string(tenant);
        }
    }
    return letter.key;
}

bool dead_letter_matches(const DeadLetterRecord& letter, const DeadLetterQuery& query) {
    return (query.reason.empty() || letter.error == query.reason) &&
           (query.tenant.empty() || dead_letter_tenant(letter) == query.tenant);
}

std::string dead_letter_json(const DeadLetterRecord& letter) {
    std::string out = "{\"partition\":" + std::to_string(letter.partition) +
                      ",\"offset\":" + std::to_string(letter.offset) + ",\"published_at\":";
    out += letter.timestamp_ms > 0 ? "\"" + format_rfc3339(letter.timestamp_ms * 1000) + "\""
                                   : std::string("null");
    out += ",\"error\":";
    append_json_string(out, letter.error);
    out += ",\"detail\":";
    append_json_string(out, letter.detail);
    out += ",\"source\":{\"partition\":" + std::to_string(letter.source_partition) +
           ",\"offset\":" + std::to_string(letter.source_offset) + "},\"tenant_id\":";
    append_json_string(out, dead_letter_tenant(letter));
    out += ",\"key\":";
    append_json_string(out, letter.key);
    if (letter.value_null) {
        out += ",\"value\":null";
    } else if (simdjson::validate_utf8(letter.value.data(), letter.value.size())) {
        out += ",\"value\":";
        append_json_string(out, letter.value);
    } else {
        out += ",\"value_base64\":\"" + base64(letter.value) + "\"";
    }
    out += "}";
    return out;
}

Result<DeadLetterPage, std::string> read_dead_letters(const std::string& bootstrap,
                                                      const kafka::Properties& settings,
                                                      const std::string& topic,
                                                      const DeadLetterQuery& query,
                                                      std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto config = kafka::make_config(kafka::with_settings(
        {{"bootstrap.servers", bootstrap},
         {"group.id", "usage-ledger-dlq-reader"},  // required by librdkafka; nothing is committed
         {"enable.auto.commit", "false"},
         {"enable.partition.eof", "true"}},
        settings));
    if (!config) {
        return unexpected(config.error());
    }
    auto handle = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(config).value());
    if (!handle) {
        return unexpected(handle.error());
    }
    rd_kafka_t* consumer = handle->get();
    const int timeout_ms = static_cast<int>(timeout.count());
    auto metadata = kafka::wait_for_cluster(consumer, bootstrap, timeout_ms);
    if (!metadata) {
        return unexpected(metadata.error());
    }
    const int partitions = kafka::partition_count(**metadata, topic);
    if (partitions == 0) {
        return unexpected("the topic " + topic + " does not exist at " + bootstrap);
    }
    DeadLetterPage page;
    std::map<std::int32_t, std::int64_t> end;  // partition → its end when the page started
    kafka::PartitionList assignment(rd_kafka_topic_partition_list_new(partitions));
    for (std::int32_t partition = 0; partition < partitions; ++partition) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        const auto error = rd_kafka_query_watermark_offsets(consumer, topic.c_str(), partition,
                                                            &low, &high, timeout_ms);
        if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return unexpected("cannot read the offsets of " + topic + " partition " +
                              std::to_string(partition) + ": " + rd_kafka_err2str(error));
        }
        const auto named = query.cursor.find(partition);
        const std::int64_t start = std::max(low, named == query.cursor.end() ? low : named->second);
        page.next[partition] = start;
        if (start < high) {
            end[partition] = high;
            rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), partition)->offset =
                start;
        }
    }
    if (const auto error = rd_kafka_assign(consumer, assignment.get());
        error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected("cannot read " + topic + ": " + rd_kafka_err2str(error));
    }
    while (!end.empty() && page.letters.size() < query.limit) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return unexpected("reading " + topic + " did not finish within " +
                              kafka::format_seconds(timeout_ms));
        }
        kafka::Message message(rd_kafka_consumer_poll(consumer, 100));
        if (!message) {
            continue;
        }
        const std::int32_t partition = message->partition;
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            end.erase(partition);
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return unexpected("reading " + topic + ": " + rd_kafka_message_errstr(message.get()));
        }
        const auto until = end.find(partition);
        if (until == end.end() || message->offset < page.next[partition]) {
            continue;  // past the page's end, or before the cursor
        }
        page.next[partition] = message->offset + 1;
        if (message->offset + 1 >= until->second) {
            end.erase(until);
        }
        DeadLetterRecord letter = record_of(*message);
        if (dead_letter_matches(letter, query)) {
            page.letters.push_back(std::move(letter));
        }
    }
    rd_kafka_assign(consumer, nullptr);  // unassign before the handle closes
    page.more = !end.empty();
    std::sort(page.letters.begin(), page.letters.end(),
              [](const DeadLetterRecord& left, const DeadLetterRecord& right) {
                  return std::tie(left.partition, left.offset) <
                         std::tie(right.partition, right.offset);
              });
    return page;
}

}  // namespace ul
