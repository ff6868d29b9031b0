// LedgerStore: the append-only ledger in RocksDB (DESIGN.md, "The ledger store"; byte layouts
// and the crash-safety argument in ledger/README.md).
// Column families:
//   entries  (partition u32 BE, sequence u64 BE) → encoded ledger entry (schemas/canonical.h)
//   dedup    DedupKey (16 bytes, high then low, BE) → partition u32 BE, sequence u64 BE,
//            payload hash (16 bytes); hash memtable, bloom filters (10 bits/key)
//   dlq      (partition u32 BE, dead-letter sequence u64 BE) → a dead letter awaiting the relay
//   meta     "p" + partition u32 BE → PartitionState (64 bytes); "counters" → outcome counts;
//            "l" + hard-limit cell (ledger/limits.h, 24 bytes) → the cell's total (i64 BE µ);
//            "q" + lease cell (ledger/limits.h, 16 bytes) → the leases held (32 bytes each);
//            "w" + XXH3-128 of a tenant (16 bytes) → its credits wallet (schemas/wallet.h text);
//            "g" + partition u32 BE + from u64 BE + gap number u64 BE → gap record (to u64 BE);
//            the number counts the partition's earlier gaps, so every gap is its own row (stores
//            written before the number have 13-byte gap keys, still read)
// One poll batch becomes ONE WriteBatch holding the entries, dedup keys, dead letters, next
// source offsets and counters, written with sync by default: a crash at any instruction leaves
// either all of a batch or none of it, and the consumer resumes from the stored offsets.
// Hot path (apply): one sorted MultiGet per batch, no per-event heap allocation once the
// working buffers have grown to the batch size.
// Threading: one writer (apply, record_gap, set_outbox); not thread-safe, callers serialize.
// Reads (partitions, counts, read_entries, verify) from the writer's thread, or from a
// secondary instance (OpenMode::secondary), which may run in another process beside a live
// writer and follows it with catch_up().
#pragma once

#include <rocksdb/db.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "consumers/rocks_db.h"
#include "ledger/admission.h"
#include "ledger/changelog.h"
#include "ledger/limits.h"
#include "schemas/canonical.h"
#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

struct SourceMessage {
    std::uint32_t partition = 0;
    std::int64_t offset = 0;
    std::string_view key;     // the Kafka key (tenant_id by convention), kept for dead letters
    std::string_view value;   // the original bytes
    bool value_null = false;  // Kafka's NULL value (no bytes), as distinct from an empty one
};

struct LedgerStoreOptions {
    std::string path;
    bool sync = true;  // fsync every batch (group commit amortises it)
    std::size_t block_cache_bytes = 64U << 20U;
    // Per column family, two at most (entries and dedup fill them; meta and dlq barely).
    std::size_t write_buffer_bytes = 32U << 20U;
    ValidationOptions validation;
    // Hard limits (ledger/limits.h); nullptr: none (every meter is soft). Must outlive the store.
    const LimitPolicy* limits = nullptr;
    // Hard-limit totals held in memory after each write (~100 bytes each), so a batch reads only
    // the cells it has not seen lately; past the bound the cache is emptied and refills.
    std::size_t limit_cache_cells = 200'000;
};

using OpenMode = StoreMode;  // consumers/rocks_db.h

struct PartitionState {
    std::int64_t next_offset = -1;  // next source offset to consume; -1: none consumed yet
    std::uint64_t next_sequence = 0;
    PayloadHash chain_head;         // entry_hash of the last entry
    std::uint64_t outbox_next = 0;  // next sequence to publish to usage.ledger
    std::uint64_t dlq_next = 0;
    std::uint64_t dlq_outbox_next = 0;  // next dead letter to publish to usage.events.dlq
    // The usage.ledger offset up to which this store reflects the changelog (its own
    // acknowledged publishes, and what it adopted): where a rebuild starts reading.
    std::int64_t changelog_next = 0;
    OutcomeCounts counts;  // the partition's cumulative outcomes (meta "c" + partition)
};

struct Gap {
    std::uint32_t partition = 0;
    std::int64_t from = 0;  // first missing offset
    std::int64_t to = 0;    // first offset still available (exclusive end)
    // A log reset, not a gap: the stored offset was beyond the log's end (a new or emptied
    // broker, e.g. up's embedded one after a restart), so nothing known is missing.
    bool reset() const { return from > to; }
};

