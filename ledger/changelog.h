// usage.ledger as the ledger's changelog (scale-out): progress markers, and the pure rebuild of a
// partition's state from what the changelog holds. No Kafka, no RocksDB: the service reads the
// topic and the store writes what this decides (ledger/README.md, "Scale-out").
//
// After relaying a partition's entries, the relay appends a progress marker to the same
// usage.ledger partition (header `ledger-marker: progress`): the source position reached, the
// next sequence and chain head, and the partition's cumulative outcome counts. An instance that
// is assigned a partition reads the changelog from where its store knows it and adopts the most
// advanced marker's state with the entries before it. Entries after the last marker are not
// adopted: their source offsets are consumed again and, admission being deterministic, give
// the same entries at the same sequences (readers skip the repeats).
// Pure; not thread-safe (one rebuild per partition, on one thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/admission.h"
#include "schemas/canonical.h"
#include "schemas/result.h"

namespace ul {

inline constexpr std::string_view kMarkerHeader = "ledger-marker";
inline constexpr std::string_view kProgressMarker = "progress";

struct ProgressMarker {
    std::uint32_t partition = 0;
    std::int64_t next_offset = -1;  // next source offset of usage.events to consume
    std::uint64_t next_sequence = 0;
    PayloadHash chain_head;
    OutcomeCounts counts;  // the partition's cumulative outcomes, every instance's
    friend bool operator==(const ProgressMarker&, const ProgressMarker&) = default;
};

// {"marker":"progress","partition":3,"next_offset":120,"next_sequence":97,"chain_head":"<32
//  hex>","accepted":97,"duplicate":20,"conflict":1,"dead_lettered":2,"dead_lettered_by_reason":
//  [13 integers in Reason order]}
void append_progress_marker(const ProgressMarker& marker, std::string& out);
Result<ProgressMarker, std::string> decode_progress_marker(std::string_view encoded);

// What one advancing marker makes a store adopt: the entries from the store's next sequence up
// to the marker's, in order (chain checked), and the marker's state.
struct Adoption {
    std::vector<std::string> entries;
    ProgressMarker marker;
};

class PartitionRebuild {
  public:
    // The store's own state of the partition: next source offset, next sequence, chain head.
    PartitionRebuild(std::uint32_t partition, std::int64_t next_offset, std::uint64_t next_sequence,
                     PayloadHash chain_head);

    // An entry read from the changelog. Repeats (below what is known) are passed over; an entry
    // beyond the next expected sequence means the changelog lacks entries: an error.
    Result<bool, std::string> entry(std::string_view encoded);
    // A marker read from the changelog: when it is further along the source than anything known
    // so far, the entries up to it and its state are to be adopted (returned); otherwise nullopt.
    // An error when it contradicts the entries read (another history: a fork).
    Result<std::optional<Adoption>, std::string> marker(const ProgressMarker& marker);

    std::int64_t next_offset() const { return next_offset_; }
    std::uint64_t next_sequence() const { return next_sequence_; }

  private:
    std::uint32_t partition_;
    std::int64_t next_offset_;
    std::uint64_t next_sequence_;  // adopted so far
    PayloadHash chain_head_;
    std::vector<std::string> pending_;  // entries from next_sequence_ on, not yet adopted
};

}  // namespace ul
