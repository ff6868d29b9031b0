// LedgerStore: the append-only ledger in RocksDB (DESIGN.md, "The ledger store").
// Column families:
//   entries  (partition u32 BE, sequence u64 BE) → encoded ledger entry (schemas/canonical.h)
//   dedup    DedupKey (16 bytes, high then low, BE) → partition u32 BE, sequence u64 BE,
//            payload hash (16 bytes); bloom filter 10 bits/key
//   dlq      (partition u32 BE, dead-letter sequence u64 BE) → a dead letter awaiting the DLQ relay
//   meta     "p" + partition u32 BE → PartitionState (64 bytes, see ledger/README.md);
//            "counters" → outcome counts; "g" + partition u32 BE + from i64 BE → gap record
// One poll batch becomes ONE WriteBatch holding the entries, dedup keys, dead letters, next
// source offsets and counters, written with sync by default: a crash at any instruction leaves
// either all of a batch or none of it, and the consumer resumes from the stored offsets.
// Threading: one writer (apply, record_gap, set_outbox); callers serialize. A secondary
// (read-only) instance may run in another process beside a live writer.
#pragma once

#include <rocksdb/db.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/admission.h"
#include "schemas/canonical.h"
#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

struct SourceMessage {
    std::uint32_t partition = 0;
    std::int64_t offset = 0;
    std::string_view key;    // the Kafka key (tenant_id by convention), kept for dead letters
    std::string_view value;  // the original bytes
};

struct LedgerStoreOptions {
    std::string path;
    bool sync = true;  // fsync every batch (group commit amortises it)
    std::size_t block_cache_bytes = 64U << 20U;
    std::size_t write_buffer_bytes = 16U << 20U;  // per column family, two at most
    ValidationOptions validation;
};

enum class OpenMode { read_write, secondary };

struct PartitionState {
    std::int64_t next_offset = -1;  // next source offset to consume; -1: none consumed yet
    std::uint64_t next_sequence = 0;
    PayloadHash chain_head;         // entry_hash of the last entry
    std::uint64_t outbox_next = 0;  // next sequence to publish to usage.ledger
    std::uint64_t dlq_next = 0;
    std::uint64_t dlq_outbox_next = 0;  // next dead letter to publish to usage.events.dlq
};

struct Gap {
    std::uint32_t partition = 0;
    std::int64_t from = 0;  // first missing offset
    std::int64_t to = 0;    // first offset still available (exclusive end)
};

struct MessageOutcome {
    bool redelivery = false;  // below the stored offset: already counted, skipped
    Decision decision;
    std::uint32_t partition = 0;
    std::uint64_t sequence = 0;  // when accepted
};

struct DeadLetter {
    std::int64_t source_offset = 0;
    Reason reason = Reason::malformed_json;
    std::string_view detail;
    std::string_view key;
    std::string_view value;
};

struct VerifyReport {
    bool ok = true;
    std::string problem;  // the first problem found
    std::uint32_t partition = 0;
    std::uint64_t sequence = 0;
    std::uint64_t entries = 0;
    std::uint64_t dedup_keys = 0;
};

class LedgerStore {
  public:
    static Result<std::unique_ptr<LedgerStore>, std::string> open(const LedgerStoreOptions& options,
                                                                  OpenMode mode);
    ~LedgerStore();
    LedgerStore(const LedgerStore&) = delete;
    LedgerStore& operator=(const LedgerStore&) = delete;

    // Validates, admits and appends one poll batch atomically. Outcomes are per message, in
    // order; they stay valid until the next apply().
    Result<std::span<const MessageOutcome>, std::string> apply(std::span<const SourceMessage> batch,
                                                               std::int64_t now_us);
    // Records that offsets [from, to) of `partition` are gone from Kafka and moves past them.
    Result<bool, std::string> record_gap(std::uint32_t partition, std::int64_t from,
                                         std::int64_t to);
    Result<bool, std::string> set_outbox(std::uint32_t partition, std::uint64_t outbox_next,
                                         std::uint64_t dlq_outbox_next);
    // Secondary instances: catch up with the writer and reload the meta state.
    Result<bool, std::string> catch_up();

    const std::map<std::uint32_t, PartitionState>& partitions() const { return partitions_; }
    PartitionState partition(std::uint32_t partition) const;
    const OutcomeCounts& counts() const { return counts_; }
    const std::vector<Gap>& gaps() const { return gaps_; }

    // Reads up to `max` entries of `partition` from sequence `from`, in order.
    Result<std::size_t, std::string> read_entries(
        std::uint32_t partition, std::uint64_t from, std::size_t max,
        const std::function<void(std::uint64_t sequence, std::string_view entry)>& visit) const;
    Result<std::size_t, std::string> read_dead_letters(
        std::uint32_t partition, std::uint64_t from, std::size_t max,
        const std::function<void(std::uint64_t sequence, const DeadLetter& letter)>& visit) const;
    // Every entry in (partition, sequence) order.
    Result<std::uint64_t, std::string> for_each_entry(
        const std::function<void(std::string_view entry)>& visit) const;

    // Hash chain intact, sequences dense from 0, dedup keys and entries agree, meta agrees.
    VerifyReport verify() const;

    // For tests that prove tampering is detected.
    rocksdb::DB* raw_db() { return db_.get(); }
    rocksdb::ColumnFamilyHandle* entries_family() { return entries_; }

  private:
    LedgerStore() = default;
    Result<bool, std::string> load_meta();

    LedgerStoreOptions options_;
    OpenMode mode_ = OpenMode::read_write;
    std::string secondary_path_;
    std::unique_ptr<rocksdb::DB> db_;
    rocksdb::ColumnFamilyHandle* entries_ = nullptr;
    rocksdb::ColumnFamilyHandle* dedup_ = nullptr;
    rocksdb::ColumnFamilyHandle* dlq_ = nullptr;
    rocksdb::ColumnFamilyHandle* meta_ = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;

    std::map<std::uint32_t, PartitionState> partitions_;
    OutcomeCounts counts_;
    std::vector<Gap> gaps_;

    // Reused per batch: no per-event allocation once grown.
    EventValidator validator_;
    Admitter admitter_;
    std::vector<Candidate> candidates_;
    std::vector<StoredKey> stored_;
    std::vector<Decision> decisions_;
    std::vector<MessageOutcome> outcomes_;
    std::vector<std::uint32_t> admitted_;  // batch index of each candidate
    std::vector<std::pair<std::size_t, std::size_t>> canonical_spans_;
    std::vector<std::string> invalid_details_;
    std::string canonical_;
    struct EntryPut {
        std::array<char, 12> key;
        std::size_t start;
        std::size_t length;
    };
    struct DedupPut {
        std::array<char, 16> key;
        std::array<char, 28> value;
    };
    std::string entry_arena_;
    std::vector<EntryPut> entry_puts_;
    std::vector<DedupPut> dedup_puts_;
    std::vector<std::array<char, 16>> key_bytes_;
    std::vector<rocksdb::Slice> key_slices_;
    std::vector<rocksdb::PinnableSlice> values_;
    std::vector<rocksdb::Status> statuses_;
    rocksdb::WriteBatch batch_;
};

}  // namespace ul
