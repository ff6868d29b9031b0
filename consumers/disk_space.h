// Free disk space as a guard before each RocksDB write: a store must stop writing, with one clear
// error, well before the file system is full, because RocksDB (Debian's build keeps its
// assertions) aborts the process on ENOSPC instead of returning an error, also at every
// restart while the disk stays full.
// MinFreeDisk is the threshold (`--min-free-disk 256MiB`, `2%`, `0` = off); parse and
// describe are pure. free_disk() asks the file system (statvfs). DiskGuard remembers whether
// its owner is paused so it logs once when writing stops and once when it resumes.
// Threading: MinFreeDisk is a value; a DiskGuard belongs to one consuming thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/result.h"

namespace ul {

struct MinFreeDisk {
    std::uint64_t bytes = 256ULL << 20U;  // absolute threshold, used when percent == 0
    std::uint32_t percent = 0;            // 1..99: share of the file system's size
    bool off() const { return bytes == 0 && percent == 0; }
    // The threshold on a file system of `total_bytes`.
    std::uint64_t threshold(std::uint64_t total_bytes) const;
};

// "256MiB", "1GiB", "500MB", "4096" (bytes), "2%", "0" (off). Errors name the text.
Result<MinFreeDisk, std::string> parse_min_free_disk(std::string_view text);
// "256 MiB" / "2 %" — for messages.
std::string describe(const MinFreeDisk& minimum);
// "12.5 MiB" — bytes for people.
std::string format_bytes(std::uint64_t bytes);

struct DiskSpace {
    std::uint64_t free_bytes = 0;  // available to this (unprivileged) process
    std::uint64_t total_bytes = 0;
};
// The file system holding `path` (or its nearest existing parent).
Result<DiskSpace, std::string> free_disk(const std::string& path);

class DiskGuard {
  public:
    DiskGuard(std::string owner, std::string path, MinFreeDisk minimum)
        : owner_(std::move(owner)), path_(std::move(path)), minimum_(minimum) {}
    // True when writing may go on. When the space is below the threshold, logs one error
    // naming the free space, the threshold and the path (once per pause) and answers false;
    // logs once more when space returns. A file system that cannot be asked counts as enough.
    bool writable();
    bool paused() const { return paused_; }
    std::uint64_t last_free_bytes() const { return last_free_; }
    // The check for a store about to be opened: the error text when it is below the threshold.
    static Result<bool, std::string> check(const std::string& owner, const std::string& path,
                                           MinFreeDisk minimum);

  private:
    std::string owner_;
    std::string path_;
    MinFreeDisk minimum_;
    bool paused_ = false;
    std::uint64_t last_free_ = 0;
};

}  // namespace ul
