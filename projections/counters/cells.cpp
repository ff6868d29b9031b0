#include "projections/counters/cells.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace ul {
namespace {

void put_u64_le(char* out, std::uint64_t value) {
    for (int index = 0; index < 8; ++index) {
        out[index] = static_cast<char>(value >> (8 * index));
    }
}

std::uint64_t get_u64_le(const char* in) {
    std::uint64_t value = 0;
    for (int index = 0; index < 8; ++index) {
        value |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[index])) << (8 * index);
    }
    return value;
}

// Big-endian with the sign bit flipped: byte order = numeric order.
void append_time(std::string& out, std::int64_t value) {
    const std::uint64_t bits = static_cast<std::uint64_t>(value) ^ (1ULL << 63U);
    for (int index = 7; index >= 0; --index) {
        out.push_back(static_cast<char>(bits >> (8 * index)));
    }
}

std::int64_t read_time(const char* in) {
    std::uint64_t bits = 0;
    for (int index = 0; index < 8; ++index) {
        bits = (bits << 8U) | static_cast<unsigned char>(in[index]);
    }
    return static_cast<std::int64_t>(bits ^ (1ULL << 63U));
}

// Splits "a\0b\0rest" into a, b and rest.
bool split_two(std::string_view bytes, std::string_view& first, std::string_view& second,
               std::string_view& rest) {
    const auto one = bytes.find('\0');
    if (one == std::string_view::npos) {
        return false;
    }
    const auto two = bytes.find('\0', one + 1);
    if (two == std::string_view::npos) {
        return false;
    }
    first = bytes.substr(0, one);
    second = bytes.substr(one + 1, two - one - 1);
    rest = bytes.substr(two + 1);
    return !first.empty() && !second.empty();
}

}  // namespace

Cell cell_of(Decimal quantity, std::int64_t timestamp_us) {
    Cell cell;
    cell.sum = DecimalSum::from_micros(quantity.micros());
    cell.count = 1;
    cell.max = quantity;
    cell.first_us = timestamp_us;
    cell.last_us = timestamp_us;
    return cell;
}

bool merge_cell(Cell& into, const Cell& from) {
    if (from.count == 0) {
        return true;
    }
    if (into.count == 0) {
        into = from;
        return true;
    }
    DecimalSum sum = into.sum;
    if (!sum.add(from.sum) || into.count > std::numeric_limits<std::uint64_t>::max() - from.count) {
        return false;
    }
    into.sum = sum;
    into.count += from.count;
    into.max = std::max(into.max, from.max);
    into.first_us = std::min(into.first_us, from.first_us);
    into.last_us = std::max(into.last_us, from.last_us);
    return true;
}

void encode_cell(const Cell& cell, char* out) {
    const auto sum = static_cast<unsigned __int128>(cell.sum.micros());
    put_u64_le(out, static_cast<std::uint64_t>(sum));
    put_u64_le(out + 8, static_cast<std::uint64_t>(sum >> 64U));
    put_u64_le(out + 16, cell.count);
    put_u64_le(out + 24, static_cast<std::uint64_t>(cell.max.micros()));
    put_u64_le(out + 32, static_cast<std::uint64_t>(cell.first_us));
    put_u64_le(out + 40, static_cast<std::uint64_t>(cell.last_us));
}

Result<Cell, std::string> decode_cell(std::string_view bytes) {
    if (bytes.size() != kCellBytes) {
        return unexpected("a cell is " + std::to_string(kCellBytes) + " bytes, not " +
                          std::to_string(bytes.size()));
    }
    const char* in = bytes.data();
    const unsigned __int128 sum =
        (static_cast<unsigned __int128>(get_u64_le(in + 8)) << 64U) | get_u64_le(in);
    Cell cell;
    cell.sum = DecimalSum::from_micros(static_cast<__int128>(sum));
    cell.count = get_u64_le(in + 16);
    cell.max = Decimal::from_micros(static_cast<std::int64_t>(get_u64_le(in + 24)));
    cell.first_us = static_cast<std::int64_t>(get_u64_le(in + 32));
    cell.last_us = static_cast<std::int64_t>(get_u64_le(in + 40));
    return cell;
}

void append_counter_key(const CounterKey& key, std::string& out) {
    out.append(key.tenant_id).push_back('\0');
    out.append(key.meter).push_back('\0');
    out.push_back(static_cast<char>(key.window));
    append_time(out, key.period_start_us);
}

Result<CounterKey, std::string> decode_counter_key(std::string_view bytes) {
    CounterKey key;
    std::string_view rest;
    if (!split_two(bytes, key.tenant_id, key.meter, rest) || rest.size() != 9 ||
        static_cast<unsigned char>(rest[0]) > static_cast<unsigned char>(WindowKind::month)) {
        return unexpected(std::string("not a counter key"));
    }
    key.window = static_cast<WindowKind>(rest[0]);
    key.period_start_us = read_time(rest.data() + 1);
    return key;
}

std::string counter_prefix(std::string_view tenant_id) {
    std::string out(tenant_id);
    out.push_back('\0');
    return out;
}

std::string counter_prefix(std::string_view tenant_id, std::string_view meter) {
    std::string out = counter_prefix(tenant_id);
    out.append(meter).push_back('\0');
    return out;
}

std::string counter_prefix(std::string_view tenant_id, std::string_view meter, WindowKind window) {
    std::string out = counter_prefix(tenant_id, meter);
    out.push_back(static_cast<char>(window));
    return out;
}

void append_breakdown_key(const BreakdownKey& key, std::string& out) {
    out.append(key.tenant_id).push_back('\0');
    out.append(key.meter).push_back('\0');
    append_time(out, key.day_start_us);
    out.append(key.property).push_back('\0');
    out.append(key.value);
}

Result<BreakdownKey, std::string> decode_breakdown_key(std::string_view bytes) {
    BreakdownKey key;
    std::string_view rest;
    if (!split_two(bytes, key.tenant_id, key.meter, rest) || rest.size() < 9) {
        return unexpected(std::string("not a breakdown key"));
    }
    key.day_start_us = read_time(rest.data());
    rest.remove_prefix(8);
    const auto separator = rest.find('\0');
    if (separator == std::string_view::npos || separator == 0) {
        return unexpected(std::string("not a breakdown key"));
    }
    key.property = rest.substr(0, separator);
    key.value = rest.substr(separator + 1);
    return key;
}

std::string breakdown_prefix(std::string_view tenant_id, std::string_view meter,
                             std::int64_t day_start_us) {
    std::string out = counter_prefix(tenant_id, meter);
    append_time(out, day_start_us);
    return out;
}

}  // namespace ul
