#include "tests/support/kafka.h"

#include <stdexcept>

namespace ul::test {

RawProducer::RawProducer(const std::string& bootstrap) {
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", error, sizeof error);
    rd_kafka_conf_set(conf, "linger.ms", "1", error, sizeof error);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (handle_ == nullptr) {
        throw std::runtime_error(std::string("cannot make a producer: ") + error);
    }
}

RawProducer::~RawProducer() {
    rd_kafka_flush(handle_, 10000);
    rd_kafka_destroy(handle_);
}

void RawProducer::produce(const std::string& topic, const std::string& key,
                          const std::string& value) {
    while (rd_kafka_producev(handle_, RD_KAFKA_V_TOPIC(topic.c_str()),
                             RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                             RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(handle_, 10);
    }
    rd_kafka_poll(handle_, 0);
}

void RawProducer::produce(const std::string& topic, const std::string& key,
                          const std::optional<std::string>& value,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
    for (;;) {
        rd_kafka_headers_t* list = rd_kafka_headers_new(headers.size());
        for (const auto& [name, text] : headers) {
            rd_kafka_header_add(list, name.c_str(), -1, text.data(),
                                static_cast<ssize_t>(text.size()));
        }
        const auto error = rd_kafka_producev(
            handle_, RD_KAFKA_V_TOPIC(topic.c_str()),
            RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
            RD_KAFKA_V_VALUE((value ? const_cast<char*>(value->data()) : nullptr),
                             (value ? value->size() : 0)),
            RD_KAFKA_V_HEADERS(list), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (error == RD_KAFKA_RESP_ERR_NO_ERROR) {
            break;
        }
        rd_kafka_headers_destroy(list);
        if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            throw std::runtime_error(std::string("cannot produce: ") + rd_kafka_err2str(error));
        }
        rd_kafka_poll(handle_, 10);
    }
    rd_kafka_poll(handle_, 0);
}

bool RawProducer::flush(int timeout_ms) {
    return rd_kafka_flush(handle_, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace ul::test
