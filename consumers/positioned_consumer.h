// PositionedConsumer: the one Kafka consumer loop's edge that the ledger and every projection
// share. Positions live in the service's RocksDB store, never in Kafka: auto-commit and offset
// store are off, `auto.offset.reset=error` makes a lost range an error the service sees (a gap,
// never skipped silently), and every (re)assignment — a rebalance, `assign_all`, or a re-assign
// after an offset error — starts each partition where the service's hooks say.
// Threading: one consuming thread; the hooks run on it (inside poll() for a rebalance).
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "consumers/kafka.h"
#include "schemas/result.h"

namespace ul::kafka {

struct TopicPartition {
    std::string topic;
    std::int32_t partition = 0;
};

struct PositionedConsumerOptions {
    std::string bootstrap;
    std::string group;
    std::string client_id;
    std::vector<std::string> topics;
    // Read every partition of `topics` without a group session (one consumer owns them all).
    bool assign_all = false;
    bool partition_eof = false;  // deliver end-of-partition events
    Properties settings;         // connection settings (SASL, TLS): parse_connection_settings
};

struct ConsumerHooks {
    // Before any (re)assignment or revocation: write what was applied (the stored positions are
    // about to be read, or the partitions may go to another consumer).
    std::function<void()> before_rebalance;
    // Before the start offsets of an assignment are asked for (may be empty: no-op): e.g. the
    // ledger rebuilds moved partitions from its changelog here.
    std::function<void(const std::vector<TopicPartition>&)> before_assign;
    // Where a newly assigned partition starts (an offset, or RD_KAFKA_OFFSET_BEGINNING).
    std::function<std::int64_t(const TopicPartition&)> start_offset;
    // After the assignment took effect (all partitions now assigned) or was revoked (empty).
    std::function<void(const std::vector<TopicPartition>&)> assigned;
};

class PositionedConsumer {
  public:
    static Result<std::unique_ptr<PositionedConsumer>, std::string> create(
        PositionedConsumerOptions options, ConsumerHooks hooks);
    ~PositionedConsumer();
    PositionedConsumer(const PositionedConsumer&) = delete;
    PositionedConsumer& operator=(const PositionedConsumer&) = delete;

    // Subscribes to the topics, or with assign_all assigns every partition (waiting up to 30 s for
    // the cluster). Error when a topic does not exist (assign_all) or the subscription fails.
    Result<bool, std::string> join();
    // Re-assigns the current assignment from the hooks' start offsets, `seek` overriding one
    // partition's (a seek does not restart a partition stopped by an offset error).
    Result<bool, std::string> reassign(
        std::optional<std::pair<TopicPartition, std::int64_t>> seek = std::nullopt);
    // The partition's log start and end as the broker says now (a round trip, 10 s at most).
    Result<std::pair<std::int64_t, std::int64_t>, std::string> log_bounds(
        const TopicPartition& partition) const;
    // The log start and end known from fetch responses (no round trip); nullopt when not known
    // yet.
    std::optional<std::pair<std::int64_t, std::int64_t>> cached_log_bounds(
        const TopicPartition& partition) const;
    void pause(const TopicPartition& partition);
    void resume(const TopicPartition& partition);
    Message poll(int timeout_ms);  // null on timeout
    // The message reports that its stored position is gone from the log (or beyond its end).
    static bool is_offset_error(const rd_kafka_message_t& message);
    rd_kafka_t* handle() const { return handle_.get(); }

    void on_rebalance(rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions);

  private:
    PositionedConsumer(PositionedConsumerOptions options, ConsumerHooks hooks);
    void assign(rd_kafka_topic_partition_list_t* partitions,
                const std::optional<std::pair<TopicPartition, std::int64_t>>& seek);

    PositionedConsumerOptions options_;
    ConsumerHooks hooks_;
    Handle handle_;
};

}  // namespace ul::kafka
