#include "projections/api/process_metrics.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "schemas/prometheus_text.h"

namespace ul {

namespace {

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
    std::uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || stop != end) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::string> read_text(const char* path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return std::nullopt;
    }
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
    const auto close = text.rfind(')');
    if (close == std::string_view::npos) {
        return std::nullopt;
    }
    // Fields from 3 (state) on, separated by single spaces.
    std::vector<std::string_view> fields;
    std::string_view rest = text.substr(close + 1);
    while (!rest.empty()) {
        const auto start = rest.find_first_not_of(" \n");
        if (start == std::string_view::npos) {
            break;
        }
        rest = rest.substr(start);
        const auto end = rest.find_first_of(" \n");
        fields.push_back(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
    auto field = [&](std::size_t number) -> std::optional<std::uint64_t> {
        if (number < 3 || number - 3 >= fields.size()) {
            return std::nullopt;
        }
        return parse_unsigned(fields[number - 3]);
    };
    const auto user = field(14);
    const auto system = field(15);
    const auto start = field(22);
    const auto rss = field(24);
    if (!user || !system || !start || !rss) {
        return std::nullopt;
    }
    return ProcStat{*user, *system, *start, *rss};
}

std::optional<std::uint64_t> parse_boot_time(std::string_view text) {
    std::size_t position = 0;
    while (position < text.size()) {
        auto end = text.find('\n', position);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = text.substr(position, end - position);
        static constexpr std::string_view kPrefix = "btime ";
        if (line.starts_with(kPrefix)) {
            return parse_unsigned(line.substr(kPrefix.size()));
        }
        position = end + 1;
    }
    return std::nullopt;
}

ProcessSample process_sample(const ProcStat& stat, std::uint64_t boot_time_s,
                             std::uint64_t ticks_per_second, std::uint64_t page_bytes) {
    ProcessSample sample;
    sample.resident_memory_bytes = stat.rss_pages * page_bytes;
    if (ticks_per_second > 0) {
        sample.cpu_us = (stat.user_ticks + stat.system_ticks) * 1'000'000 / ticks_per_second;
        sample.start_time_us =
            boot_time_s * 1'000'000 + stat.start_ticks * 1'000'000 / ticks_per_second;
    }
    return sample;
}

std::optional<ProcessSample> read_process_sample() {
    const auto self_stat = read_text("/proc/self/stat");
    const auto system_stat = read_text("/proc/stat");
    if (!self_stat || !system_stat) {
        return std::nullopt;
    }
    const auto stat = parse_proc_stat(*self_stat);
    const auto boot_time = parse_boot_time(*system_stat);
    const long ticks = sysconf(_SC_CLK_TCK);
    const long page = sysconf(_SC_PAGESIZE);
    if (!stat || !boot_time || ticks <= 0 || page <= 0) {
        return std::nullopt;
    }
    ProcessSample sample = process_sample(*stat, *boot_time, static_cast<std::uint64_t>(ticks),
                                          static_cast<std::uint64_t>(page));
    std::error_code error;
    for (std::filesystem::directory_iterator entry("/proc/self/fd", error), end;
         !error && entry != end; entry.increment(error)) {
        ++sample.open_fds;
    }
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
        sample.max_fds = files.rlim_cur;
    }
    return sample;
}

void append_process_metrics_text(const ProcessSample& sample, std::string& out) {
    append_metric_header(out, "process_resident_memory_bytes", "gauge",
                         "Resident memory size in bytes");
    append_metric_sample(out, "process_resident_memory_bytes", "", sample.resident_memory_bytes);
    append_metric_header(out, "process_cpu_seconds_total", "counter",
                         "User and system CPU time spent in seconds");
    append_metric_sample(out, "process_cpu_seconds_total", "",
                         std::string_view(micros_as_seconds(sample.cpu_us)));
    append_metric_header(out, "process_open_fds", "gauge", "Open file descriptors");
    append_metric_sample(out, "process_open_fds", "", sample.open_fds);
    if (sample.max_fds != 0) {
        append_metric_header(out, "process_max_fds", "gauge",
                             "The soft limit of open file descriptors");
        append_metric_sample(out, "process_max_fds", "", sample.max_fds);
    }
    append_metric_header(out, "process_start_time_seconds", "gauge",
                         "Start time of the process since the Unix epoch in seconds");
    append_metric_sample(out, "process_start_time_seconds", "",
                         std::string_view(micros_as_seconds(sample.start_time_us)));
}

}  // namespace ul
