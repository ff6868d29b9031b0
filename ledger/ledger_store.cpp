#include "ledger/ledger_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "ledger/hash_memtable.h"
#include "schemas/check.h"
#include "schemas/text.h"

namespace ul {
namespace {

constexpr std::size_t kPartitionStateBytes = 64;
constexpr std::size_t kDedupKeyBytes = 16;
constexpr std::size_t kDedupValueBytes = 28;
constexpr std::size_t kMultiGetSlice = 32;  // rocksdb::MultiGetContext::MAX_BATCH_SIZE
constexpr std::size_t kMaxDetailBytes = 1024;
// A dedup key in a memtable: internal key (16 + 8), value (28), two lengths, two links: ~72
// bytes; one hash bucket (8 bytes) per 128 bytes of write buffer keeps chains ~one node long.
constexpr std::size_t kDedupMemtableBytesPerKey = 128;

enum class FamilyKind { dedup, other };
constexpr std::string_view kCountersKey = "counters";

void put_u32(char* out, std::uint32_t value) {
    for (int index = 0; index < 4; ++index) {
        out[index] = static_cast<char>(value >> (8 * (3 - index)));
    }
}
void put_u64(char* out, std::uint64_t value) {
    for (int index = 0; index < 8; ++index) {
        out[index] = static_cast<char>(value >> (8 * (7 - index)));
    }
}
std::uint32_t get_u32(const char* in) {
    std::uint32_t value = 0;
    for (int index = 0; index < 4; ++index) {
        value = (value << 8U) | static_cast<unsigned char>(in[index]);
    }
    return value;
}
std::uint64_t get_u64(const char* in) {
    std::uint64_t value = 0;
    for (int index = 0; index < 8; ++index) {
        value = (value << 8U) | static_cast<unsigned char>(in[index]);
    }
    return value;
}

std::array<char, 12> position_key(std::uint32_t partition, std::uint64_t sequence) {
    std::array<char, 12> key{};
    put_u32(key.data(), partition);
    put_u64(key.data() + 4, sequence);
    return key;
}

std::array<char, 5> partition_meta_key(std::uint32_t partition) {
    std::array<char, 5> key{'p'};
    put_u32(key.data() + 1, partition);
    return key;
}

std::array<char, kPartitionStateBytes> encode_state(const PartitionState& state) {
    std::array<char, kPartitionStateBytes> out{};
    put_u64(out.data(), static_cast<std::uint64_t>(state.next_offset));
    put_u64(out.data() + 8, state.next_sequence);
    put_u64(out.data() + 16, state.chain_head.high);
    put_u64(out.data() + 24, state.chain_head.low);
    put_u64(out.data() + 32, state.outbox_next);
    put_u64(out.data() + 40, state.dlq_next);
    put_u64(out.data() + 48, state.dlq_outbox_next);
    put_u64(out.data() + 56, static_cast<std::uint64_t>(state.changelog_next));
    return out;
}

PartitionState decode_state(std::string_view in) {
    PartitionState state;
    if (in.size() < kPartitionStateBytes) {
        return state;
    }
    state.next_offset = static_cast<std::int64_t>(get_u64(in.data()));
    state.next_sequence = get_u64(in.data() + 8);
    state.chain_head = PayloadHash{get_u64(in.data() + 16), get_u64(in.data() + 24)};
    state.outbox_next = get_u64(in.data() + 32);
    state.dlq_next = get_u64(in.data() + 40);
    state.dlq_outbox_next = get_u64(in.data() + 48);
    state.changelog_next = static_cast<std::int64_t>(get_u64(in.data() + 56));
    return state;
}

constexpr std::size_t kCountsBytes = 8 * (4 + kReasonCount);
// Stores written before limit_exceeded (the 14th reason) hold 13 reason counts.
constexpr std::size_t kOldestCountsBytes = std::size_t{8} * (4 + 13);

std::array<char, kCountsBytes> encode_counts(const OutcomeCounts& counts) {
    std::array<char, kCountsBytes> out{};
    put_u64(out.data(), counts.accepted);
    put_u64(out.data() + 8, counts.duplicate);
    put_u64(out.data() + 16, counts.conflict);
    put_u64(out.data() + 24, counts.dead_lettered);
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        put_u64(out.data() + 32 + 8 * index, counts.dead_lettered_by_reason[index]);
    }
    return out;
}

OutcomeCounts decode_counts(std::string_view in) {
    OutcomeCounts counts;
    if (in.size() < kOldestCountsBytes) {
        return counts;
    }
    const std::size_t reasons = std::min(kReasonCount, (in.size() - 32) / 8);
    counts.accepted = get_u64(in.data());
    counts.duplicate = get_u64(in.data() + 8);
    counts.conflict = get_u64(in.data() + 16);
    counts.dead_lettered = get_u64(in.data() + 24);
    for (std::size_t index = 0; index < reasons; ++index) {
        counts.dead_lettered_by_reason[index] = get_u64(in.data() + 32 + 8 * index);
    }
    return counts;
}

std::array<char, 5> partition_counts_key(std::uint32_t partition) {
    std::array<char, 5> key{'c'};
    put_u32(key.data() + 1, partition);
    return key;
}

// total − before + after, field by field (total ≥ before: the partition's counts are part of it).
OutcomeCounts replace_counts(const OutcomeCounts& total, const OutcomeCounts& before,
                             const OutcomeCounts& after) {
    auto swap = [](std::uint64_t sum, std::uint64_t old, std::uint64_t now) {
        return (sum >= old ? sum - old : 0) + now;
    };
    OutcomeCounts out;
    out.accepted = swap(total.accepted, before.accepted, after.accepted);
    out.duplicate = swap(total.duplicate, before.duplicate, after.duplicate);
    out.conflict = swap(total.conflict, before.conflict, after.conflict);
    out.dead_lettered = swap(total.dead_lettered, before.dead_lettered, after.dead_lettered);
    for (std::size_t index = 0; index < kReasonCount; ++index) {
        out.dead_lettered_by_reason[index] =
            swap(total.dead_lettered_by_reason[index], before.dead_lettered_by_reason[index],
                 after.dead_lettered_by_reason[index]);
    }
    return out;
}

// A partition's state and its counts into `batch` (apply and adopt).
void put_partition_state(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* meta,
                         std::uint32_t partition, const PartitionState& state) {
    const auto key = partition_meta_key(partition);
    const auto value = encode_state(state);
    batch.Put(meta, rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(value.data(), value.size()));
    const auto counts_key = partition_counts_key(partition);
    const auto counts = encode_counts(state.counts);
    batch.Put(meta, rocksdb::Slice(counts_key.data(), counts_key.size()),
              rocksdb::Slice(counts.data(), counts.size()));
}

void put_totals(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* meta,
                const OutcomeCounts& totals) {
    const auto value = encode_counts(totals);
    batch.Put(meta, rocksdb::Slice(kCountersKey.data(), kCountersKey.size()),
              rocksdb::Slice(value.data(), value.size()));
}

std::array<char, 16> dedup_bytes(const DedupKey& key) {
    std::array<char, 16> out{};
    put_u64(out.data(), key.high);
    put_u64(out.data() + 8, key.low);
    return out;
}

// A dedup value whose sequence has this bit names a rejected_limit event's dead letter.
constexpr std::uint64_t kRejectedBit = std::uint64_t{1} << 63U;

std::array<char, 28> dedup_value(std::uint32_t partition, std::uint64_t sequence,
                                 const PayloadHash& payload) {
    std::array<char, 28> out{};
    put_u32(out.data(), partition);
    put_u64(out.data() + 4, sequence);
    put_u64(out.data() + 12, payload.high);
    put_u64(out.data() + 20, payload.low);
    return out;
}

// Dead letter value: offset u64 | reason u8 (high bit: the value was NULL, not empty; never set
// by older versions) | detail length u16 | key length u32 | detail | key | value
constexpr unsigned kNullValueBit = 0x80U;

void encode_dead_letter(const DeadLetter& letter, std::string& out) {
    out.clear();
    out.resize(15);
    put_u64(out.data(), static_cast<std::uint64_t>(letter.source_offset));
    static_assert(kReasonCount < kNullValueBit, "reason codes fit below the null-value bit");
    out[8] = static_cast<char>(static_cast<unsigned>(letter.reason) |
                               (letter.value_null ? kNullValueBit : 0U));
    const auto detail_size =
        static_cast<std::uint16_t>(utf8_prefix(letter.detail, kMaxDetailBytes).size());
    out[9] = static_cast<char>(detail_size >> 8U);
    out[10] = static_cast<char>(detail_size & 0xFFU);
    put_u32(out.data() + 11, static_cast<std::uint32_t>(letter.key.size()));
    out.append(letter.detail.substr(0, detail_size));
    out.append(letter.key);
    out.append(letter.value);
}

bool decode_dead_letter(std::string_view in, DeadLetter& letter) {
    if (in.size() < 15) {
        return false;
    }
    letter.source_offset = static_cast<std::int64_t>(get_u64(in.data()));
    const auto reason_byte = static_cast<unsigned char>(in[8]);
    letter.reason = static_cast<Reason>(reason_byte & ~kNullValueBit);
    letter.value_null = (reason_byte & kNullValueBit) != 0;
    const std::size_t detail_size =
        (static_cast<unsigned char>(in[9]) << 8U) | static_cast<unsigned char>(in[10]);
    const std::size_t key_size = get_u32(in.data() + 11);
    if (in.size() < 15 + detail_size + key_size) {
        return false;
    }
    letter.detail = in.substr(15, detail_size);
    letter.key = in.substr(15 + detail_size, key_size);
    letter.value = in.substr(15 + detail_size + key_size);
    return true;
}

}  // namespace

