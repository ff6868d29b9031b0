// The process's own metrics in the names Prometheus client libraries use (process_*): resident
// memory, CPU seconds, open and allowed descriptors, start time; read from /proc/self on Linux.
// The parsers are pure (tested on captured text); read_process_sample() does the I/O and is
// thread-safe (it reads files, holds nothing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ul {

// The fields of /proc/self/stat that the metrics need (counts in clock ticks and pages).
struct ProcStat {
    std::uint64_t user_ticks = 0;    // field 14, utime
    std::uint64_t system_ticks = 0;  // field 15, stime
    std::uint64_t start_ticks = 0;   // field 22, starttime: since boot
    std::uint64_t rss_pages = 0;     // field 24, rss
};
// nullopt when the text is not a stat line (the command name may hold spaces and parentheses:
// fields are counted after the last ')').
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// The "btime" line of /proc/stat: boot time in seconds since the epoch.
std::optional<std::uint64_t> parse_boot_time(std::string_view text);

struct ProcessSample {
    std::uint64_t resident_memory_bytes = 0;
    std::uint64_t cpu_us = 0;         // user + system
    std::uint64_t start_time_us = 0;  // since the epoch
    std::uint64_t open_fds = 0;
    std::uint64_t max_fds = 0;  // soft RLIMIT_NOFILE; 0 when unlimited
};
// From /proc/self/stat, /proc/stat, /proc/self/fd and getrlimit; nullopt where /proc cannot be
// read (not Linux).
std::optional<ProcessSample> read_process_sample();
// A sample from parsed text, with the system's clock ticks per second and page size.
ProcessSample process_sample(const ProcStat& stat, std::uint64_t boot_time_s,
                             std::uint64_t ticks_per_second, std::uint64_t page_bytes);

// process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_start_time_seconds (seconds as exact decimals).
void append_process_metrics_text(const ProcessSample& sample, std::string& out);

}  // namespace ul
