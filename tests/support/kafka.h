// Plain librdkafka clients for tests, independent of the code under test: a raw producer that
// sends bytes as a buggy or well-behaved service would.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ul::test {

class RawProducer {
  public:
    explicit RawProducer(const std::string& bootstrap);
    ~RawProducer();
    RawProducer(const RawProducer&) = delete;
    RawProducer& operator=(const RawProducer&) = delete;
    // Queues one message (waiting while the local queue is full); an empty key is no key.
    void produce(const std::string& topic, const std::string& key, const std::string& value);
    // The same with headers (name → value); a nullopt value is a tombstone (null value).
    void produce(const std::string& topic, const std::string& key,
                 const std::optional<std::string>& value,
                 const std::vector<std::pair<std::string, std::string>>& headers);
    bool flush(int timeout_ms);  // true when every message was delivered

  private:
    rd_kafka_t* handle_ = nullptr;
};

}  // namespace ul::test