LedgerStore::~LedgerStore() {
    values_.clear();  // pinned blocks must be released while the DB (and its cache) lives
    db_.reset();
}

Result<std::unique_ptr<LedgerStore>, std::string> LedgerStore::open(
    const LedgerStoreOptions& options, OpenMode mode) {
    std::unique_ptr<LedgerStore> store(new LedgerStore());
    store->options_ = options;
    store->mode_ = mode;
    store->validator_ = EventValidator(options.validation);

    rocksdb::Options db_options = base_store_options(mode, options.write_buffer_bytes);
    // One writer; also required by the dedup family's hash memtable.
    db_options.allow_concurrent_memtable_write = false;
    auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    auto family_options = [&](FamilyKind kind) {
        rocksdb::ColumnFamilyOptions family;
        family.write_buffer_size = options.write_buffer_bytes;
        family.max_write_buffer_number = 2;
        family.compression = rocksdb::kLZ4Compression;
        rocksdb::BlockBasedTableOptions table;
        table.block_cache = cache;
        table.cache_index_and_filter_blocks = true;  // memory bounded by the cache size
        if (kind == FamilyKind::dedup) {
            // Keys are uniformly random hashes, only ever read by point lookups, most of them
            // misses (new keys): a hash memtable (ledger/hash_memtable.h) instead of a skiplist,
            // a memtable bloom filter, bloom filters in the tables, no compression.
            family.memtable_factory =
                make_hash_memtable_factory(options.write_buffer_bytes / kDedupMemtableBytesPerKey);
            family.memtable_prefix_bloom_size_ratio = 0.1;
            family.memtable_whole_key_filtering = true;
            table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
            table.whole_key_filtering = true;
            family.compression = rocksdb::kNoCompression;
        }
        family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
        return family;
    };
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, family_options(FamilyKind::other)},
        {"entries", family_options(FamilyKind::other)},
        {"dedup", family_options(FamilyKind::dedup)},
        {"dlq", family_options(FamilyKind::other)},
        {"meta", family_options(FamilyKind::other)},
    };
    auto db = RocksDb::open(db_options, options.path, families, mode, "ledger store");
    if (!db) {
        return unexpected(db.error());
    }
    store->db_ = std::move(db).value();
    store->entries_ = store->db_->family(1);
    store->dedup_ = store->db_->family(2);
    store->dlq_ = store->db_->family(3);
    store->meta_ = store->db_->family(4);
    auto loaded = store->load_meta();
    if (!loaded) {
        return unexpected(loaded.error());
    }
    return store;
}

