#include "consumers/kafka.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace ul::kafka {
namespace {

void log_to_spdlog(const rd_kafka_t* /*handle*/, int level, const char* facility,
                   const char* message) {
    // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
    if (level <= 3) {
        spdlog::error("kafka {}: {}", facility, message);
    } else if (level == 4) {
        spdlog::warn("kafka {}: {}", facility, message);
    } else if (level <= 6) {
        spdlog::info("kafka {}: {}", facility, message);
    } else {
        spdlog::debug("kafka {}: {}", facility, message);
    }
}

}  // namespace

Result<Config, std::string> make_config(const Properties& properties) {
    Config config(rd_kafka_conf_new());
    char error[512];
    for (const auto& [name, value] : properties) {
        if (rd_kafka_conf_set(config.get(), name.c_str(), value.c_str(), error, sizeof error) !=
            RD_KAFKA_CONF_OK) {
            return unexpected(name + "=" + value + ": " + error);
        }
    }
    rd_kafka_conf_set_log_cb(config.get(), log_to_spdlog);
    return config;
}

Result<Properties, std::string> parse_connection_settings(const std::vector<std::string>& pairs) {
    Properties out;
    for (const std::string& pair : pairs) {
        const auto equals = pair.find('=');
        if (equals == std::string::npos || equals == 0) {
            return unexpected("--kafka-config " + pair + ": expected KEY=VALUE");
        }
        std::string name = pair.substr(0, equals);
        const bool allowed = name == "security.protocol" || name == "client.dns.lookup" ||
                             name.starts_with("sasl.") || name.starts_with("ssl.");
        if (!allowed) {
            return unexpected("--kafka-config " + name +
                              ": only connection settings may be given (security.protocol, "
                              "sasl.*, ssl.*, client.dns.lookup); the rest is set in code");
        }
        out.emplace_back(std::move(name), pair.substr(equals + 1));
    }
    return out;
}

Properties with_settings(Properties base, const Properties& settings) {
    base.insert(base.end(), settings.begin(), settings.end());
    return base;
}

Result<Handle, std::string> make_handle(rd_kafka_type_t type, Config config) {
    char error[512];
    rd_kafka_t* handle = rd_kafka_new(type, config.get(), error, sizeof error);
    if (handle == nullptr) {
        return unexpected(std::string("cannot create a Kafka client: ") + error);
    }
    (void)config.release();  // rd_kafka_new took ownership
    return Handle(handle);
}

Result<Metadata, std::string> wait_for_cluster(rd_kafka_t* handle, const std::string& bootstrap,
                                               int timeout_ms) {
    UL_CHECK(handle != nullptr, "wait_for_cluster needs a client handle");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TIMED_OUT;
    // Each request is bounded by what is left; rd_kafka_metadata itself waits for a usable broker
    // up to its timeout, so this loop does not spin while the cluster is down.
    while (true) {
        const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now())
                                 .count();
        if (left_ms <= 0) {
            break;
        }
        const rd_kafka_metadata_t* metadata = nullptr;
        last = rd_kafka_metadata(handle, 1, nullptr, &metadata,
                                 static_cast<int>(std::min<std::int64_t>(left_ms, 2000)));
        if (last == RD_KAFKA_RESP_ERR_NO_ERROR && metadata != nullptr) {
            Metadata owned(metadata);
            if (owned->broker_cnt > 0) {
                return owned;
            }
        }
    }
    return unexpected("cannot reach Kafka at " + bootstrap + " within " +
                      format_seconds(timeout_ms) + ": " + rd_kafka_err2str(last));
}

Result<bool, std::string> load_topic_metadata(rd_kafka_t* handle, const std::string& topic,
                                              int timeout_ms) {
    UL_CHECK(handle != nullptr, "load_topic_metadata needs a client handle");
    rd_kafka_topic_t* known = rd_kafka_topic_new(handle, topic.c_str(), nullptr);
    if (known == nullptr) {
        return unexpected("cannot read the metadata of " + topic + ": " +
                          rd_kafka_err2str(rd_kafka_last_error()));
    }
    const rd_kafka_metadata_t* metadata = nullptr;
    const auto error = rd_kafka_metadata(handle, 0, known, &metadata, timeout_ms);
    Metadata owned(metadata);
    rd_kafka_topic_destroy(known);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected("cannot read the metadata of " + topic + ": " + rd_kafka_err2str(error));
    }
    return true;
}

int partition_count(const rd_kafka_metadata_t& metadata, const std::string& topic) {
    for (int index = 0; index < metadata.topic_cnt; ++index) {
        if (topic == metadata.topics[index].topic && metadata.topics[index].err == 0) {
            return metadata.topics[index].partition_cnt;
        }
    }
    return 0;
}

std::string format_seconds(int milliseconds) {
    if (milliseconds % 1000 == 0) {
        return std::to_string(milliseconds / 1000) + " s";
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.3g s", milliseconds / 1000.0);
    return text;
}

std::optional<std::string_view> header_of(const rd_kafka_message_t& message,
                                          std::string_view name) {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(&message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::nullopt;
    }
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, std::string(name).c_str(), &value, &size) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::nullopt;
    }
    return value == nullptr ? std::string_view()
                            : std::string_view(static_cast<const char*>(value), size);
}

}  // namespace ul::kafka
