#include "ledger/changelog.h"

#include <simdjson.h>

#include <string>

namespace ul {
namespace {

void append_number(std::string& out, std::string_view name, std::uint64_t value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += std::to_string(value);
}

Result<std::uint64_t, std::string> unsigned_field(simdjson::dom::object& object,
                                                  std::string_view name) {
    std::uint64_t value = 0;
    if (object[name].get_uint64().get(value) != simdjson::SUCCESS) {
        return unexpected("progress marker: \"" + std::string(name) +
                          "\" is missing or not an unsigned integer");
    }
    return value;
}

}  // namespace

void append_progress_marker(const ProgressMarker& marker, std::string& out) {
    out += "{\"marker\":\"progress\",\"partition\":";
    out += std::to_string(marker.partition);
    out += ",\"next_offset\":";
    out += std::to_string(marker.next_offset);
    append_number(out, "next_sequence", marker.next_sequence);
    out += ",\"chain_head\":\"";
    out += to_hex(marker.chain_head);
    out += '"';
    append_number(out, "accepted", marker.counts.accepted);
    append_number(out, "duplicate", marker.counts.duplicate);
    append_number(out, "conflict", marker.counts.conflict);
    append_number(out, "dead_lettered", marker.counts.dead_lettered);
    out += ",\"dead_lettered_by_reason\":[";
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        if (index > 0) {
            out += ',';
        }
        out += std::to_string(marker.counts.dead_lettered_by_reason[index]);
    }
    out += "]}";
}

Result<ProgressMarker, std::string> decode_progress_marker(std::string_view encoded) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(encoded);
    simdjson::dom::object object;
    if (parser.parse(padded).get_object().get(object) != simdjson::SUCCESS) {
        return unexpected(std::string("progress marker: not a JSON object"));
    }
    std::string_view kind;
    if (object["marker"].get_string().get(kind) != simdjson::SUCCESS || kind != kProgressMarker) {
        return unexpected(std::string("progress marker: \"marker\" is not \"progress\""));
    }
    ProgressMarker marker;
    auto partition = unsigned_field(object, "partition");
    if (!partition) {
        return unexpected(partition.error());
    }
    if (*partition > 0xffffffffULL) {
        return unexpected(std::string("progress marker: partition out of range"));
    }
    marker.partition = static_cast<std::uint32_t>(*partition);
    std::int64_t next_offset = 0;
    if (object["next_offset"].get_int64().get(next_offset) != simdjson::SUCCESS ||
        next_offset < -1) {
        return unexpected(std::string("progress marker: \"next_offset\" is not an offset"));
    }
    marker.next_offset = next_offset;
    std::string_view head;
    if (object["chain_head"].get_string().get(head) != simdjson::SUCCESS) {
        return unexpected(std::string("progress marker: \"chain_head\" is missing"));
    }
    auto chain_head = hash_from_hex(head);
    if (!chain_head) {
        return unexpected("progress marker: chain_head: " + chain_head.error());
    }
    marker.chain_head = *chain_head;
    for (auto [name, field] :
         {std::pair<std::string_view, std::uint64_t*>{"next_sequence", &marker.next_sequence},
          {"accepted", &marker.counts.accepted},
          {"duplicate", &marker.counts.duplicate},
          {"conflict", &marker.counts.conflict},
          {"dead_lettered", &marker.counts.dead_lettered}}) {
        auto value = unsigned_field(object, name);
        if (!value) {
            return unexpected(value.error());
        }
        *field = *value;
    }
    simdjson::dom::array reasons;
    if (object["dead_lettered_by_reason"].get_array().get(reasons) != simdjson::SUCCESS ||
        reasons.size() < 13 || reasons.size() > kReasonCount) {
        // Markers written before limit_exceeded (the 14th reason) hold 13 counts.
        return unexpected("progress marker: \"dead_lettered_by_reason\" is not 13 to " +
                          std::to_string(kReasonCount) + " counts");
    }
    std::size_t index = 0;
    for (auto element : reasons) {
        if (element.get_uint64().get(marker.counts.dead_lettered_by_reason[index]) !=
            simdjson::SUCCESS) {
            return unexpected(std::string("progress marker: a dead-letter count is not a count"));
        }
        ++index;
    }
    return marker;
}