Result<bool, std::string> LedgerStore::load_meta() {
    partitions_.clear();
    gaps_.clear();
    counts_ = OutcomeCounts{};
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), meta_));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        const std::string_view key(iterator->key().data(), iterator->key().size());
        const std::string_view value(iterator->value().data(), iterator->value().size());
        if (key.size() == 5 && key[0] == 'p') {
            PartitionState& state = partitions_[get_u32(key.data() + 1)];
            const OutcomeCounts counts = state.counts;  // "c" sorts before "p"
            state = decode_state(value);
            state.counts = counts;
        } else if (key.size() == 5 && key[0] == 'c') {
            partitions_[get_u32(key.data() + 1)].counts = decode_counts(value);
        } else if (key == kCountersKey) {
            counts_ = decode_counts(value);
        } else if ((key.size() == 13 || key.size() == 21) && key[0] == 'g' && value.size() >= 8) {
            // 13 bytes: written before gaps were numbered (one per partition and `from`).
            gaps_.push_back(Gap{get_u32(key.data() + 1),
                                static_cast<std::int64_t>(get_u64(key.data() + 5)),
                                static_cast<std::int64_t>(get_u64(value.data()))});
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the ledger's meta: " + status_text(iterator->status()));
    }
    return true;
}

Result<bool, std::string> LedgerStore::catch_up() {
    if (mode_ == OpenMode::secondary) {
        const auto status = db_->get()->TryCatchUpWithPrimary();
        if (!status.ok()) {
            return unexpected("cannot catch up with the ledger writer: " + status_text(status));
        }
    }
    return load_meta();
}

PartitionState LedgerStore::partition(std::uint32_t partition) const {
    const auto found = partitions_.find(partition);
    return found == partitions_.end() ? PartitionState{} : found->second;
}

PartitionState& LedgerStore::working_state(std::uint32_t partition) {
    if (last_touched_ < touched_.size() && touched_[last_touched_].first == partition) {
        return touched_[last_touched_].second;
    }
    for (std::size_t index = 0; index < touched_.size(); ++index) {
        if (touched_[index].first == partition) {
            last_touched_ = index;
            return touched_[index].second;
        }
    }
    touched_.emplace_back(partition, this->partition(partition));
    last_touched_ = touched_.size() - 1;
    return touched_.back().second;
}

