// UsageProducer: the client library a service links to record usage in Kafka.
// - idempotent producer: enable.idempotence=true, acks=all, set in code, never left to defaults;
// - key = tenant_id, so one tenant's events stay in order on one partition;
// - record() validates the event by the contract before it is queued (an invalid event is
//   refused at once with its reason code) and makes a UUIDv7 idempotency key when none is given;
// - a bounded queue: when max_in_flight_messages are waiting, produce answers queue_full at
//   once instead of blocking or growing.
// Threading: record()/produce_raw() may be called from any thread; delivery callbacks run on the
// thread calling poll() or flush().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "consumers/kafka.h"
#include "producers/uuid.h"
#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

struct DeliveryReport {
    bool ok = false;
    std::string error;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::uint64_t token = 0;  // produce_raw's token
};
using DeliveryCallback = std::function<void(const DeliveryReport&)>;

struct ProducerOptions {
    std::string bootstrap;
    std::string topic = "usage.events";
    std::size_t max_in_flight_messages = 100'000;
    int delivery_timeout_ms = 30'000;
    int linger_ms = 5;
    // Called for every produce_raw delivery (success or failure), on the polling thread.
    DeliveryCallback on_raw_delivery;
    kafka::Properties extra_config;  // e.g. security settings for real clusters
};

enum class ProduceErrorCode : std::uint8_t { queue_full, invalid_event, kafka_error };
struct ProduceError {
    ProduceErrorCode code;
    std::string detail;
};

struct UsageRecord {
    std::string tenant_id;
    std::string meter;
    std::string quantity;         // exact decimal text, e.g. "1500" or "0.25"
    std::string subject;          // optional
    std::string idempotency_key;  // empty: a new UUIDv7
    std::string timestamp;        // RFC 3339; empty: now
    std::vector<std::pair<std::string, std::string>> string_properties;
};

class UsageProducer {
  public:
    static Result<std::unique_ptr<UsageProducer>, std::string> create(ProducerOptions options);
    ~UsageProducer();
    UsageProducer(const UsageProducer&) = delete;
    UsageProducer& operator=(const UsageProducer&) = delete;

    // Bounded wait for the cluster; error text names the bootstrap address.
    Result<bool, std::string> wait_for_cluster(int timeout_ms);

    // Already-validated bytes, keyed by tenant_id. Never blocks.
    Result<bool, ProduceError> produce_raw(std::string_view tenant_id, std::string_view value,
                                           std::uint64_t token);
    // Builds, validates and queues one event; returns the idempotency key used.
    Result<std::string, ProduceError> record(const UsageRecord& record, DeliveryCallback callback);
    std::future<DeliveryReport> record(const UsageRecord& record);

    int poll(int timeout_ms);
    // Waits up to `timeout_ms` for every queued message to be delivered or to fail.
    Result<bool, std::string> flush(int timeout_ms);

    std::uint64_t delivered() const { return delivered_.load(); }
    std::uint64_t failed() const { return failed_.load(); }
    std::uint64_t in_flight() const;

  private:
    explicit UsageProducer(ProducerOptions options);
    static void on_delivery(rd_kafka_t* handle, const rd_kafka_message_t* message, void* self);
    Result<bool, ProduceError> produce(std::string_view key, std::string_view value, void* opaque);

    ProducerOptions options_;
    kafka::Handle handle_;
    std::atomic<std::uint64_t> delivered_{0};
    std::atomic<std::uint64_t> failed_{0};
    std::mutex record_mutex_;  // guards validator_ and uuids_
    EventValidator validator_;
    UuidV7Generator uuids_;
};

}  // namespace ul
