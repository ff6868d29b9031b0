// UsageProducer: the client library a service links to record usage in Kafka.
// - idempotent producer: enable.idempotence=true, acks=all, set in code, never left to defaults
//   (and extra_config may not override them);
// - key = tenant_id, so one tenant's events stay in order on one partition;
// - record() validates the event by the contract before it is queued (an invalid event is
//   refused at once with its reason code, never sent) and makes a UUIDv7 idempotency key when
//   none is given;
// - a bounded queue: when max_in_flight_messages are waiting, produce answers queue_full at
//   once instead of blocking or growing;
// - every record() callback runs exactly once: on delivery, on failure, or — when the producer
//   is destroyed first — with ok=false; none is leaked.
// Threading: record()/produce_raw() may be called from any thread; delivery callbacks run on the
// thread calling poll() or flush() (and, for what is left, in the destructor).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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
    std::uint64_t token = 0;  // produce_raw's token (0 for record())
};
using DeliveryCallback = std::function<void(const DeliveryReport&)>;

struct ProducerOptions {
    std::string bootstrap;
    std::string topic = "usage.events";
    std::size_t max_in_flight_messages = 100'000;  // queue.buffering.max.messages
    int delivery_timeout_ms = 30'000;              // message.timeout.ms: then the report fails
    int connect_timeout_ms = 10'000;               // what wait_for_cluster() waits
    int linger_ms = 5;
    // record() validates with these; match the ledger's (e.g. its --max-event-age).
    ValidationOptions validation{};
    // Called for every produce_raw delivery (success or failure), on the polling thread.
    DeliveryCallback on_raw_delivery;
    // More librdkafka properties, e.g. security settings for real clusters. The properties the
    // producer sets from the fields above (and its delivery guarantees) cannot be overridden.
    kafka::Properties extra_config;
};

enum class ProduceErrorCode : std::uint8_t { queue_full, invalid_event, kafka_error };
struct ProduceError {
    ProduceErrorCode code;
    std::string detail;  // invalid_event: "<reason_code>: <detail>"
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
    // Does not wait for the cluster (a service may start while Kafka is briefly away; messages
    // wait in the bounded queue up to delivery_timeout_ms). Call wait_for_cluster() to check.
    static Result<std::unique_ptr<UsageProducer>, std::string> create(ProducerOptions options);
    // Flushes for up to 2 s, then fails what is left (callbacks run here, with ok=false).
    ~UsageProducer();
    UsageProducer(const UsageProducer&) = delete;
    UsageProducer& operator=(const UsageProducer&) = delete;

    // Bounded wait for the cluster and the topic. Errors: "cannot reach Kafka at <bootstrap>
    // within N s: <reason>", "topic <t> does not exist at <bootstrap>".
    Result<bool, std::string> wait_for_cluster();  // waits connect_timeout_ms
    Result<bool, std::string> wait_for_cluster(int timeout_ms);

    // Already-validated bytes, keyed by tenant_id. Never blocks. `token` (< 2^63) comes back in
    // the DeliveryReport given to options.on_raw_delivery.
    Result<bool, ProduceError> produce_raw(std::string_view tenant_id, std::string_view value,
                                           std::uint64_t token);
    // The same with Kafka headers (name → value); a nullopt value is a tombstone (null value).
    Result<bool, ProduceError> produce_raw(
        std::string_view key, std::optional<std::string_view> value,
        const std::vector<std::pair<std::string, std::string>>& headers, std::uint64_t token);
    // Builds, validates and queues one event; returns the idempotency key used. On an error the
    // callback is never called.
    Result<std::string, ProduceError> record(const UsageRecord& record, DeliveryCallback callback);
    // The same; an immediate failure resolves the future at once with ok=false.
    std::future<DeliveryReport> record(const UsageRecord& record);

    // Serves delivery callbacks; returns how many were served.
    int poll(int timeout_ms);
    // Waits up to `timeout_ms` for every queued message to be delivered or to fail.
    Result<bool, std::string> flush(int timeout_ms);

    std::uint64_t delivered() const { return delivered_.load(); }
    std::uint64_t failed() const { return failed_.load(); }
    // Messages queued or in flight whose delivery report was not served yet.
    std::uint64_t in_flight() const;

  private:
    explicit UsageProducer(ProducerOptions options);
    static void on_delivery(rd_kafka_t* handle, const rd_kafka_message_t* message, void* self);
    void deliver(std::uintptr_t opaque, DeliveryReport report);
    Result<bool, ProduceError> produce(std::string_view key, std::string_view value,
                                       std::uintptr_t opaque);
    Result<std::string, ProduceError> build_and_validate(const UsageRecord& record,
                                                         std::string& line);
    void fail_pending(const std::string& why);

    ProducerOptions options_;
    std::atomic<std::uint64_t> delivered_{0};
    std::atomic<std::uint64_t> failed_{0};

    std::mutex record_mutex_;  // guards validator_ and uuids_
    EventValidator validator_;
    UuidV7Generator uuids_;

    // record()'s callbacks by delivery id: the message opaque carries the id, never a pointer,
    // so a report that never comes cannot leak anything (the destructor fails what is left).
    std::mutex pending_mutex_;
    std::unordered_map<std::uint64_t, DeliveryCallback> pending_;
    std::uint64_t next_delivery_id_ = 1;

    kafka::Handle handle_;  // last: destroyed first
};

}  // namespace ul