Result<std::span<const MessageOutcome>, std::string> LedgerStore::apply(
    std::span<const SourceMessage> batch, std::int64_t now_us) {
    UL_CHECK(mode_ == OpenMode::read_write, "apply on a read-only ledger store");
    UL_CHECK(batch.size() < kDecidedByStore, "apply: batch too large");
    outcomes_.assign(batch.size(), MessageOutcome{});
    candidates_.clear();
    admitted_.clear();
    canonical_spans_.clear();
    canonical_.clear();
    details_.clear();
    detail_spans_.clear();
    touched_.clear();  // working copies of the partitions' state; committed after the write
    last_touched_ = 0;
    const LimitPolicy* limits = options_.limits;
    limit_checks_.clear();
    limit_cells_.clear();
    limit_cell_keys_.clear();
    limit_requests_.clear();
    lease_checks_.clear();
    lease_cells_.clear();
    lease_cell_keys_.clear();
    credit_checks_.clear();
    wallets_.clear();
    wallet_keys_.clear();
    lease_cell_of_.clear();
    wallet_of_.clear();

    // 1. Skip redeliveries; validate, canonicalize and hash the rest.
    for (std::uint32_t index = 0; index < batch.size(); ++index) {
        const SourceMessage& message = batch[index];
        PartitionState& state = working_state(message.partition);
        outcomes_[index].partition = message.partition;
        if (state.next_offset >= 0 && message.offset < state.next_offset) {
            outcomes_[index].redelivery = true;  // counted the first time it was consumed
            continue;
        }
        state.next_offset = message.offset + 1;
        auto event = validator_.validate(message.value, now_us);
        Candidate candidate;
        if (event) {
            candidate.valid = true;
            const std::size_t start = canonical_.size();
            append_canonical_event(*event, canonical_);
            const std::size_t length = canonical_.size() - start;
            canonical_spans_.emplace_back(start, length);
            candidate.key = dedup_key(event->tenant_id, event->idempotency_key);
            candidate.payload = hash_bytes(std::string_view(canonical_).substr(start, length));
            detail_spans_.emplace_back(0, 0);
            LimitCheck check;
            if (limits != nullptr) {
                const auto limit =
                    limits->hard_limit(event->tenant_id, event->meter, event->timestamp_us);
                if (limit && limit->concurrency) {
                    add_lease_check(*event, candidate.key, limit->limit_micros);
                } else if (limit) {
                    limit_requests_.push_back(LimitRequest{
                        limit_cell_key(event->tenant_id, event->meter, limit->period_start_us),
                        *limit, static_cast<std::uint32_t>(candidates_.size())});
                    check.quantity_micros = event->quantity.micros();
                }
                if (const auto rule =
                        limits->credit_rule(event->tenant_id, event->meter, event->timestamp_us)) {
                    add_credit_check(*event, *rule);
                }
            }
            limit_checks_.push_back(check);
        } else {
            candidate.reason = event.error().reason;
            canonical_spans_.emplace_back(0, 0);
            const std::string& detail = event.error().detail;
            const std::size_t detail_length = utf8_prefix(detail, kMaxDetailBytes).size();
            detail_spans_.emplace_back(details_.size(), detail_length);
            details_.append(detail, 0, detail_length);
            limit_checks_.push_back(LimitCheck{});
        }
        candidates_.push_back(candidate);
        admitted_.push_back(index);
    }

    // 2. Look up every distinct dedup key, in key order (the order admission needs too).
    const std::size_t count = candidates_.size();
    Admitter::key_order(candidates_, key_order_);
    auto looked_up = lookup_dedup_keys();
    if (!looked_up) {
        return unexpected(looked_up.error());
    }

    // 3. Decide.
    decisions_.assign(count, Decision{});
    Admitter::admit_in_key_order(candidates_, stored_, key_order_, decisions_);
    if (!limit_requests_.empty()) {
        if (auto decided = decide_limits(); !decided) {
            return unexpected(decided.error());
        }
    }
    if (!lease_checks_.empty()) {
        if (auto decided = decide_lease_ops(); !decided) {
            return unexpected(decided.error());
        }
    }
    if (!credit_checks_.empty()) {
        if (auto decided = decide_credit_ops(); !decided) {
            return unexpected(decided.error());
        }
    }

    // 4. Build the WriteBatch: entries with dense sequences and the hash chain, dedup keys,
    //    dead letters, the partitions' state and the counters.
    batch_.Clear();
    entry_arena_.clear();
    entry_puts_.clear();
    OutcomeCounts counts = counts_;
    for (std::size_t index = 0; index < count; ++index) {
        const std::uint32_t message_index = admitted_[index];
        const SourceMessage& message = batch[message_index];
        const Decision& decision = decisions_[index];
        PartitionState& state = working_state(message.partition);
        MessageOutcome& outcome = outcomes_[message_index];
        outcome.decision = decision;
        // The message as a dead letter in the dlq outbox; the outcome names its position.
        auto put_dead_letter = [&](const SourceMessage& letter, Reason reason,
                                   std::string_view detail) {
            encode_dead_letter(DeadLetter{letter.offset, reason, detail, letter.key, letter.value,
                                          letter.value_null},
                               dead_letter_);
            const auto key = position_key(letter.partition, state.dlq_next);
            batch_.Put(dlq_, rocksdb::Slice(key.data(), key.size()), dead_letter_);
            outcome.sequence = state.dlq_next;
            ++state.dlq_next;
        };
        counts.add(decision);
        state.counts.add(decision);
        switch (decision.verdict) {
            case Verdict::accepted: {
                const auto [start, length] = canonical_spans_[index];
                const std::size_t entry_start = entry_arena_.size();
                append_ledger_entry_canonical(
                    LedgerEntryHeader{message.partition, state.next_sequence, message.offset,
                                      state.chain_head},
                    std::string_view(canonical_).substr(start, length), entry_arena_);
                const std::size_t entry_length = entry_arena_.size() - entry_start;
                entry_puts_.push_back(
                    EntryPut{message.partition, state.next_sequence, entry_start, entry_length});
                outcome.sequence = state.next_sequence;
                state.chain_head =
                    entry_hash(std::string_view(entry_arena_).substr(entry_start, entry_length));
                ++state.next_sequence;
                break;
            }
            case Verdict::duplicate:
            case Verdict::conflict: {
                if (decision.earlier == kDecidedByStore) {
                    outcome.partition = stored_[index].partition;
                    outcome.sequence = stored_[index].sequence;
                    outcome.first_rejected = stored_[index].rejected;
                } else {
                    // The winner is earlier in this batch and already has its position.
                    const MessageOutcome& winner = outcomes_[admitted_[decision.earlier]];
                    outcome.partition = winner.partition;
                    outcome.sequence = winner.sequence;
                    outcome.first_rejected = winner.decision.verdict == Verdict::rejected_limit;
                }
                if (decision.verdict == Verdict::conflict) {
                    spdlog::warn(
                        "ledger: conflict at partition {} offset {}: the event at ledger "
                        "position {}/{} has this tenant and idempotency key with a different "
                        "payload (client bug?)",
                        message.partition, message.offset, outcome.partition, outcome.sequence);
                }
                break;
            }
            case Verdict::invalid: {
                const auto [start, length] = detail_spans_[index];
                put_dead_letter(message, decision.reason,
                                std::string_view(details_).substr(start, length));
                break;
            }
            case Verdict::rejected_limit: {
                if (outcome.credits) {
                    put_dead_letter(
                        message, Reason::limit_exceeded,
                        "the event's cost " +
                            Decimal::from_micros(outcome.credits_micros).to_string() +
                            " in credits is more than the balance " +
                            Decimal::from_micros(outcome.credits_balance_micros).to_string());
                    break;
                }
                if (outcome.lease) {
                    put_dead_letter(message, Reason::limit_exceeded,
                                    "the lease would take the slots held " +
                                        Decimal::from_micros(outcome.used_micros).to_string() +
                                        " above the concurrency limit " +
                                        Decimal::from_micros(outcome.limit_micros).to_string());
                    break;
                }
                const LimitCheck& check = limit_checks_[index];
                const LimitCell& cell = limit_cells_[static_cast<std::size_t>(check.cell)];
                put_dead_letter(message, Reason::limit_exceeded,
                                "the event's " +
                                    Decimal::from_micros(check.quantity_micros).to_string() +
                                    " would take the period's total " +
                                    Decimal::from_micros(outcome.used_micros).to_string() +
                                    " above the hard limit " +
                                    Decimal::from_micros(cell.limit_micros).to_string());
                break;
            }
        }
    }
    put_entries_in_key_order();
    // Dedup keys in key order too (free: key_order_ is sorted).
    for (const std::uint32_t index : key_order_) {
        const Verdict verdict = decisions_[index].verdict;
        if (verdict != Verdict::accepted && verdict != Verdict::rejected_limit) {
            continue;
        }
        const MessageOutcome& outcome = outcomes_[admitted_[index]];
        const auto key = dedup_bytes(candidates_[index].key);
        const auto value = dedup_value(
            outcome.partition,
            verdict == Verdict::accepted ? outcome.sequence : outcome.sequence | kRejectedBit,
            candidates_[index].payload);
        batch_.Put(dedup_, rocksdb::Slice(key.data(), key.size()),
                   rocksdb::Slice(value.data(), value.size()));
    }
    for (std::size_t cell = 0; cell < limit_cells_.size(); ++cell) {
        std::array<char, 8> total{};
        put_u64(total.data(), static_cast<std::uint64_t>(limit_cells_[cell].used_micros));
        batch_.Put(meta_,
                   rocksdb::Slice(limit_cell_keys_[cell].data(), limit_cell_keys_[cell].size()),
                   rocksdb::Slice(total.data(), total.size()));
    }
    for (std::size_t wallet = 0; wallet < wallets_.size(); ++wallet) {
        batch_.Put(meta_, rocksdb::Slice(wallet_keys_[wallet].data(), wallet_keys_[wallet].size()),
                   encode_wallet(wallets_[wallet]));
    }
    for (std::size_t cell = 0; cell < lease_cells_.size(); ++cell) {
        const rocksdb::Slice key(lease_cell_keys_[cell].data(), lease_cell_keys_[cell].size());
        if (lease_cells_[cell].held.empty()) {
            batch_.Delete(meta_, key);
        } else {
            batch_.Put(meta_, key, encode_lease_cell(lease_cells_[cell].held));
        }
    }
    for (const auto& [partition, state] : touched_) {
        put_partition_state(batch_, meta_, partition, state);
    }
    put_totals(batch_, meta_, counts);

    // 5. One atomic, durable write; then the in-memory state follows.
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    const auto status = db_->get()->Write(write_options, &batch_);
    if (!status.ok()) {
        return unexpected("cannot write the batch to the ledger store: " + status_text(status));
    }
    for (const auto& [partition, state] : touched_) {
        partitions_[partition] = state;
    }
    counts_ = counts;
    // The written totals, held for the next batches (bounded: past the bound the cache starts
    // again empty, and misses read the store).
    if (limit_totals_.size() + limit_cells_.size() > options_.limit_cache_cells) {
        limit_totals_.clear();
    }
    for (std::size_t cell = 0; cell < limit_cells_.size(); ++cell) {
        limit_totals_.insert_or_assign(limit_cell_keys_[cell], limit_cells_[cell].used_micros);
    }
    return std::span<const MessageOutcome>(outcomes_);
}