struct MessageOutcome {
    bool redelivery = false;  // below the stored offset: already counted, skipped
    Decision decision;
    // accepted: the new entry's ledger position; duplicate or conflict: the position of the
    // entry that won (stored earlier, or accepted earlier in this batch); invalid: the source
    // partition and the dead letter's sequence in the dlq outbox; redelivery: the source
    // partition only.
    std::uint32_t partition = 0;
    std::uint64_t sequence = 0;
    // duplicate or conflict: the first event with this key was rejected_limit, and
    // (partition, sequence) is its dead letter.
    bool first_rejected = false;
    // A hard limit applies to this event's (tenant, meter, period): its total once this event was
    // decided, the limit, and when the period ends.
    bool limited = false;
    std::int64_t used_micros = 0;
    std::int64_t limit_micros = 0;
    std::int64_t period_end_us = 0;
    // A lease operation (a concurrency meter, ledger/limits.h decide_leases): `limited` is set,
    // used/limit are the slots held after it and the meter's slots (× 10^6), and period_end_us
    // is LeaseResult::expires_us. A release says whether it found the lease held.
    bool lease = false;
    bool lease_release = false;
    bool lease_released = false;
    // A credits operation (schemas/wallet.h): the grant's amount or the burn's cost, the
    // tenant's balance after it, and what a soft burn could not cover.
    bool credits = false;
    std::int64_t credits_micros = 0;
    std::int64_t credits_balance_micros = 0;
    std::int64_t credits_uncovered_micros = 0;
};

struct DeadLetter {
    std::int64_t source_offset = 0;
    Reason reason = Reason::malformed_json;
    std::string_view detail;
    std::string_view key;
    std::string_view value;
    bool value_null = false;  // the message had a NULL value (`value` is empty)
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

    // Validates, admits and appends one poll batch atomically: messages of any partitions, each
    // at most once per batch. A message below its partition's stored next offset is a
    // redelivery: skipped, not counted again. Outcomes are per message, in batch order; they
    // stay valid until the next apply(). On error nothing was written (the batch can be
    // applied again).
    Result<std::span<const MessageOutcome>, std::string> apply(std::span<const SourceMessage> batch,
                                                               std::int64_t now_us);
    // Records that offsets [from, to) of `partition` are gone from Kafka and moves the next
    // offset to `to` (a `to` below `from`: the broker's log was reset; a gap of count 0).
    Result<bool, std::string> record_gap(std::uint32_t partition, std::int64_t from,
                                         std::int64_t to);
    // Advances the relays' watermarks (next entry to publish to usage.ledger, next dead letter
    // to publish to the DLQ topic) once Kafka acknowledged everything below them. Not synced:
    // a lost watermark repeats publishes, which consumers of those topics ignore.
    // `changelog_next` (≥ 0): the usage.ledger offset after the last acknowledged publish.
    Result<bool, std::string> set_outbox(std::uint32_t partition, std::uint64_t outbox_next,
                                         std::uint64_t dlq_outbox_next,
                                         std::int64_t changelog_next = -1);
    // Scale-out: adopts what another instance wrote to the changelog (ledger/changelog.h): the
    // entries (from this store's next sequence on, chain checked by PartitionRebuild) with
    // their dedup keys, and the marker's position, chain head and cumulative counts, in one
    // synced batch. The entries are published already: the outbox moves past them.
    Result<bool, std::string> adopt(std::uint32_t partition, const Adoption& adoption,
                                    std::int64_t changelog_next);

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
    rocksdb::DB* raw_db() { return db_->get(); }
    rocksdb::ColumnFamilyHandle* entries_family() { return entries_; }

  private:
    LedgerStore() = default;
    Result<bool, std::string> load_meta();
    PartitionState& working_state(std::uint32_t partition);
    Result<bool, std::string> lookup_dedup_keys();
    // Hard limits: loads the batch's cells' totals, turns accepted events past a limit into
    // rejected_limit, and fills the outcomes' limit fields.
    Result<bool, std::string> decide_limits();
    // Leases: loads the batch's lease rows, decides the operations in batch order, and fills the
    // outcomes' lease fields.
    Result<bool, std::string> decide_lease_ops();
    void add_lease_check(const UsageEvent& event, const DedupKey& key, std::int64_t limit_micros);
    // One meta row (a lease row, a wallet); nullopt when absent. `what` names it in errors.
    Result<std::optional<std::string>, std::string> read_meta_row(std::string_view key,
                                                                  std::string_view what) const;
    // read_meta_row for each of `keys`, in order: `use(index, row)` takes each present row and
    // returns an error text (which ends the reading) or nullopt.
    template <typename Keys, typename Use>
    Result<bool, std::string> read_meta_rows(const Keys& keys, std::string_view what,
                                             const Use& use) const;
    // Credits: the wallets of the batch's credit operations, decided in batch order.
    void add_credit_check(const UsageEvent& event, const CreditRule& rule);
    Result<bool, std::string> decide_credit_ops();
    void put_entries_in_key_order();

    LedgerStoreOptions options_;
    OpenMode mode_ = OpenMode::read_write;
    std::unique_ptr<RocksDb> db_;
    rocksdb::ColumnFamilyHandle* entries_ = nullptr;
    rocksdb::ColumnFamilyHandle* dedup_ = nullptr;
    rocksdb::ColumnFamilyHandle* dlq_ = nullptr;
    rocksdb::ColumnFamilyHandle* meta_ = nullptr;

