// Shared plumbing of the `usage-ledger` subcommands: exit codes, usage errors, common options.
// Each command file adds one subcommand and, when it is the one chosen, sets the runner main calls.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "consumers/disk_space.h"

namespace ul::ops {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Bad usage found after parsing (e.g. an unreadable --bootstrap-file): main prints one line,
// exit 2.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using CommandRunner = std::function<int()>;

struct KafkaOptions {
    std::string bootstrap;
    std::string bootstrap_file;
    std::vector<std::string> settings;  // --kafka-config KEY=VALUE (SASL, TLS)
};
// Adds --bootstrap and --bootstrap-file (mutually exclusive).
void add_kafka_options(CLI::App& command, KafkaOptions& options);
// The bootstrap address to use; throws UsageError with one clear line when neither or an
// unreadable file is given.
std::string resolve_bootstrap_or_throw(const KafkaOptions& options);
// The --kafka-config settings; a setting that is not a connection setting is a UsageError.
std::vector<std::pair<std::string, std::string>> kafka_settings_or_throw(
    const KafkaOptions& options);

// Adds --max-event-age (a duration such as 35d, 12h); the value lands in micros.
void add_max_event_age_option(CLI::App& command, std::int64_t& max_event_age_us);

// Adds --min-free-disk (256MiB, 2%, 0 = off): the store stops writing below it.
void add_min_free_disk_option(CLI::App& command, MinFreeDisk& minimum);

// An exclusive lock on a data directory, held for the life of the object (flock on
// <data_dir>/LOCK.usage-ledger, which holds the owner's pid): two processes that would both
// write the directory's files (its bootstrap file, its stores) fail before touching them.
// The file stays after release; the flock, not the file, is the lock. Not thread-safe.
class DataDirLock {
  public:
    static constexpr const char* kFileName = "LOCK.usage-ledger";
    // Creates `data_dir` when absent and takes the lock without waiting; a UsageError naming
    // the holder's pid when another process holds it ("another usage-ledger is running on
    // <data_dir> (pid N)"), a runtime_error when the file cannot be opened.
    static DataDirLock acquire_or_throw(const std::string& data_dir);
    DataDirLock(DataDirLock&& other) noexcept;
    DataDirLock& operator=(DataDirLock&&) = delete;
    DataDirLock(const DataDirLock&) = delete;
    DataDirLock& operator=(const DataDirLock&) = delete;
    ~DataDirLock();

  private:
    explicit DataDirLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// Microseconds since the Unix epoch from the system clock: the one place commands read time.
std::int64_t system_now_us();

void add_broker_command(CLI::App& app, CommandRunner& run);
void add_emit_command(CLI::App& app, CommandRunner& run);
void add_up_command(CLI::App& app, CommandRunner& run);
void add_bench_command(CLI::App& app, CommandRunner& run);
void add_account_command(CLI::App& app, CommandRunner& run);
void add_replay_command(CLI::App& app, CommandRunner& run);
void add_reconcile_command(CLI::App& app, CommandRunner& run);
void add_billing_command(CLI::App& app, CommandRunner& run);  // `billing reconcile`
void add_topics_command(CLI::App& app, CommandRunner& run);
void add_dlq_command(CLI::App& app, CommandRunner& run);  // `dlq list`

}  // namespace ul::ops