Result<bool, std::string> LedgerStore::lookup_dedup_keys() {
    const std::size_t count = candidates_.size();
    key_bytes_.resize(count);
    key_slices_.clear();
    lookup_of_.resize(count);
    for (std::size_t position = 0; position < key_order_.size(); ++position) {
        const std::uint32_t index = key_order_[position];
        if (position == 0 || candidates_[key_order_[position - 1]].key != candidates_[index].key) {
            key_bytes_[index] = dedup_bytes(candidates_[index].key);
            key_slices_.emplace_back(key_bytes_[index].data(), kDedupKeyBytes);
        }
        lookup_of_[index] = static_cast<std::uint32_t>(key_slices_.size() - 1);
    }
    values_.resize(key_slices_.size());
    statuses_.resize(key_slices_.size());
    // Sorted input, in slices of RocksDB's own MultiGet batch size: each call then works on
    // the stack (a call with 10,000 keys allocates and faults in ~1 MiB of key contexts).
    const rocksdb::ReadOptions read_options;
    for (std::size_t start = 0; start < key_slices_.size(); start += kMultiGetSlice) {
        const std::size_t size = std::min(kMultiGetSlice, key_slices_.size() - start);
        db_->get()->MultiGet(read_options, dedup_, size, key_slices_.data() + start,
                             values_.data() + start, statuses_.data() + start,
                             /*sorted_input=*/true);
    }
    stored_.assign(count, StoredKey{});
    Result<bool, std::string> result = true;
    for (const std::uint32_t index : key_order_) {
        const std::uint32_t lookup = lookup_of_[index];
        const auto& status = statuses_[lookup];
        if (status.ok() && values_[lookup].size() == kDedupValueBytes) {
            const char* data = values_[lookup].data();
            const std::uint64_t sequence = get_u64(data + 4);
            stored_[index] =
                StoredKey{true, PayloadHash{get_u64(data + 12), get_u64(data + 20)}, get_u32(data),
                          sequence & ~kRejectedBit, (sequence & kRejectedBit) != 0};
        } else if (status.ok()) {
            result = unexpected("dedup value of " + std::to_string(values_[lookup].size()) +
                                " bytes (expected " + std::to_string(kDedupValueBytes) + ")");
            break;
        } else if (!status.IsNotFound()) {
            result = unexpected("dedup lookup failed: " + status_text(status));
            break;
        }
    }
    for (auto& value : values_) {
        value.Reset();  // unpin blocks now; nothing below reads them
    }
    return result;
}

void LedgerStore::add_lease_check(const UsageEvent& event, const DedupKey& key,
                                  std::int64_t limit_micros) {
    const LeaseCellKey cell_key = lease_cell_key(event.tenant_id, event.meter);
    const auto [found, added] =
        lease_cell_of_.try_emplace(cell_key, static_cast<std::uint32_t>(lease_cell_keys_.size()));
    if (added) {  // the cell's first operation in the batch sets the limit
        lease_cell_keys_.push_back(cell_key);
        lease_cells_.push_back(LeaseCell{{}, limit_micros});
    }
    const std::uint32_t cell = found->second;
    lease_checks_.push_back(LeaseCheck{static_cast<std::uint32_t>(candidates_.size()), cell,
                                       lease_op_of(event, key), event.timestamp_us,
                                       event.quantity.micros()});
}

void LedgerStore::add_credit_check(const UsageEvent& event, const CreditRule& rule) {
    const WalletKey key = wallet_key(event.tenant_id);
    const auto [found, added] =
        wallet_of_.try_emplace(key, static_cast<std::uint32_t>(wallet_keys_.size()));
    if (added) {
        wallet_keys_.push_back(key);
        wallets_.emplace_back();
    }
    const std::uint32_t wallet = found->second;
    CreditCheck check;
    check.candidate = static_cast<std::uint32_t>(candidates_.size());
    check.wallet = wallet;
    check.rule = rule;
    check.time_us = event.timestamp_us;
    auto op = credit_op_of(event, rule);
    if (op) {
        check.grant = op->grant;
        check.id = std::string(op->id);
        check.source = std::string(op->source);
        check.priority = op->priority;
        check.expires_us = op->expires_us;
        check.micros = op->micros;
    } else {  // the detail of its dead letter, as a validation error's
        check.bad = true;
        const std::size_t length = utf8_prefix(op.error(), kMaxDetailBytes).size();
        detail_spans_.back() = {details_.size(), length};
        details_.append(op.error(), 0, length);
    }
    credit_checks_.push_back(std::move(check));
}

Result<std::optional<std::string>, std::string> LedgerStore::read_meta_row(
    std::string_view key, std::string_view what) const {
    std::string value;
    const auto status = db_->get()->Get(rocksdb::ReadOptions(), meta_,
                                        rocksdb::Slice(key.data(), key.size()), &value);
    if (status.IsNotFound()) {
        return std::optional<std::string>();
    }
    if (!status.ok()) {
        return unexpected("cannot read " + std::string(what) +
                          " of the ledger store: " + status_text(status));
    }
    return std::optional<std::string>(std::move(value));
}

template <typename Keys, typename Use>
Result<bool, std::string> LedgerStore::read_meta_rows(const Keys& keys, std::string_view what,
                                                      const Use& use) const {
    for (std::size_t index = 0; index < keys.size(); ++index) {
        const auto& key = keys[index];
        auto row = read_meta_row(std::string_view(key.data(), key.size()), what);
        if (!row) {
            return unexpected(row.error());
        }
        if (!*row) {
            continue;
        }
        if (auto error = use(index, **row)) {
            return unexpected(std::move(*error));
        }
    }
    return true;
}

