// Cutting text for people and programs to read (error details, log lines, Kafka headers) without
// breaking its encoding. Pure; safe from any thread.
#pragma once

#include <charconv>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace ul {

// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// character: the cut backs off over continuation bytes (10xxxxxx) to the start of the character
// it would split, so a valid UTF-8 text gives a valid UTF-8 prefix and never a partial
// sequence. `text` itself when it fits. Every place that shortens a detail goes through here.
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

// `text` with every byte that starts no well-formed UTF-8 sequence (RFC 3629: no overlongs, no
// surrogates, at most U+10FFFF) replaced by U+FFFD: for echoing bytes someone else sent into
// JSON.
std::string valid_utf8(std::string_view text);

// Splits `line` at `separator` into exactly out.size() fields (the stored rows' text forms);
// false when it has fewer or more.
bool split_exact(std::string_view line, char separator, std::span<std::string_view> out);

// The whole of `text` as a decimal integer (from_chars: an optional '-', digits, no spaces);
// false when empty, partly numeric or out of range.
template <typename Integer>
bool parse_integer(std::string_view text, Integer& out) {
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && parsed.ec == std::errc() && parsed.ptr == text.data() + text.size();
}

}  // namespace ul
