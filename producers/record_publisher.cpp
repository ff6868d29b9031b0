#include "producers/record_publisher.h"

namespace ul {

Result<std::unique_ptr<RecordPublisher>, std::string> RecordPublisher::create(
    ProducerOptions options) {
    std::unique_ptr<RecordPublisher> publisher(new RecordPublisher());
    publisher->topic_ = options.topic;
    publisher->timeout_ms_ = options.delivery_timeout_ms;
    RecordPublisher* self = publisher.get();
    options.on_raw_delivery = [self](const DeliveryReport& report) {
        self->delivered_ = report.ok;
        self->failure_ = report.error;
    };
    auto producer = UsageProducer::create(std::move(options));
    if (!producer) {
        return unexpected(producer.error());
    }
    publisher->producer_ = std::move(producer).value();
    if (auto reachable = publisher->producer_->wait_for_cluster(); !reachable) {
        return unexpected(reachable.error());
    }
    return publisher;
}

Result<bool, std::string> RecordPublisher::publish(
    std::string_view key, std::optional<std::string_view> value,
    const std::vector<std::pair<std::string, std::string>>& headers) {
    std::lock_guard lock(mutex_);
    delivered_ = false;
    failure_ = "no delivery report";
    if (auto queued = producer_->produce_raw(key, value, headers, 1); !queued) {
        return unexpected(queued.error().detail);
    }
    (void)producer_->flush(timeout_ms_);
    if (!delivered_) {
        return unexpected("not delivered to " + topic_ + ": " + failure_);
    }
    return true;
}

}  // namespace ul