Result<bool, std::string> LedgerStore::decide_credit_ops() {
    auto read = read_meta_rows(
        wallet_keys_, "a wallet",
        [&](std::size_t wallet, const std::string& row) -> std::optional<std::string> {
            auto decoded = decode_wallet(row);
            if (!decoded) {
                return "the ledger store has a damaged wallet row";
            }
            wallets_[wallet] = std::move(*decoded);
            return std::nullopt;
        });
    if (!read) {
        return read;
    }
    for (const CreditCheck& check : credit_checks_) {
        Decision& decision = decisions_[check.candidate];
        MessageOutcome& outcome = outcomes_[admitted_[check.candidate]];
        Wallet& wallet = wallets_[check.wallet];
        outcome.credits = true;
        outcome.credits_micros = check.micros;
        if (decision.verdict != Verdict::accepted) {
            outcome.credits_balance_micros = wallet_balance(wallet, check.time_us);
            continue;
        }
        if (check.bad) {
            decision = Decision{Verdict::invalid, Reason::bad_properties, kDecidedByStore};
            outcome.credits = false;
            continue;
        }
        const CreditOp op{check.grant,    check.id,         check.source,
                          check.priority, check.expires_us, check.micros};
        const WalletChange change = apply_wallet(wallet, check.rule, op, check.time_us);
        if (change.refused) {
            decision = Decision{Verdict::rejected_limit, Reason::limit_exceeded, kDecidedByStore};
        }
        outcome.credits_balance_micros = change.balance_after_micros;
        outcome.credits_uncovered_micros = change.uncovered_micros;
    }
    return true;
}

Result<bool, std::string> LedgerStore::decide_lease_ops() {
    auto read =
        read_meta_rows(lease_cell_keys_, "a lease row",
                       [&](std::size_t cell, const std::string& row) -> std::optional<std::string> {
                           auto held = decode_lease_cell(row);
                           if (!held) {
                               return "the ledger store has a damaged lease row (" +
                                      std::to_string(row.size()) + " bytes)";
                           }
                           lease_cells_[cell].held = std::move(*held);
                           return std::nullopt;
                       });
    if (!read) {
        return read;
    }
    lease_results_.assign(lease_checks_.size(), LeaseResult{});
    decide_leases(lease_checks_, lease_cells_, decisions_, lease_results_);
    for (std::size_t index = 0; index < lease_checks_.size(); ++index) {
        const LeaseCheck& check = lease_checks_[index];
        const LeaseResult& result = lease_results_[index];
        MessageOutcome& outcome = outcomes_[admitted_[check.candidate]];
        outcome.limited = true;
        outcome.lease = true;
        outcome.lease_release = check.op.release;
        outcome.lease_released = result.released;
        outcome.used_micros = result.held_micros;
        outcome.limit_micros = lease_cells_[check.cell].limit_micros;
        outcome.period_end_us = result.expires_us;
    }
    return true;
}

Result<bool, std::string> LedgerStore::decide_limits() {
    // The batch's distinct cells, in key order (sort, then one MultiGet: no map, no per-event
    // allocation once the buffers have grown).
    std::sort(limit_requests_.begin(), limit_requests_.end(),
              [](const LimitRequest& left, const LimitRequest& right) {
                  const int order =
                      std::memcmp(left.key.data(), right.key.data(), kLimitCellKeyBytes);
                  return order != 0 ? order < 0 : left.candidate < right.candidate;
              });
    for (std::size_t index = 0; index < limit_requests_.size(); ++index) {
        const LimitRequest& request = limit_requests_[index];
        if (index == 0 || request.key != limit_requests_[index - 1].key) {
            limit_cells_.push_back(
                LimitCell{0, request.limit.limit_micros, request.limit.period_end_us});
            limit_cell_keys_.push_back(request.key);
        }
        limit_checks_[request.candidate].cell = static_cast<std::int32_t>(limit_cells_.size() - 1);
    }
    // Totals held in memory (this store is their only writer, so they are exact) need no read;
    // the others are read with one sorted MultiGet.
    limit_slices_.clear();
    limit_missed_.clear();
    for (std::size_t cell = 0; cell < limit_cells_.size(); ++cell) {
        const auto& key = limit_cell_keys_[cell];
        if (const auto held = limit_totals_.find(key); held != limit_totals_.end()) {
            limit_cells_[cell].used_micros = held->second;
        } else {
            limit_slices_.emplace_back(key.data(), key.size());
            limit_missed_.push_back(cell);
        }
    }
    const std::size_t misses = limit_missed_.size();
    limit_values_.resize(misses);
    limit_statuses_.resize(misses);
    const rocksdb::ReadOptions read_options;
    for (std::size_t start = 0; start < misses; start += kMultiGetSlice) {
        const std::size_t size = std::min(kMultiGetSlice, misses - start);
        db_->get()->MultiGet(read_options, meta_, size, limit_slices_.data() + start,
                             limit_values_.data() + start, limit_statuses_.data() + start,
                             /*sorted_input=*/true);
    }
    for (std::size_t miss = 0; miss < misses; ++miss) {
        const std::size_t cell = limit_missed_[miss];
        const auto& status = limit_statuses_[miss];
        const auto& value = limit_values_[miss];
        if (status.ok() && value.size() == 8) {
            limit_cells_[cell].used_micros = static_cast<std::int64_t>(get_u64(value.data()));
        } else if (status.ok()) {
            return unexpected("hard-limit total of " + std::to_string(value.size()) +
                              " bytes (expected 8)");
        } else if (!status.IsNotFound()) {
            return unexpected("hard-limit lookup failed: " + status_text(status));
        }
    }
    for (auto& value : limit_values_) {
        value.Reset();
    }
    limit_used_.assign(candidates_.size(), 0);
    decide_hard_limits(limit_checks_, limit_cells_, decisions_, limit_used_);
    for (std::size_t index = 0; index < candidates_.size(); ++index) {
        const LimitCheck& check = limit_checks_[index];
        if (check.cell < 0) {
            continue;
        }
        const LimitCell& cell = limit_cells_[static_cast<std::size_t>(check.cell)];
        MessageOutcome& outcome = outcomes_[admitted_[index]];
        outcome.limited = true;
        outcome.used_micros = limit_used_[index];
        outcome.limit_micros = cell.limit_micros;
        outcome.period_end_us = cell.period_end_us;
    }
    return true;
}

