#include "ops/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

namespace ul::ops {

namespace {

// One JSON object per line: {"time":"…Z","level":"info","logger":"…","msg":"…"}.
class JsonFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& message,
                spdlog::memory_buf_t& destination) override {
        const auto since_epoch = message.time.time_since_epoch();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        const auto micros =
            std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds).count();
        const std::time_t time = seconds.count();
        std::tm utc{};
        gmtime_r(&time, &utc);
        char stamp[40];
        const auto stamp_size = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
        std::string line = "{\"time\":\"";
        line.append(stamp, stamp_size);
        char fraction[16];
        std::snprintf(fraction, sizeof fraction, ".%06lldZ", static_cast<long long>(micros));
        line += fraction;
        line += "\",\"level\":\"";
        const auto level = spdlog::level::to_string_view(message.level);
        line.append(level.data(), level.size());
        line += "\",\"msg\":\"";
        append_json_escaped(line, std::string_view(message.payload.data(), message.payload.size()));
        line += "\"}\n";
        destination.append(line.data(), line.data() + line.size());
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

void configure_logging(const LogOptions& options) {
    auto logger = spdlog::stderr_logger_mt("usage-ledger");
    if (options.format == "json") {
        logger->set_formatter(std::make_unique<JsonFormatter>());
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
    }
    logger->set_level(spdlog::level::from_str(options.level));
    spdlog::set_default_logger(logger);
}

}  // namespace ul::ops
