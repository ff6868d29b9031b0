#include "producers/usage_producer.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

static_assert(sizeof(std::uintptr_t) == 8, "message opaques carry 63-bit ids and tokens");

// The message opaque is a number, never a pointer: produce_raw's token as (token << 1) | 1,
// record()'s delivery id as id << 1. The low bit tells them apart.
constexpr std::uint64_t kMaxToken = (std::uint64_t{1} << 63U) - 1;

// How long the destructor lets queued messages go out before it fails them.
constexpr int kCloseFlushMs = 2000;
// After a purge, how long the destructor waits for librdkafka to hand back the failure reports.
constexpr int kPurgeDrainMs = 1000;

// Set by the producer from ProducerOptions or fixed for its guarantees; extra_config may not
// set them (a second value would silently win or lose depending on order).
constexpr std::array<std::string_view, 11> kOwnedProperties = {
    "bootstrap.servers",        "metadata.broker.list",
    "enable.idempotence",       "acks",
    "request.required.acks",    "linger.ms",
    "queue.buffering.max.ms",   "queue.buffering.max.messages",
    "message.timeout.ms",       "delivery.timeout.ms",
    "allow.auto.create.topics",
};

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string describe(rd_kafka_t* handle, rd_kafka_resp_err_t error) {
    if (error != RD_KAFKA_RESP_ERR__FATAL) {
        return rd_kafka_err2str(error);
    }
    char reason[512];
    const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(handle, reason, sizeof reason);
    return std::string("fatal producer error (create a new producer): ") +
           rd_kafka_err2name(fatal) + ": " + reason;
}

}  // namespace

UsageProducer::UsageProducer(ProducerOptions options)
    : options_(std::move(options)), validator_(options_.validation) {}

UsageProducer::~UsageProducer() {
    if (handle_) {
        // Deliver what can be delivered in a bounded time, then fail the rest: purge hands back a
        // failed report for every message still queued or in flight, served by the second flush.
        (void)rd_kafka_flush(handle_.get(), kCloseFlushMs);
        (void)rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        (void)rd_kafka_flush(handle_.get(), kPurgeDrainMs);
        handle_.reset();
    }
    // Reports librdkafka never handed back: each waiting callback still runs exactly once.
    fail_pending("the producer was destroyed before the delivery report came");
}

Result<std::unique_ptr<UsageProducer>, std::string> UsageProducer::create(ProducerOptions options) {
    if (options.bootstrap.empty()) {
        return unexpected(std::string("no bootstrap address"));
    }
    if (options.topic.empty()) {
        return unexpected(std::string("no topic"));
    }
    if (options.max_in_flight_messages == 0) {
        return unexpected(std::string("max_in_flight_messages must be at least 1"));
    }
    for (const auto& [name, value] : options.extra_config) {
        if (std::find(kOwnedProperties.begin(), kOwnedProperties.end(), name) !=
            kOwnedProperties.end()) {
            return unexpected("extra_config may not set " + name +
                              ": the producer sets it (see ProducerOptions)");
        }
    }
    kafka::Properties properties = {
        {"bootstrap.servers", options.bootstrap},
        {"client.id", "usage-ledger-producer"},
        // Idempotence: retries after a lost ack never write a message twice or out of order
        // within a partition. It needs acks=all; both are set here, never left to defaults.
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", std::to_string(options.linger_ms)},
        // The bound on memory and on what a crash of this process can lose.
        {"queue.buffering.max.messages", std::to_string(options.max_in_flight_messages)},
        // After this, a message's report fails (it may still have been written: the key makes
        // a resend a duplicate, never a double count).
        {"message.timeout.ms", std::to_string(options.delivery_timeout_ms)},
        // A typo in the topic name must fail deliveries, not create a topic nobody reads
        // (librdkafka's producer default is true, and the embedded broker honours it).
        {"allow.auto.create.topics", "false"},
        {"compression.type", "lz4"},
    };
    for (const auto& property : options.extra_config) {
        properties.push_back(property);
    }
    auto config = kafka::make_config(properties);
    if (!config) {
        return unexpected(config.error());
    }
    std::unique_ptr<UsageProducer> producer(new UsageProducer(std::move(options)));
    rd_kafka_conf_set_opaque(config->get(), producer.get());
    rd_kafka_conf_set_dr_msg_cb(config->get(), &UsageProducer::on_delivery);
    auto handle = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(config).value());
    if (!handle) {
        return unexpected(handle.error());
    }
    producer->handle_ = std::move(handle).value();
    return producer;
}

