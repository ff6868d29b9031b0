// LineReader: reads newline-delimited messages from a file descriptor in large chunks, without a
// per-line allocation. Each line comes with how many bytes may be read from its start, so the
// JSON parser can skip copying it (simdjson needs padding past the end).
// Lifecycle: owns its buffer; a Line's text is valid until the next call to next().
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "schemas/result.h"

namespace ul {

struct Line {
    std::uint64_t number = 0;  // 1-based
    std::string_view text;     // without the newline (and without a trailing '\r')
    std::size_t readable = 0;  // bytes readable from text.data(), >= text.size()
    bool too_long = false;  // longer than the reader's line limit: text is empty, content skipped
    std::uint64_t length = 0;  // the line's length in bytes (also when too_long)
};

class LineReader {
  public:
    // `fd` is borrowed, not closed. Lines longer than `max_line_bytes` are reported too_long.
    LineReader(int fd, std::size_t max_line_bytes);
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // The next line, false at end of input. An I/O error is a Result error (errno text).
    Result<bool, std::string> next(Line& line);
    std::uint64_t bytes_read() const { return bytes_read_; }

  private:
    Result<bool, std::string> fill();

    int fd_;
    std::size_t max_line_bytes_;
    std::size_t capacity_;
    std::unique_ptr<char[]> buffer_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    bool eof_ = false;
    std::uint64_t line_number_ = 0;
    std::uint64_t bytes_read_ = 0;
};

}  // namespace ul