void LedgerStore::put_entries_in_key_order() {
    // Accepted entries are in batch order, and in sequence order within each partition: a
    // counting sort by partition gives key order. Inserted in key order, each memtable insert
    // starts from where the previous one ended instead of searching from the top.
    std::sort(touched_.begin(), touched_.end(),
              [](const auto& left, const auto& right) { return left.first < right.first; });
    last_touched_ = 0;
    partition_starts_.assign(touched_.size() + 1, 0);
    auto slot_of = [this](std::uint32_t partition) {
        const auto found = std::lower_bound(
            touched_.begin(), touched_.end(), partition,
            [](const auto& touched, std::uint32_t wanted) { return touched.first < wanted; });
        return static_cast<std::size_t>(found - touched_.begin());
    };
    for (const auto& put : entry_puts_) {
        ++partition_starts_[slot_of(put.partition) + 1];
    }
    for (std::size_t slot = 1; slot < partition_starts_.size(); ++slot) {
        partition_starts_[slot] += partition_starts_[slot - 1];
    }
    sorted_entry_puts_.resize(entry_puts_.size());
    for (const auto& put : entry_puts_) {
        sorted_entry_puts_[partition_starts_[slot_of(put.partition)]++] = put;
    }
    for (const auto& put : sorted_entry_puts_) {
        const auto key = position_key(put.partition, put.sequence);
        batch_.Put(entries_, rocksdb::Slice(key.data(), key.size()),
                   rocksdb::Slice(entry_arena_.data() + put.start, put.length));
    }
}

Result<bool, std::string> LedgerStore::record_gap(std::uint32_t partition, std::int64_t from,
                                                  std::int64_t to) {
    UL_CHECK(mode_ == OpenMode::read_write, "record_gap on a read-only ledger store");
    PartitionState state = this->partition(partition);
    state.next_offset = to;
    rocksdb::WriteBatch batch;
    // Numbered per partition, so a log reset again at the same offset is one more record and
    // never overwrites the last one.
    const auto number = static_cast<std::uint64_t>(
        std::count_if(gaps_.begin(), gaps_.end(),
                      [partition](const Gap& gap) { return gap.partition == partition; }));
    std::array<char, 21> gap_key{'g'};
    put_u32(gap_key.data() + 1, partition);
    put_u64(gap_key.data() + 5, static_cast<std::uint64_t>(from));
    put_u64(gap_key.data() + 13, number);
    std::array<char, 8> gap_value{};
    put_u64(gap_value.data(), static_cast<std::uint64_t>(to));
    batch.Put(meta_, rocksdb::Slice(gap_key.data(), gap_key.size()),
              rocksdb::Slice(gap_value.data(), gap_value.size()));
    const auto key = partition_meta_key(partition);
    const auto value = encode_state(state);
    batch.Put(meta_, rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(value.data(), value.size()));
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    const auto status = db_->get()->Write(write_options, &batch);
    if (!status.ok()) {
        return unexpected("cannot record a gap: " + status_text(status));
    }
    partitions_[partition] = state;
    gaps_.push_back(Gap{partition, from, to});
    return true;
}

Result<bool, std::string> LedgerStore::set_outbox(std::uint32_t partition,
                                                  std::uint64_t outbox_next,
                                                  std::uint64_t dlq_outbox_next,
                                                  std::int64_t changelog_next) {
    UL_CHECK(mode_ == OpenMode::read_write, "set_outbox on a read-only ledger store");
    PartitionState state = this->partition(partition);
    UL_CHECK(outbox_next <= state.next_sequence && dlq_outbox_next <= state.dlq_next,
             "outbox watermark beyond what was written");
    state.outbox_next = outbox_next;
    state.dlq_outbox_next = dlq_outbox_next;
    if (changelog_next >= 0) {
        state.changelog_next = changelog_next;
    }
    const auto key = partition_meta_key(partition);
    const auto value = encode_state(state);
    // Not synced: losing a watermark only repeats publishes, which consumers ignore.
    const auto status =
        db_->get()->Put(rocksdb::WriteOptions(), meta_, rocksdb::Slice(key.data(), key.size()),
                        rocksdb::Slice(value.data(), value.size()));
    if (!status.ok()) {
        return unexpected("cannot store the outbox watermark: " + status_text(status));
    }
    partitions_[partition] = state;
    return true;
}

Result<bool, std::string> LedgerStore::adopt(std::uint32_t partition, const Adoption& adoption,
                                             std::int64_t changelog_next) {
    UL_CHECK(mode_ == OpenMode::read_write, "adopt on a read-only ledger store");
    PartitionState state = this->partition(partition);
    rocksdb::WriteBatch batch;
    UsageEvent event;
    std::string unescaped;
    for (const std::string& entry : adoption.entries) {
        auto decoded = decode_ledger_entry_header(entry);
        if (!decoded || decoded->header.partition != partition ||
            decoded->header.sequence != state.next_sequence) {
            return unexpected("adopt: entry " + std::to_string(state.next_sequence) +
                              " of partition " + std::to_string(partition) +
                              " is not the next one");
        }
        if (auto read = decode_canonical_event(decoded->event_json, event, unescaped); !read) {
            return unexpected("adopt: the event of entry " + std::to_string(state.next_sequence) +
                              " of partition " + std::to_string(partition) +
                              " is not canonical: " + read.error());
        }
        const auto key = position_key(partition, state.next_sequence);
        batch.Put(entries_, rocksdb::Slice(key.data(), key.size()), entry);
        const auto dedup = dedup_bytes(dedup_key(event.tenant_id, event.idempotency_key));
        const auto value =
            dedup_value(partition, state.next_sequence, hash_bytes(decoded->event_json));
        batch.Put(dedup_, rocksdb::Slice(dedup.data(), dedup.size()),
                  rocksdb::Slice(value.data(), value.size()));
        ++state.next_sequence;
    }
    const ProgressMarker& marker = adoption.marker;
    if (state.next_sequence != marker.next_sequence) {
        return unexpected("adopt: partition " + std::to_string(partition) + " entries end at " +
                          std::to_string(state.next_sequence) + ", the marker says " +
                          std::to_string(marker.next_sequence));
    }
    const OutcomeCounts counts = replace_counts(counts_, state.counts, marker.counts);
    state.next_offset = marker.next_offset;
    state.chain_head = marker.chain_head;
    state.outbox_next = marker.next_sequence;  // in the changelog already
    state.changelog_next = std::max(state.changelog_next, changelog_next);
    state.counts = marker.counts;
    put_partition_state(batch, meta_, partition, state);
    put_totals(batch, meta_, counts);
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    const auto status = db_->get()->Write(write_options, &batch);
    if (!status.ok()) {
        return unexpected("cannot adopt the changelog's state: " + status_text(status));
    }
    partitions_[partition] = state;
    counts_ = counts;
    return true;
}

