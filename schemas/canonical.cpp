#include "schemas/canonical.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "schemas/time.h"

namespace ul {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_number_property(std::string& out, std::string_view token) {
    // Exact decimals get their canonical form; anything else keeps its raw token.
    const bool negative = !token.empty() && token.front() == '-';
    auto parsed = Decimal::parse_quantity(negative ? token.substr(1) : token);
    if (!parsed) {
        out.append(token);
        return;
    }
    char buffer[Decimal::kFormatBytes];
    if (negative && parsed->micros() != 0) {
        out += '-';
    }
    out.append(buffer, parsed->format(buffer));
}

constexpr std::size_t kHashHexBytes = 32;

// 32 lowercase hex digits, the high 64 bits first.
void write_hex(const PayloadHash& hash, char* out) {
    for (std::size_t index = 0; index < 16; ++index) {
        const std::size_t shift = 4 * (15 - index);
        out[index] = kHex[(hash.high >> shift) & 0xFU];
        out[16 + index] = kHex[(hash.low >> shift) & 0xFU];
    }
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    append_json_escaped(out, text);
    out += '"';
}

void append_json_escaped(std::string& out, std::string_view text) {
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20) {
            switch (c) {
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                case '\b':
                    out += "\\b";
                    break;
                case '\f':
                    out += "\\f";
                    break;
                default:
                    out += "\\u00";
                    out += kHex[byte >> 4U];
                    out += kHex[byte & 0x0FU];
            }
        } else {
            out += c;
        }
    }
}

void append_canonical_event(const UsageEvent& event, std::string& out) {
    out += "{\"idempotency_key\":";
    append_json_string(out, event.idempotency_key);
    out += ",\"tenant_id\":";
    append_json_string(out, event.tenant_id);
    if (event.has_subject) {
        out += ",\"subject\":";
        append_json_string(out, event.subject);
    }
    out += ",\"meter\":";
    append_json_string(out, event.meter);
    out += ",\"quantity\":\"";
    char buffer[Decimal::kFormatBytes];
    out.append(buffer, event.quantity.format(buffer));
    out += "\",\"timestamp\":\"";
    char time_buffer[kTimestampFormatBytes];
    out.append(time_buffer, format_rfc3339(event.timestamp_us, time_buffer));
    out += '"';
    if (event.property_count > 0) {
        std::array<std::size_t, kMaxProperties> order{};
        for (std::size_t index = 0; index < event.property_count; ++index) {
            order[index] = index;
        }
        std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(event.property_count),
                  [&event](std::size_t left, std::size_t right) {
                      return event.properties[left].key < event.properties[right].key;
                  });
        out += ",\"properties\":{";
        for (std::size_t index = 0; index < event.property_count; ++index) {
            const Property& property = event.properties[order[index]];
            if (index > 0) {
                out += ',';
            }
            append_json_string(out, property.key);
            out += ':';
            switch (property.kind) {
                case PropertyKind::string:
                    append_json_string(out, property.value);
                    break;
                case PropertyKind::number:
                    append_number_property(out, property.value);
                    break;
                case PropertyKind::boolean:
                    out.append(property.value);
                    break;
            }
        }
        out += '}';
    }
    out += '}';
}

PayloadHash hash_bytes(std::string_view bytes) {
    const XXH128_hash_t hash = XXH3_128bits(bytes.data(), bytes.size());
    return PayloadHash{hash.high64, hash.low64};
}

PayloadHash payload_hash(const UsageEvent& event) {
    thread_local std::string buffer;
    buffer.clear();
    append_canonical_event(event, buffer);
    return hash_bytes(buffer);
}

std::string to_hex(const PayloadHash& hash) {
    std::string out(kHashHexBytes, '0');
    write_hex(hash, out.data());
    return out;
}

std::string hex_encode(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4U]);
        out.push_back(kDigits[c & 15U]);
    }
    return out;
}

std::optional<std::string> hex_decode(std::string_view text) {
    auto digit = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    if (text.size() % 2 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 2);
    for (std::size_t index = 0; index < text.size(); index += 2) {
        const int high = digit(text[index]);
        const int low = digit(text[index + 1]);
        if (high < 0 || low < 0) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(high * 16 + low));
    }
    return out;
}

Result<PayloadHash, std::string> hash_from_hex(std::string_view hex) {
    if (hex.size() != 32) {
        return unexpected(std::string("a hash is 32 hex digits"));
    }
    PayloadHash hash;
    for (std::size_t index = 0; index < 32; ++index) {
        const char c = hex[index];
        std::uint64_t nibble = 0;
        if (c >= '0' && c <= '9') {
            nibble = static_cast<std::uint64_t>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            nibble = static_cast<std::uint64_t>(c - 'a') + 10;
        } else {
            return unexpected(std::string("a hash is 32 lowercase hex digits"));
        }
        std::uint64_t& half = index < 16 ? hash.high : hash.low;
        half = (half << 4U) | nibble;
    }
    return hash;
}