Result<bool, std::string> UsageProducer::wait_for_cluster() {
    return wait_for_cluster(options_.connect_timeout_ms);
}

Result<bool, std::string> UsageProducer::wait_for_cluster(int timeout_ms) {
    auto metadata = kafka::wait_for_cluster(handle_.get(), options_.bootstrap, timeout_ms);
    if (!metadata) {
        return unexpected(metadata.error());
    }
    if (kafka::partition_count(**metadata, options_.topic) == 0) {
        return unexpected("topic " + options_.topic + " does not exist at " + options_.bootstrap);
    }
    return true;
}

void UsageProducer::on_delivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message,
                                void* self) {
    DeliveryReport report;
    report.ok = message->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!report.ok) {
        report.error = rd_kafka_err2str(message->err);
    }
    report.partition = message->partition;
    report.offset = message->offset;
    static_cast<UsageProducer*>(self)->deliver(reinterpret_cast<std::uintptr_t>(message->_private),
                                               std::move(report));
}

void UsageProducer::deliver(std::uintptr_t opaque, DeliveryReport report) {
    (report.ok ? delivered_ : failed_).fetch_add(1);
    if ((opaque & 1U) != 0) {
        report.token = static_cast<std::uint64_t>(opaque >> 1U);
        if (options_.on_raw_delivery) {
            options_.on_raw_delivery(report);
        }
        return;
    }
    DeliveryCallback callback;
    {
        std::lock_guard lock(pending_mutex_);
        const auto found = pending_.find(static_cast<std::uint64_t>(opaque >> 1U));
        UL_CHECK(found != pending_.end(), "a delivery report for an unknown record() id");
        callback = std::move(found->second);
        pending_.erase(found);
    }
    if (callback) {
        callback(report);
    }
}

void UsageProducer::fail_pending(const std::string& why) {
    std::unordered_map<std::uint64_t, DeliveryCallback> left;
    {
        std::lock_guard lock(pending_mutex_);
        left.swap(pending_);
    }
    for (auto& [id, callback] : left) {
        failed_.fetch_add(1);
        DeliveryReport report;
        report.error = why;
        if (callback) {
            callback(report);
        }
    }
}

Result<bool, ProduceError> UsageProducer::produce(std::string_view key, std::string_view value,
                                                  std::uintptr_t opaque) {
    // The opaque is a number that librdkafka hands back, never dereferenced.
    void* opaque_number = reinterpret_cast<void*>(opaque);  // NOLINT(performance-no-int-to-ptr)
    const rd_kafka_resp_err_t error = rd_kafka_producev(
        handle_.get(), RD_KAFKA_V_TOPIC(options_.topic.c_str()),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque_number), RD_KAFKA_V_END);
    if (error == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return unexpected(ProduceError{ProduceErrorCode::queue_full,
                                       "producer queue is full (" +
                                           std::to_string(options_.max_in_flight_messages) +
                                           " messages in flight); poll and retry"});
    }
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected(
            ProduceError{ProduceErrorCode::kafka_error, describe(handle_.get(), error)});
    }
    return true;
}

Result<bool, ProduceError> UsageProducer::produce_raw(std::string_view tenant_id,
                                                      std::string_view value, std::uint64_t token) {
    UL_CHECK(token <= kMaxToken, "produce_raw tokens must be below 2^63");
    return produce(tenant_id, value, static_cast<std::uintptr_t>((token << 1U) | 1U));
}

