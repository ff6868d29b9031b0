#include "producers/line_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ul {
namespace {
constexpr std::size_t kChunkBytes = 4U << 20U;
constexpr std::size_t kPaddingBytes = 256;  // >= simdjson::SIMDJSON_PADDING (64)
}  // namespace

LineReader::LineReader(int fd, std::size_t max_line_bytes)
    : fd_(fd),
      max_line_bytes_(max_line_bytes),
      capacity_(kChunkBytes + max_line_bytes + kPaddingBytes),
      buffer_(std::make_unique<char[]>(capacity_)) {
    std::memset(buffer_.get(), ' ', capacity_);
}

Result<bool, std::string> LineReader::fill() {
    if (begin_ > 0) {
        std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    const std::size_t room = capacity_ - kPaddingBytes - end_;
    while (true) {
        const ssize_t got = ::read(fd_, buffer_.get() + end_, room);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return unexpected(std::string("read failed: ") + std::strerror(errno));
        }
        if (got == 0) {
            eof_ = true;
        }
        end_ += static_cast<std::size_t>(got);
        bytes_read_ += static_cast<std::uint64_t>(got);
        // Keep the padding after the data blank so a parser peeking past the end sees spaces.
        std::memset(buffer_.get() + end_, ' ', kPaddingBytes);
        return true;
    }
}

Result<bool, std::string> LineReader::next(Line& line) {
    bool skipping = false;  // inside a line longer than the limit: drop bytes until its newline
    std::uint64_t skipped = 0;
    while (true) {
        char* start = buffer_.get() + begin_;
        const std::size_t available = end_ - begin_;
        auto* newline = static_cast<char*>(std::memchr(start, '\n', available));
        if (newline != nullptr || (eof_ && available > 0) || (eof_ && skipping)) {
            const std::size_t length =
                newline != nullptr ? static_cast<std::size_t>(newline - start) : available;
            begin_ += length + (newline != nullptr ? 1 : 0);
            line = Line{};
            line.number = ++line_number_;
            if (skipping) {
                line.too_long = true;
                line.length = skipped + length;
                return true;
            }
            std::size_t text_length = length;
            if (text_length > 0 && start[text_length - 1] == '\r') {
                --text_length;
            }
            line.text = std::string_view(start, text_length);
            line.readable = capacity_ - static_cast<std::size_t>(start - buffer_.get());
            line.length = text_length;
            if (text_length > max_line_bytes_) {
                line.too_long = true;
                line.text = {};
            }
            return true;
        }
        if (eof_) {
            return false;
        }
        if (available > max_line_bytes_ + 1) {
            // No newline within the limit: report the line as too long, skip the rest of it.
            skipping = true;
            skipped += available;
            begin_ = end_;
        }
        auto filled = fill();
        if (!filled) {
            return filled;
        }
    }
}

}  // namespace ul