namespace {
void append_ledger_entry_header(const LedgerEntryHeader& header, std::string& out) {
    out += "{\"partition\":";
    append_integer(out, header.partition);
    out += ",\"sequence\":";
    append_integer(out, header.sequence);
    out += ",\"source_offset\":";
    append_integer(out, header.source_offset);
    out += ",\"prev_hash\":\"";
    char hex[kHashHexBytes];
    write_hex(header.prev_hash, hex);
    out.append(hex, kHashHexBytes);
    out += "\",\"event\":";
}
}  // namespace

void append_ledger_entry(const LedgerEntryHeader& header, const UsageEvent& event,
                         std::string& out) {
    append_ledger_entry_header(header, out);
    append_canonical_event(event, out);
    out += '}';
}

void append_ledger_entry_canonical(const LedgerEntryHeader& header,
                                   std::string_view canonical_event, std::string& out) {
    append_ledger_entry_header(header, out);
    out.append(canonical_event);
    out += '}';
}

PayloadHash entry_hash(std::string_view encoded_entry) {
    return hash_bytes(encoded_entry);
}

Result<DecodedLedgerEntry, std::string> decode_ledger_entry_header(std::string_view encoded,
                                                                   bool read_prev_hash) {
    DecodedLedgerEntry decoded;
    std::string_view rest = encoded;
    auto expect = [&rest](std::string_view literal) {
        if (rest.substr(0, literal.size()) != literal) {
            return false;
        }
        rest.remove_prefix(literal.size());
        return true;
    };
    auto number = [&rest](auto& value) {
        const auto result = std::from_chars(rest.data(), rest.data() + rest.size(), value);
        if (result.ec != std::errc() || result.ptr == rest.data()) {
            return false;
        }
        // Canonical integers only: no leading zeros, no "-0".
        const std::string_view digits(rest.data(),
                                      static_cast<std::size_t>(result.ptr - rest.data()));
        const std::string_view magnitude = digits.front() == '-' ? digits.substr(1) : digits;
        if ((magnitude.size() > 1 && magnitude.front() == '0') || digits == "-0") {
            return false;
        }
        rest.remove_prefix(static_cast<std::size_t>(result.ptr - rest.data()));
        return true;
    };
    if (!expect("{\"partition\":") || !number(decoded.header.partition) ||
        !expect(",\"sequence\":") || !number(decoded.header.sequence) ||
        !expect(",\"source_offset\":") || !number(decoded.header.source_offset) ||
        !expect(",\"prev_hash\":\"") || rest.size() < kHashHexBytes) {
        return unexpected(std::string("not a ledger entry header"));
    }
    if (read_prev_hash) {
        auto previous = hash_from_hex(rest.substr(0, kHashHexBytes));
        if (!previous) {
            return unexpected(previous.error());
        }
        decoded.header.prev_hash = *previous;
    }
    rest.remove_prefix(kHashHexBytes);
    if (!expect("\",\"event\":") || rest.size() < 3 || rest.front() != '{' ||
        rest.substr(rest.size() - 2) != "}}") {
        return unexpected(std::string("not a ledger entry"));
    }
    decoded.event_json = rest.substr(0, rest.size() - 1);
    return decoded;
}

std::string_view canonical_tenant_id(std::string_view canonical) {
    constexpr std::string_view kField = "\"tenant_id\":\"";
    const auto start = canonical.find(kField);
    if (start == std::string_view::npos) {
        return {};
    }
    const auto from = start + kField.size();
    const auto end = canonical.find('"', from);
    return end == std::string_view::npos ? std::string_view{} : canonical.substr(from, end - from);
}