PartitionRebuild::PartitionRebuild(std::uint32_t partition, std::int64_t next_offset,
                                   std::uint64_t next_sequence, PayloadHash chain_head)
    : partition_(partition),
      next_offset_(next_offset),
      next_sequence_(next_sequence),
      chain_head_(chain_head) {}

Result<bool, std::string> PartitionRebuild::entry(std::string_view encoded) {
    auto decoded = decode_ledger_entry_header(encoded, /*read_prev_hash=*/false);
    if (!decoded) {
        return unexpected("usage.ledger partition " + std::to_string(partition_) +
                          ": not a ledger entry: " + decoded.error());
    }
    if (decoded->header.partition != partition_) {
        return unexpected("usage.ledger partition " + std::to_string(partition_) +
                          " holds an entry of partition " +
                          std::to_string(decoded->header.partition));
    }
    const std::uint64_t expected = next_sequence_ + pending_.size();
    const std::uint64_t sequence = decoded->header.sequence;
    if (sequence < expected) {
        return false;  // known already (ours, adopted, or a repeated publish)
    }
    if (sequence > expected) {
        return unexpected("usage.ledger partition " + std::to_string(partition_) +
                          " lacks ledger sequences " + std::to_string(expected) + ".." +
                          std::to_string(sequence - 1) +
                          " (the changelog cannot rebuild this partition)");
    }
    pending_.emplace_back(encoded);
    return true;
}

Result<std::optional<Adoption>, std::string> PartitionRebuild::marker(
    const ProgressMarker& marker) {
    if (marker.partition != partition_) {
        return unexpected("usage.ledger partition " + std::to_string(partition_) +
                          " holds a progress marker of partition " +
                          std::to_string(marker.partition));
    }
    if (marker.next_offset <= next_offset_) {
        return std::optional<Adoption>();  // not further along than what is known
    }
    const std::string where = "usage.ledger partition " + std::to_string(partition_) + ": ";
    if (marker.next_sequence < next_sequence_) {
        return unexpected(where + "a marker at source offset " +
                          std::to_string(marker.next_offset) + " has next sequence " +
                          std::to_string(marker.next_sequence) + ", below the " +
                          std::to_string(next_sequence_) +
                          " known: two histories of one partition (two writers at once?)");
    }
    const std::uint64_t count = marker.next_sequence - next_sequence_;
    if (count > pending_.size()) {
        return unexpected(where + "a marker names sequence " +
                          std::to_string(marker.next_sequence) + " but entries end at " +
                          std::to_string(next_sequence_ + pending_.size()));
    }
    Adoption adoption;
    adoption.marker = marker;
    adoption.entries.reserve(count);
    PayloadHash head = chain_head_;
    for (std::uint64_t index = 0; index < count; ++index) {
        auto decoded = decode_ledger_entry_header(pending_[index]);
        if (!decoded) {
            return unexpected(where + "entry does not decode: " + decoded.error());
        }
        if (!(decoded->header.prev_hash == head)) {
            return unexpected(where + "hash chain broken at sequence " +
                              std::to_string(decoded->header.sequence) +
                              " (the store and the changelog hold different histories)");
        }
        head = entry_hash(pending_[index]);
    }
    if (!(head == marker.chain_head)) {
        return unexpected(where + "the marker's chain head does not match its entries");
    }
    for (std::uint64_t index = 0; index < count; ++index) {
        adoption.entries.push_back(std::move(pending_[index]));
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
    next_sequence_ = marker.next_sequence;
    next_offset_ = marker.next_offset;
    chain_head_ = head;
    return std::optional<Adoption>(std::move(adoption));
}

}  // namespace ul
