#include "producers/usage_producer.h"

#include <chrono>

#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

// A record()'s callback travels as the message opaque; produce_raw's token travels as
// (token << 1) | 1, so the low bit tells them apart (heap pointers are aligned).
struct DeliveryContext {
    DeliveryCallback callback;
};

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

UsageProducer::UsageProducer(ProducerOptions options) : options_(std::move(options)) {}

UsageProducer::~UsageProducer() {
    if (handle_) {
        // Deliver what can be delivered in a bounded time; contexts of undelivered messages are
        // released through their failed delivery reports when the handle is destroyed.
        rd_kafka_flush(handle_.get(), 2000);
        rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(handle_.get(), 0);
    }
}

Result<std::unique_ptr<UsageProducer>, std::string> UsageProducer::create(ProducerOptions options) {
    if (options.bootstrap.empty()) {
        return unexpected(std::string("no bootstrap address"));
    }
    kafka::Properties properties = {
        {"bootstrap.servers", options.bootstrap},
        {"client.id", "usage-ledger-producer"},
        {"enable.idempotence", "true"},  // no duplicates or reordering from producer retries
        {"acks", "all"},
        {"linger.ms", std::to_string(options.linger_ms)},
        {"queue.buffering.max.messages", std::to_string(options.max_in_flight_messages)},
        {"message.timeout.ms", std::to_string(options.delivery_timeout_ms)},
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
                                void* self_opaque) {
    auto* self = static_cast<UsageProducer*>(self_opaque);
    DeliveryReport report;
    report.ok = message->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!report.ok) {
        report.error = rd_kafka_err2str(message->err);
    }
    report.partition = message->partition;
    report.offset = message->offset;
    (report.ok ? self->delivered_ : self->failed_).fetch_add(1);
    const auto opaque = reinterpret_cast<std::uintptr_t>(message->_private);
    if ((opaque & 1U) != 0) {
        report.token = static_cast<std::uint64_t>(opaque >> 1U);
        if (self->options_.on_raw_delivery) {
            self->options_.on_raw_delivery(report);
        }
        return;
    }
    std::unique_ptr<DeliveryContext> context(static_cast<DeliveryContext*>(message->_private));
    if (context && context->callback) {
        context->callback(report);
    }
}

Result<bool, ProduceError> UsageProducer::produce(std::string_view key, std::string_view value,
                                                  void* opaque) {
    const rd_kafka_resp_err_t error = rd_kafka_producev(
        handle_.get(), RD_KAFKA_V_TOPIC(options_.topic.c_str()),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (error == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return unexpected(ProduceError{ProduceErrorCode::queue_full,
                                       "producer queue is full (" +
                                           std::to_string(options_.max_in_flight_messages) +
                                           " messages in flight); poll and retry"});
    }
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected(ProduceError{ProduceErrorCode::kafka_error, rd_kafka_err2str(error)});
    }
    return true;
}

Result<bool, ProduceError> UsageProducer::produce_raw(std::string_view tenant_id,
                                                      std::string_view value, std::uint64_t token) {
    auto* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>((token << 1U) | 1U));
    return produce(tenant_id, value, opaque);
}

Result<std::string, ProduceError> UsageProducer::record(const UsageRecord& record,
                                                        DeliveryCallback callback) {
    std::string key;
    std::string line;
    {
        std::lock_guard lock(record_mutex_);
        key = record.idempotency_key.empty() ? uuids_.next() : record.idempotency_key;
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
        line += ",\"quantity\":";
        append_json_string(line, record.quantity);
        line += ",\"timestamp\":";
        const std::int64_t now = now_us();
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
            return unexpected(ProduceError{ProduceErrorCode::invalid_event,
                                           std::string(reason_code(validated.error().reason)) +
                                               ": " + validated.error().detail});
        }
    }
    auto context = std::make_unique<DeliveryContext>(DeliveryContext{std::move(callback)});
    auto produced = produce(record.tenant_id, line, context.get());
    if (!produced) {
        return unexpected(produced.error());
    }
    (void)context.release();  // on_delivery owns it now
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
                          " messages still undelivered after " + std::to_string(timeout_ms / 1000) +
                          " s");
    }
    return true;
}

std::uint64_t UsageProducer::in_flight() const {
    return static_cast<std::uint64_t>(rd_kafka_outq_len(handle_.get()));
}

}  // namespace ul