namespace {

// A forward reader over canonical bytes.
class CanonicalReader {
  public:
    CanonicalReader(std::string_view text, std::string& unescaped)
        : text_(text), unescaped_(unescaped) {}
    bool literal(std::string_view expected) {
        if (text_.substr(at_, expected.size()) != expected) {
            return false;
        }
        at_ += expected.size();
        return true;
    }
    bool peek(char c) const { return at_ < text_.size() && text_[at_] == c; }
    bool done() const { return at_ == text_.size(); }
    // A JSON string as the canonical form escapes it; its unescaped value.
    bool string(std::string_view& out) {
        if (!literal("\"")) {
            return false;
        }
        const std::size_t start = at_;
        std::size_t end = start;
        while (end < text_.size() && text_[end] != '"' && text_[end] != '\\') {
            ++end;
        }
        if (end == text_.size()) {
            return false;
        }
        if (text_[end] == '"') {
            out = text_.substr(start, end - start);
            at_ = end + 1;
            return true;
        }
        const std::size_t from = unescaped_.size();  // capacity reserved: views stay valid
        for (std::size_t index = start; index < text_.size(); ++index) {
            const char c = text_[index];
            if (c == '"') {
                out = std::string_view(unescaped_).substr(from);
                at_ = index + 1;
                return true;
            }
            if (c != '\\') {
                unescaped_.push_back(c);
                continue;
            }
            if (++index >= text_.size()) {
                return false;
            }
            switch (text_[index]) {
                case '"':
                    unescaped_.push_back('"');
                    break;
                case '\\':
                    unescaped_.push_back('\\');
                    break;
                case 'n':
                    unescaped_.push_back('\n');
                    break;
                case 'r':
                    unescaped_.push_back('\r');
                    break;
                case 't':
                    unescaped_.push_back('\t');
                    break;
                case 'b':
                    unescaped_.push_back('\b');
                    break;
                case 'f':
                    unescaped_.push_back('\f');
                    break;
                case 'u': {  // only C0 controls: \u00XX, lowercase hex
                    if (text_.substr(index + 1, 2) != "00" || index + 4 >= text_.size()) {
                        return false;
                    }
                    const int high = hex_digit(text_[index + 3]);
                    const int low = hex_digit(text_[index + 4]);
                    if (high < 0 || high > 1 || low < 0) {
                        return false;
                    }
                    unescaped_.push_back(static_cast<char>(high * 16 + low));
                    index += 4;
                    break;
                }
                default:
                    return false;
            }
        }
        return false;
    }
    // Up to (not including) the first of `stops`.
    std::string_view until(char stop, char other = '"') {
        std::size_t end = at_;
        while (end < text_.size() && text_[end] != stop && text_[end] != other) {
            ++end;
        }
        const std::string_view out = text_.substr(at_, end - at_);
        at_ = end;
        return out;
    }

  private:
    static int hex_digit(char c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        return -1;
    }
    std::string_view text_;
    std::string& unescaped_;
    std::size_t at_ = 0;
};

}  // namespace

Result<bool, std::string> decode_canonical_event(std::string_view canonical, UsageEvent& event,
                                                 std::string& unescaped) {
    unescaped.clear();
    unescaped.reserve(canonical.size());  // no reallocation below: views into it stay valid
    CanonicalReader in(canonical, unescaped);
    auto fail = [](const char* what) -> Result<bool, std::string> {
        return unexpected("not a canonical event: " + std::string(what));
    };
    event.has_subject = false;
    event.subject = {};
    event.property_count = 0;
    if (!in.literal("{\"idempotency_key\":") || !in.string(event.idempotency_key) ||
        !in.literal(",\"tenant_id\":") || !in.string(event.tenant_id)) {
        return fail("key or tenant");
    }
    if (in.literal(",\"subject\":")) {
        if (!in.string(event.subject)) {
            return fail("subject");
        }
        event.has_subject = true;
    }
    if (!in.literal(",\"meter\":") || !in.string(event.meter) || !in.literal(",\"quantity\":\"")) {
        return fail("meter");
    }
    auto quantity = Decimal::parse_quantity(in.until('"'));
    if (!quantity || !in.literal("\",\"timestamp\":\"")) {
        return fail("quantity");
    }
    event.quantity = *quantity;
    auto timestamp = parse_rfc3339(in.until('"'));
    if (!timestamp || !in.literal("\"")) {
        return fail("timestamp");
    }
    event.timestamp_us = *timestamp;
    if (in.literal(",\"properties\":{")) {
        do {
            if (event.property_count == kMaxProperties) {
                return fail("properties");
            }
            Property& property = event.properties[event.property_count++];
            if (!in.string(property.key) || !in.literal(":")) {
                return fail("property key");
            }
            if (in.peek('"')) {
                property.kind = PropertyKind::string;
                if (!in.string(property.value)) {
                    return fail("property value");
                }
            } else {
                property.value = in.until(',', '}');
                property.kind = property.value == "true" || property.value == "false"
                                    ? PropertyKind::boolean
                                    : PropertyKind::number;
                if (property.value.empty()) {
                    return fail("property value");
                }
            }
        } while (in.literal(","));
        if (!in.literal("}")) {
            return fail("properties");
        }
    }
    if (!in.literal("}") || !in.done()) {
        return fail("trailing bytes");
    }
    return true;
}

}  // namespace ul
