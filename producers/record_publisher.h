// Publishes single records and waits for each one's acknowledgement: the control plane's writes
// (an account version to usage.accounts, from `account set` and from the API's alert-rule
// routes), where a caller must know the record is in Kafka before it answers.
// Threading: publish() from any thread (one at a time per publisher: a mutex serialises them).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "producers/usage_producer.h"
#include "schemas/result.h"

namespace ul {

class RecordPublisher {
  public:
    // `options.topic` is where records go; on_raw_delivery is the publisher's own. Fails when
    // the cluster does not answer within options.connect_timeout_ms.
    static Result<std::unique_ptr<RecordPublisher>, std::string> create(ProducerOptions options);
    // Produces one record (value nullopt: a tombstone) and waits until the broker acknowledged
    // it, or fails with the reason (timeout: options.delivery_timeout_ms).
    Result<bool, std::string> publish(
        std::string_view key, std::optional<std::string_view> value,
        const std::vector<std::pair<std::string, std::string>>& headers);

  private:
    RecordPublisher() = default;
    std::mutex mutex_;
    std::string topic_;
    int timeout_ms_ = 30'000;
    // Set by the delivery callback (on the flushing thread, under mutex_'s holder).
    bool delivered_ = false;
    std::string failure_;
    std::unique_ptr<UsageProducer> producer_;
};

}  // namespace ul
