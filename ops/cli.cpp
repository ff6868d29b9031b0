#include "ops/cli.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "consumers/bootstrap.h"
#include "consumers/kafka.h"
#include "schemas/time.h"

namespace ul::ops {

void add_kafka_options(CLI::App& command, KafkaOptions& options) {
    auto* bootstrap = command.add_option("--bootstrap", options.bootstrap,
                                         "Kafka bootstrap servers, HOST:PORT[,HOST:PORT]");
    auto* file = command.add_option("--bootstrap-file", options.bootstrap_file,
                                    "File holding the bootstrap address (as `broker` writes it)");
    bootstrap->excludes(file);
    command
        .add_option("--kafka-config", options.settings,
                    "A librdkafka connection setting for a real cluster, KEY=VALUE, repeatable: "
                    "security.protocol, sasl.*, ssl.*, client.dns.lookup (e.g. "
                    "security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512)")
        ->allow_extra_args(false);
}

std::vector<std::pair<std::string, std::string>> kafka_settings_or_throw(
    const KafkaOptions& options) {
    auto parsed = ul::kafka::parse_connection_settings(options.settings);
    if (!parsed) {
        throw UsageError(parsed.error());
    }
    return std::move(parsed).value();
}

std::string resolve_bootstrap_or_throw(const KafkaOptions& options) {
    auto resolved = ul::kafka::resolve_bootstrap(options.bootstrap, options.bootstrap_file);
    if (!resolved) {
        throw UsageError(resolved.error());
    }
    return std::move(resolved).value();
}

void add_max_event_age_option(CLI::App& command, std::int64_t& max_event_age_us) {
    command
        .add_option_function<std::string>(
            "--max-event-age",
            [&max_event_age_us](const std::string& text) {
                auto parsed = ul::parse_duration(text);
                if (!parsed) {
                    throw CLI::ValidationError("--max-event-age", parsed.error());
                }
                max_event_age_us = *parsed;
            },
            "Late-arrival limit: events older than this are rejected (e.g. 35d, 12h, 90m)")
        ->default_str("35d");
}

void add_min_free_disk_option(CLI::App& command, MinFreeDisk& minimum) {
    command
        .add_option_function<std::string>(
            "--min-free-disk",
            [&minimum](const std::string& text) {
                auto parsed = parse_min_free_disk(text);
                if (!parsed) {
                    throw CLI::ValidationError("--min-free-disk", parsed.error());
                }
                minimum = *parsed;
            },
            "Stop consuming, with one error and a metric, while the store's disk has less free "
            "space than this (RocksDB aborts on a full disk); resume when space returns. "
            "256MiB, 1GiB, 2%, or 0 for no check")
        ->default_str("256MiB");
}

DataDirLock DataDirLock::acquire_or_throw(const std::string& data_dir) {
    std::filesystem::create_directories(data_dir);
    const std::string path = (std::filesystem::path(data_dir) / kFileName).string();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    }
    DataDirLock lock(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        if (error != EWOULDBLOCK) {
            throw std::runtime_error("cannot lock " + path + ": " + std::strerror(error));
        }
        char holder[32] = {};
        const ssize_t length = ::pread(fd, holder, sizeof holder - 1, 0);
        std::string pid = length > 0 ? std::string(holder, static_cast<std::size_t>(length)) : "";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
            pid.pop_back();
        }
        throw UsageError("another usage-ledger is running on " + data_dir + " (pid " +
                         (pid.empty() ? std::string("unknown") : pid) + ")");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    }
    return lock;
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) {
    other.fd_ = -1;
}

DataDirLock::~DataDirLock() {
    if (fd_ >= 0) {
        ::close(fd_);  // releases the flock
    }
}

std::int64_t system_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace ul::ops
