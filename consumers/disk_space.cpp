#include "consumers/disk_space.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>

namespace ul {

std::uint64_t MinFreeDisk::threshold(std::uint64_t total_bytes) const {
    if (percent > 0) {
        return total_bytes / 100 * percent + total_bytes % 100 * percent / 100;
    }
    return bytes;
}

Result<MinFreeDisk, std::string> parse_min_free_disk(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return unexpected("--min-free-disk " + std::string(text) + ": " + why +
                          " (examples: 256MiB, 1GiB, 2%, 0 to turn the check off)");
    };
    std::uint64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end == text.data()) {
        return bad("not a whole number with a unit");
    }
    const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    MinFreeDisk out;
    if (unit == "%") {
        if (number == 0 || number >= 100) {
            return bad("a percentage must be 1..99");
        }
        out.bytes = 0;
        out.percent = static_cast<std::uint32_t>(number);
        return out;
    }
    struct Unit {
        std::string_view name;
        std::uint64_t factor;
    };
    static constexpr Unit kUnits[] = {{"", 1},
                                      {"B", 1},
                                      {"KiB", 1ULL << 10U},
                                      {"MiB", 1ULL << 20U},
                                      {"GiB", 1ULL << 30U},
                                      {"TiB", 1ULL << 40U},
                                      {"KB", 1000ULL},
                                      {"MB", 1000000ULL},
                                      {"GB", 1000000000ULL}};
    for (const Unit& candidate : kUnits) {
        if (candidate.name == unit) {
            if (number > std::numeric_limits<std::uint64_t>::max() / candidate.factor) {
                return bad("too large");
            }
            out.bytes = number * candidate.factor;
            return out;
        }
    }
    return bad("unknown unit '" + std::string(unit) + "'");
}

std::string format_bytes(std::uint64_t bytes) {
    static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        return std::to_string(bytes) + " bytes";
    }
    std::size_t unit = 0;
    std::uint64_t whole = bytes;
    std::uint64_t scale = 1;
    while (whole >= 1024 && unit + 1 < std::size(kUnits)) {
        whole /= 1024;
        scale *= 1024;
        ++unit;
    }
    const std::uint64_t tenths = (bytes % scale) * 10 / scale;  // truncated, never rounded up
    return std::to_string(whole) + "." + std::to_string(tenths) + " " + kUnits[unit];
}

std::string describe(const MinFreeDisk& minimum) {
    if (minimum.off()) {
        return "off";
    }
    if (minimum.percent > 0) {
        return std::to_string(minimum.percent) + " %";
    }
    return format_bytes(minimum.bytes);
}

Result<DiskSpace, std::string> free_disk(const std::string& path) {
    std::filesystem::path at(path);
    std::error_code ignored;
    while (!at.empty() && !std::filesystem::exists(at, ignored) && at.has_parent_path() &&
           at.parent_path() != at) {
        at = at.parent_path();
    }
    struct statvfs stats {};
    if (statvfs(at.empty() ? "." : at.c_str(), &stats) != 0) {
        return unexpected("cannot read the free space of " + path + ": " + std::strerror(errno));
    }
    DiskSpace out;
    out.free_bytes = static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
    out.total_bytes = static_cast<std::uint64_t>(stats.f_blocks) * stats.f_frsize;
    return out;
}

namespace {

std::string below_message(const std::string& owner, const std::string& path,
                          const MinFreeDisk& minimum, const DiskSpace& space) {
    return owner + ": only " + format_bytes(space.free_bytes) + " free on the disk of " + path +
           ", below --min-free-disk " + describe(minimum) + " (" +
           format_bytes(minimum.threshold(space.total_bytes)) + ")";
}

}  // namespace

Result<bool, std::string> DiskGuard::check(const std::string& owner, const std::string& path,
                                           MinFreeDisk minimum) {
    if (minimum.off()) {
        return true;
    }
    auto space = free_disk(path);
    if (!space || space->free_bytes >= minimum.threshold(space->total_bytes)) {
        return true;
    }
    return unexpected(below_message(owner, path, minimum, *space) +
                      "; free some space and start again");
}

bool DiskGuard::writable() {
    if (minimum_.off()) {
        return true;
    }
    auto space = free_disk(path_);
    if (!space) {
        return true;
    }
    last_free_ = space->free_bytes;
    const bool enough = space->free_bytes >= minimum_.threshold(space->total_bytes);
    if (!enough && !paused_) {
        spdlog::error(
            "{}; stopped writing (nothing is lost: consuming resumes by itself when "
            "space returns)",
            below_message(owner_, path_, minimum_, *space));
    } else if (enough && paused_) {
        spdlog::info("{}: {} free on the disk of {} again; resuming", owner_,
                     format_bytes(space->free_bytes), path_);
    }
    paused_ = !enough;
    return enough;
}

}  // namespace ul