Result<std::size_t, std::string> LedgerStore::read_entries(
    std::uint32_t partition, std::uint64_t from, std::size_t max,
    const std::function<void(std::uint64_t, std::string_view)>& visit) const {
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), entries_));
    const auto start = position_key(partition, from);
    std::size_t read = 0;
    for (iterator->Seek(rocksdb::Slice(start.data(), start.size()));
         iterator->Valid() && read < max; iterator->Next()) {
        const auto key = iterator->key();
        if (key.size() != 12 || get_u32(key.data()) != partition) {
            break;
        }
        visit(get_u64(key.data() + 4),
              std::string_view(iterator->value().data(), iterator->value().size()));
        ++read;
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read entries: " + status_text(iterator->status()));
    }
    return read;
}

Result<std::size_t, std::string> LedgerStore::read_dead_letters(
    std::uint32_t partition, std::uint64_t from, std::size_t max,
    const std::function<void(std::uint64_t, const DeadLetter&)>& visit) const {
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), dlq_));
    const auto start = position_key(partition, from);
    std::size_t read = 0;
    for (iterator->Seek(rocksdb::Slice(start.data(), start.size()));
         iterator->Valid() && read < max; iterator->Next()) {
        const auto key = iterator->key();
        if (key.size() != 12 || get_u32(key.data()) != partition) {
            break;
        }
        DeadLetter letter;
        if (!decode_dead_letter(
                std::string_view(iterator->value().data(), iterator->value().size()), letter)) {
            return unexpected(std::string("a dead letter is corrupt"));
        }
        visit(get_u64(key.data() + 4), letter);
        ++read;
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read dead letters: " + status_text(iterator->status()));
    }
    return read;
}

Result<std::uint64_t, std::string> LedgerStore::for_each_entry(
    const std::function<void(std::string_view)>& visit) const {
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), entries_));
    std::uint64_t count = 0;
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        visit(std::string_view(iterator->value().data(), iterator->value().size()));
        ++count;
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read entries: " + status_text(iterator->status()));
    }
    return count;
}

VerifyReport LedgerStore::verify() const {
    VerifyReport report;
    auto fail = [&report](std::uint32_t partition, std::uint64_t sequence, std::string problem) {
        if (report.ok) {
            report.ok = false;
            report.partition = partition;
            report.sequence = sequence;
            report.problem = std::move(problem);
        }
    };
    ValidationOptions lenient_window;
    lenient_window.max_event_age_us = std::numeric_limits<std::int64_t>::max() / 4;
    lenient_window.max_future_us = std::numeric_limits<std::int64_t>::max() / 4;
    EventValidator validator(lenient_window);
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), entries_));
    bool have_partition = false;
    std::uint32_t partition = 0;
    std::uint64_t expected = 0;
    PayloadHash previous;
    auto close_partition = [&] {
        if (!have_partition) {
            return;
        }
        const PartitionState state = this->partition(partition);
        if (state.next_sequence != expected) {
            fail(partition, expected,
                 "meta says next sequence " + std::to_string(state.next_sequence) +
                     " but entries end at " + std::to_string(expected));
        } else if (!(state.chain_head == previous)) {
            fail(partition, expected - 1, "hash-chain head in meta does not match the last entry");
        }
    };
    for (iterator->SeekToFirst(); iterator->Valid() && report.ok; iterator->Next()) {
        const auto key = iterator->key();
        const std::string_view entry(iterator->value().data(), iterator->value().size());
        if (key.size() != 12) {
            fail(0, 0, "an entry key is not 12 bytes");
            break;
        }
        const std::uint32_t key_partition = get_u32(key.data());
        const std::uint64_t sequence = get_u64(key.data() + 4);
        if (!have_partition || key_partition != partition) {
            close_partition();
            have_partition = true;
            partition = key_partition;
            expected = 0;
            previous = PayloadHash{};
        }
        ++report.entries;
        if (sequence != expected) {
            fail(partition, expected, "sequence " + std::to_string(expected) + " is missing");
            break;
        }
        auto decoded = decode_ledger_entry_header(entry);
        if (!decoded) {
            fail(partition, sequence, "entry does not decode: " + decoded.error());
            break;
        }
        if (decoded->header.partition != partition || decoded->header.sequence != sequence) {
            fail(partition, sequence, "entry names another position than its key");
        }
        if (!(decoded->header.prev_hash == previous)) {
            fail(partition, sequence,
                 "hash chain broken: prev_hash does not match the previous entry");
        }
        auto event = validator.validate(decoded->event_json, 0);
        if (!event) {
            fail(partition, sequence, "entry's event is not valid: " + event.error().detail);
        } else {
            const auto key_bytes = dedup_bytes(dedup_key(event->tenant_id, event->idempotency_key));
            std::string value;
            const auto status = db_->get()->Get(rocksdb::ReadOptions(), dedup_,
                                                rocksdb::Slice(key_bytes.data(), 16), &value);
            if (!status.ok() || value.size() < 28) {
                fail(partition, sequence, "no dedup key for this entry");
            } else if (get_u32(value.data()) != partition ||
                       get_u64(value.data() + 4) != sequence) {
                fail(partition, sequence, "dedup key points at another position");
            } else {
                std::string canonical;
                append_canonical_event(*event, canonical);
                if (!(hash_bytes(canonical) ==
                      PayloadHash{get_u64(value.data() + 12), get_u64(value.data() + 20)})) {
                    fail(partition, sequence, "entry's payload does not match its dedup hash");
                }
            }
        }
        previous = entry_hash(entry);
        ++expected;
    }
    if (report.ok) {
        close_partition();
    }
    std::unique_ptr<rocksdb::Iterator> dedup(
        db_->get()->NewIterator(rocksdb::ReadOptions(), dedup_));
    std::uint64_t rejected_keys = 0;
    for (dedup->SeekToFirst(); dedup->Valid(); dedup->Next()) {
        const auto value = dedup->value();
        if (value.size() >= 12 && (get_u64(value.data() + 4) & kRejectedBit) != 0) {
            ++rejected_keys;  // a rejected_limit event's key: no entry
        } else {
            ++report.dedup_keys;
        }
    }
    if (report.ok && report.dedup_keys != report.entries) {
        fail(0, 0,
             std::to_string(report.dedup_keys) + " dedup keys for " +
                 std::to_string(report.entries) + " entries");
    }
    if (report.ok && rejected_keys != counts_.rejected_limit()) {
        fail(0, 0,
             std::to_string(rejected_keys) + " keys of rejected_limit events for " +
                 std::to_string(counts_.rejected_limit()) + " rejected_limit outcomes");
    }
    return report;
}

}  // namespace ul