Result<bool, ProduceError> UsageProducer::produce_raw(
    std::string_view key, std::optional<std::string_view> value,
    const std::vector<std::pair<std::string, std::string>>& headers, std::uint64_t token) {
    UL_CHECK(token <= kMaxToken, "produce_raw tokens must be below 2^63");
    void* opaque_number =  // NOLINTNEXTLINE(performance-no-int-to-ptr)
        reinterpret_cast<void*>(static_cast<std::uintptr_t>((token << 1U) | 1U));
    rd_kafka_headers_t* list = rd_kafka_headers_new(headers.size());
    for (const auto& [name, text] : headers) {
        rd_kafka_header_add(list, name.data(), static_cast<ssize_t>(name.size()), text.data(),
                            static_cast<ssize_t>(text.size()));
    }
    const rd_kafka_resp_err_t error = rd_kafka_producev(
        handle_.get(), RD_KAFKA_V_TOPIC(options_.topic.c_str()),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE((value ? const_cast<char*>(value->data()) : nullptr),
                         (value ? value->size() : 0)),
        RD_KAFKA_V_HEADERS(list), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(opaque_number), RD_KAFKA_V_END);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(list);  // owned by the message only when it was queued
        return unexpected(
            ProduceError{error == RD_KAFKA_RESP_ERR__QUEUE_FULL ? ProduceErrorCode::queue_full
                                                                 : ProduceErrorCode::kafka_error,
                         describe(handle_.get(), error)});
    }
    return true;
}

Result<std::string, ProduceError> UsageProducer::build_and_validate(const UsageRecord& record,
                                                                    std::string& line) {
    std::lock_guard lock(record_mutex_);
    std::string key = record.idempotency_key.empty() ? uuids_.next() : record.idempotency_key;
    const std::int64_t now = now_us();
    line = "{\"idempotency_key\":";
    append_json_string(line, key);
    line += ",\"tenant_id\":";
    append_json_string(line, record.tenant_id);
    if (!record.subject.empty()) {
        line += ",\"subject\":";
        append_json_string(line, record.subject);
    }
    line += ",\"meter\":";
    append_json_string(line, record.meter);
    line += ",\"quantity\":";  // a decimal string: exact, never a binary floating-point number
    append_json_string(line, record.quantity);
    line += ",\"timestamp\":";
    append_json_string(line, record.timestamp.empty() ? format_rfc3339(now) : record.timestamp);
    if (!record.string_properties.empty()) {
        line += ",\"properties\":{";
        bool first = true;
        for (const auto& [name, value] : record.string_properties) {
            if (!first) {
                line += ',';
            }
            first = false;
            append_json_string(line, name);
            line += ':';
            append_json_string(line, value);
        }
        line += '}';
    }
    line += '}';
    auto validated = validator_.validate(line, now);
    if (!validated) {
        return unexpected(ProduceError{
            ProduceErrorCode::invalid_event,
            std::string(reason_code(validated.error().reason)) + ": " + validated.error().detail});
    }
    return key;
}

Result<std::string, ProduceError> UsageProducer::record(const UsageRecord& record,
                                                        DeliveryCallback callback) {
    std::string line;
    auto key = build_and_validate(record, line);
    if (!key) {
        return key;
    }
    std::uint64_t id = 0;
    {
        std::lock_guard lock(pending_mutex_);
        id = next_delivery_id_++;
        UL_CHECK(id <= kMaxToken, "record() delivery ids ran out");
        pending_.emplace(id, std::move(callback));
    }
    auto produced = produce(record.tenant_id, line, static_cast<std::uintptr_t>(id << 1U));
    if (!produced) {
        std::lock_guard lock(pending_mutex_);
        pending_.erase(id);  // never queued: no report will come, and the callback never runs
        return unexpected(produced.error());
    }
    return key;
}

std::future<DeliveryReport> UsageProducer::record(const UsageRecord& record) {
    auto promise = std::make_shared<std::promise<DeliveryReport>>();
    auto future = promise->get_future();
    auto queued = this->record(
        record, [promise](const DeliveryReport& report) { promise->set_value(report); });
    if (!queued) {
        DeliveryReport report;
        report.error = queued.error().detail;
        promise->set_value(report);
    }
    return future;
}

int UsageProducer::poll(int timeout_ms) {
    return rd_kafka_poll(handle_.get(), timeout_ms);
}

Result<bool, std::string> UsageProducer::flush(int timeout_ms) {
    const rd_kafka_resp_err_t error = rd_kafka_flush(handle_.get(), timeout_ms);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected(std::to_string(rd_kafka_outq_len(handle_.get())) +
                          " messages still undelivered after " + kafka::format_seconds(timeout_ms));
    }
    return true;
}

std::uint64_t UsageProducer::in_flight() const {
    return static_cast<std::uint64_t>(rd_kafka_outq_len(handle_.get()));
}

}  // namespace ul