    std::map<std::uint32_t, PartitionState> partitions_;
    OutcomeCounts counts_;
    std::vector<Gap> gaps_;

    // apply()'s working space, reused: no per-event allocation once grown to the batch size.
    EventValidator validator_;
    std::vector<std::pair<std::uint32_t, PartitionState>> touched_;
    std::size_t last_touched_ = 0;
    std::vector<Candidate> candidates_;
    std::vector<std::uint32_t> admitted_;   // batch index of each candidate
    std::vector<std::uint32_t> key_order_;  // valid candidates sorted by (dedup key, index)
    std::vector<StoredKey> stored_;
    std::vector<Decision> decisions_;
    std::vector<MessageOutcome> outcomes_;
    std::string canonical_;  // canonical events of the batch, back to back
    std::vector<std::pair<std::size_t, std::size_t>> canonical_spans_;
    std::string details_;  // validation details of the invalid candidates, back to back
    std::vector<std::pair<std::size_t, std::size_t>> detail_spans_;
    std::string dead_letter_;
    std::vector<LimitCheck> limit_checks_;  // per candidate
    std::vector<LimitCell> limit_cells_;    // the batch's distinct cells
    std::vector<LimitCellKey> limit_cell_keys_;
    struct LimitRequest {  // a limited candidate, before its cell is known
        LimitCellKey key;
        HardLimit limit;
        std::uint32_t candidate;
    };
    std::vector<LimitRequest> limit_requests_;  // sorted by key to make the cells
    // Lease operations of the batch, in batch order, and their distinct rows (few: leases are
    // rare next to usage events, so these allocate).
    std::vector<LeaseCheck> lease_checks_;
    std::vector<LeaseResult> lease_results_;
    std::vector<LeaseCell> lease_cells_;
    std::vector<LeaseCellKey> lease_cell_keys_;
    struct CreditCheck {  // owns its strings: the event's views die with the next validation
        std::uint32_t candidate = 0;
        std::uint32_t wallet = 0;
        CreditRule rule;
        bool grant = false;
        std::string id;
        std::string source;
        std::int32_t priority = 0;
        std::int64_t expires_us = 0;
        std::int64_t micros = 0;
        std::int64_t time_us = 0;
        bool bad = false;  // not a valid operation (detail in details_): dead-lettered
    };
    std::vector<CreditCheck> credit_checks_;
    std::vector<Wallet> wallets_;
    std::vector<WalletKey> wallet_keys_;
    struct RowKeyHash {  // lease and wallet keys: bytes 1-8 are already a hash
        std::size_t operator()(const std::array<char, 17>& key) const {
            std::uint64_t hash = 0;
            std::memcpy(&hash, key.data() + 1, sizeof hash);
            return static_cast<std::size_t>(hash);
        }
    };
    // The batch's rows by key (index into lease_cells_ / wallets_): one lookup per operation.
    std::unordered_map<LeaseCellKey, std::uint32_t, RowKeyHash> lease_cell_of_;
    std::unordered_map<WalletKey, std::uint32_t, RowKeyHash> wallet_of_;
    struct LimitKeyHash {  // the key's bytes 1-8 are already a hash
        std::size_t operator()(const LimitCellKey& key) const {
            std::uint64_t hash = 0;
            std::memcpy(&hash, key.data() + 1, sizeof hash);
            return static_cast<std::size_t>(hash ^ static_cast<std::uint8_t>(key[24]));
        }
    };
    std::unordered_map<LimitCellKey, std::int64_t, LimitKeyHash> limit_totals_;
    std::vector<std::size_t> limit_missed_;
    std::vector<rocksdb::Slice> limit_slices_;
    std::vector<rocksdb::PinnableSlice> limit_values_;
    std::vector<rocksdb::Status> limit_statuses_;
    std::vector<std::int64_t> limit_used_;
    std::vector<std::array<char, 16>> key_bytes_;
    std::vector<std::uint32_t> lookup_of_;  // candidate → its distinct key's MultiGet slot
    std::vector<rocksdb::Slice> key_slices_;
    std::vector<rocksdb::PinnableSlice> values_;
    std::vector<rocksdb::Status> statuses_;
    struct EntryPut {
        std::uint32_t partition;
        std::uint64_t sequence;
        std::size_t start;  // in entry_arena_
        std::size_t length;
    };
    std::string entry_arena_;
    std::vector<EntryPut> entry_puts_;
    std::vector<EntryPut> sorted_entry_puts_;
    std::vector<std::size_t> partition_starts_;
    rocksdb::WriteBatch batch_;
};

}  // namespace ul
