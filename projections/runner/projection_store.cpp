#include "projections/projection_store.h"

#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include <cstdlib>
#include <filesystem>

namespace ul {
namespace {

constexpr char kTotalsKey[] = "totals";
// Not a tenant id ('~' is not in [A-Za-z0-9._:-]): a deleted account's deletion time.
constexpr char kDeletedAccountPrefix[] = "~deleted~";

void put_u32_be(std::string& out, std::uint32_t value) {
    for (int index = 3; index >= 0; --index) {
        out.push_back(static_cast<char>(value >> (8 * index)));
    }
}
void put_u64_be(std::string& out, std::uint64_t value) {
    for (int index = 7; index >= 0; --index) {
        out.push_back(static_cast<char>(value >> (8 * index)));
    }
}
std::uint32_t get_u32_be(const char* in) {
    std::uint32_t value = 0;
    for (int index = 0; index < 4; ++index) {
        value = (value << 8U) | static_cast<unsigned char>(in[index]);
    }
    return value;
}
std::uint64_t get_u64_be(const char* in) {
    std::uint64_t value = 0;
    for (int index = 0; index < 8; ++index) {
        value = (value << 8U) | static_cast<unsigned char>(in[index]);
    }
    return value;
}

std::string partition_key(char kind, std::uint32_t partition) {
    std::string key(1, kind);
    put_u32_be(key, partition);
    return key;
}

// Cells are sums: merging deltas needs no read on the write path. A value that does not decode
// or a sum that would overflow 128 bits fails the merge, which RocksDB reports as corruption
// (on the read or compaction that meets it) instead of storing a wrong number.
class CellMergeOperator final : public rocksdb::AssociativeMergeOperator {
  public:
    bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
               const rocksdb::Slice& value, std::string* new_value,
               rocksdb::Logger* /*logger*/) const override {
        auto delta = decode_cell(std::string_view(value.data(), value.size()));
        if (!delta) {
            return false;
        }
        Cell cell;
        if (existing != nullptr) {
            auto old = decode_cell(std::string_view(existing->data(), existing->size()));
            if (!old) {
                return false;
            }
            cell = *old;
        }
        if (!merge_cell(cell, *delta)) {
            return false;
        }
        new_value->resize(kCellBytes);
        encode_cell(cell, new_value->data());
        return true;
    }
    const char* Name() const override { return "usage-ledger.CellMerge"; }
};

}  // namespace

void ProjectionBatch::clear() {
    deltas.clear();
    partitions.clear();
    accounts.clear();
    applied = 0;
    repeats = 0;
}

ProjectionStore::~ProjectionStore() = default;

Result<std::unique_ptr<ProjectionStore>, std::string> ProjectionStore::open(
    const ProjectionStoreOptions& options, ProjectionOpenMode mode) {
    std::unique_ptr<ProjectionStore> store(new ProjectionStore());
    store->options_ = options;
    store->mode_ = mode;

    const rocksdb::Options db_options = base_store_options(mode, options.write_buffer_bytes);
    auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    auto merge = std::make_shared<CellMergeOperator>();
    auto family_options = [&](bool cells) {
        rocksdb::ColumnFamilyOptions family;
        family.write_buffer_size = options.write_buffer_bytes;
        family.max_write_buffer_number = 2;
        family.compression = rocksdb::kLZ4Compression;
        if (cells) {
            family.merge_operator = merge;
        }
        rocksdb::BlockBasedTableOptions table;
        table.block_cache = cache;
        table.cache_index_and_filter_blocks = true;
        family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
        return family;
    };
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, family_options(false)},
        {"counters", family_options(true)},
        {"breakdown", family_options(true)},
        {"meta", family_options(false)},
        {"accounts", family_options(false)},
    };
    auto db = RocksDb::open(db_options, options.path, families, mode, "projection store");
    if (!db) {
        return unexpected(db.error());
    }
    store->db_ = std::move(db).value();
    store->counters_ = store->db_->family(1);
    store->breakdown_ = store->db_->family(2);
    store->meta_ = store->db_->family(3);
    store->accounts_ = store->db_->family(4);
    auto loaded = store->load_meta();
    if (!loaded) {
        return unexpected(loaded.error());
    }
    return store;
}

Result<bool, std::string> ProjectionStore::read_meta(
    const rocksdb::Snapshot* snapshot, std::map<std::uint32_t, ProjectionPartition>& partitions,
    std::uint64_t* applied, std::uint64_t* repeats) const {
    rocksdb::ReadOptions read;
    read.snapshot = snapshot;
    std::unique_ptr<rocksdb::Iterator> iterator(db_->get()->NewIterator(read, meta_));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        const std::string_view key(iterator->key().data(), iterator->key().size());
        const std::string_view value(iterator->value().data(), iterator->value().size());
        if (key.size() == 5 && key[0] == 'p' && value.size() == 16) {
            auto& state = partitions[get_u32_be(key.data() + 1)];
            state.next_sequence = get_u64_be(value.data());
            state.next_offset = static_cast<std::int64_t>(get_u64_be(value.data() + 8));
        } else if (key.size() == 5 && key[0] == 's' && value.size() == 8) {
            partitions[get_u32_be(key.data() + 1)].stalled_at = get_u64_be(value.data());
        } else if (key == kTotalsKey && value.size() == 16 && applied != nullptr) {
            *applied = get_u64_be(value.data());
            *repeats = get_u64_be(value.data() + 8);
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the projection store's meta: " +
                          status_text(iterator->status()));
    }
    return true;
}

Result<bool, std::string> ProjectionStore::load_meta() {
    partitions_.clear();
    applied_total_ = 0;
    repeats_total_ = 0;
    return read_meta(nullptr, partitions_, &applied_total_, &repeats_total_);
}

Result<std::map<std::uint32_t, ProjectionPartition>, std::string> ProjectionStore::partitions_at(
    const rocksdb::Snapshot* snapshot) const {
    std::map<std::uint32_t, ProjectionPartition> partitions;
    if (auto read = read_meta(snapshot, partitions, nullptr, nullptr); !read) {
        return unexpected(read.error());
    }
    return partitions;
}

Result<bool, std::string> ProjectionStore::replace_cells(
    const std::vector<CellReplacement>& replacements) {
    rocksdb::WriteBatch write;
    char cell[kCellBytes];
    for (const auto& replacement : replacements) {
        auto* family = replacement.family == CellFamily::counters ? counters_ : breakdown_;
        if (replacement.cell) {
            encode_cell(*replacement.cell, cell);
            write.Put(family, replacement.key, rocksdb::Slice(cell, kCellBytes));
        } else {
            write.Delete(family, replacement.key);
        }
    }
    rocksdb::WriteOptions options;
    options.sync = true;  // a repair is rare and must not be lost
    const auto status = db_->get()->Write(options, &write);
    if (!status.ok()) {
        return unexpected("cannot write to the projection store: " + status_text(status));
    }
    return true;
}

Result<bool, std::string> ProjectionStore::apply(const ProjectionBatch& batch) {
    rocksdb::WriteBatch write;
    char cell[kCellBytes];
    // In key order: the memtable's skiplist then finds each insert position from the previous
    // one (its splice) instead of searching from the top, the largest cost of a write otherwise.
    auto write_sorted = [&](rocksdb::ColumnFamilyHandle* family, const CellMap& cells) {
        for (const auto& [key, value] : cells.sorted()) {
            encode_cell(*value, cell);
            write.Merge(family, rocksdb::Slice(key.data(), key.size()),
                        rocksdb::Slice(cell, kCellBytes));
        }
    };
    write_sorted(counters_, batch.deltas.counters());
    write_sorted(breakdown_, batch.deltas.breakdowns());
    std::string value;
    for (const auto& [partition, state] : batch.partitions) {
        value.clear();
        put_u64_be(value, state.next_sequence);
        put_u64_be(value, static_cast<std::uint64_t>(state.next_offset));
        write.Put(meta_, partition_key('p', partition), value);
        if (state.stalled_at) {
            value.clear();
            put_u64_be(value, *state.stalled_at);
            write.Put(meta_, partition_key('s', partition), value);
        } else {
            write.Delete(meta_, partition_key('s', partition));
        }
    }
    for (const auto& [tenant, json, deleted_at_us] : batch.accounts) {
        const std::string deletion = kDeletedAccountPrefix + tenant;
        if (json.empty()) {
            value.clear();
            put_u64_be(value, static_cast<std::uint64_t>(deleted_at_us));
            write.Delete(accounts_, tenant);
            write.Put(accounts_, deletion, value);
        } else {
            write.Put(accounts_, tenant, json);
            write.Delete(accounts_, deletion);
        }
    }
    value.clear();
    put_u64_be(value, applied_total_ + batch.applied);
    put_u64_be(value, repeats_total_ + batch.repeats);
    write.Put(meta_, kTotalsKey, value);
    rocksdb::WriteOptions options;
    options.sync = options_.sync;
    const auto status = db_->get()->Write(options, &write);
    if (!status.ok()) {
        return unexpected("cannot write to the projection store: " + status_text(status));
    }
    for (const auto& [partition, state] : batch.partitions) {
        partitions_[partition] = state;
    }
    applied_total_ += batch.applied;
    repeats_total_ += batch.repeats;
    return true;
}

Result<bool, std::string> ProjectionStore::catch_up() {
    const auto status = db_->get()->TryCatchUpWithPrimary();
    if (!status.ok()) {
        return unexpected("cannot follow the projection store: " + status_text(status));
    }
    return load_meta();
}

ProjectionPartition ProjectionStore::partition(std::uint32_t partition) const {
    const auto found = partitions_.find(partition);
    return found == partitions_.end() ? ProjectionPartition{} : found->second;
}

namespace {
rocksdb::ReadOptions read_at(const rocksdb::Snapshot* snapshot) {
    rocksdb::ReadOptions read;
    read.snapshot = snapshot;
    return read;
}
}  // namespace

StoreSnapshot ProjectionStore::snapshot() const {
    rocksdb::DB* db = db_->get();
    return {db->GetSnapshot(),
            [db](const rocksdb::Snapshot* taken) { db->ReleaseSnapshot(taken); }};
}

std::uint64_t ProjectionStore::sequence_of(const StoreSnapshot& snapshot) {
    return snapshot->GetSequenceNumber();
}

std::uint64_t ProjectionStore::latest_sequence() const {
    return db_->get()->GetLatestSequenceNumber();
}

Result<std::optional<Cell>, std::string> ProjectionStore::cell(
    const CounterKey& key, const rocksdb::Snapshot* snapshot) const {
    std::string encoded;
    append_counter_key(key, encoded);
    std::string value;
    const auto status = db_->get()->Get(read_at(snapshot), counters_, encoded, &value);
    if (status.IsNotFound()) {
        return std::optional<Cell>();
    }
    if (!status.ok()) {
        return unexpected("cannot read a counter: " + status_text(status));
    }
    auto decoded = decode_cell(value);
    if (!decoded) {
        return unexpected(decoded.error());
    }
    return std::optional<Cell>(*decoded);
}

Result<bool, std::string> ProjectionStore::for_each_cell(
    CellFamily family, std::string_view from, std::string_view to,
    const std::function<bool(std::string_view key, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    const bool counters = family == CellFamily::counters;
    rocksdb::ReadOptions read = read_at(snapshot);
    const rocksdb::Slice upper(to.data(), to.size());
    if (!to.empty()) {
        read.iterate_upper_bound = &upper;
    }
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(read, counters ? counters_ : breakdown_));
    for (iterator->Seek(rocksdb::Slice(from.data(), from.size())); iterator->Valid();
         iterator->Next()) {
        auto cell =
            decode_cell(std::string_view(iterator->value().data(), iterator->value().size()));
        if (!cell) {
            return unexpected(std::string("a damaged ") + (counters ? "counter" : "breakdown") +
                              " cell in the projection store");
        }
        if (!visit(std::string_view(iterator->key().data(), iterator->key().size()), *cell)) {
            return true;
        }
    }
    if (!iterator->status().ok()) {
        return unexpected(std::string("cannot read the ") + (counters ? "counters" : "breakdown") +
                          ": " + status_text(iterator->status()));
    }
    return true;
}

Result<bool, std::string> ProjectionStore::for_each_counter_range(
    std::string_view from, std::string_view to,
    const std::function<bool(const CounterKey&, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    bool damaged = false;
    auto read = for_each_cell(
        CellFamily::counters, from, to,
        [&](std::string_view bytes, const Cell& cell) {
            auto key = decode_counter_key(bytes);
            damaged = !key;
            return key && visit(*key, cell);
        },
        snapshot);
    if (read && damaged) {
        return unexpected(std::string("a damaged counter cell in the projection store"));
    }
    return read;
}

Result<bool, std::string> ProjectionStore::for_each_counter(
    std::string_view prefix, const std::function<bool(const CounterKey&, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    std::string end(prefix);
    // The first key after every key starting with `prefix` (prefixes here end in '\0' or a
    // window byte, never 0xff, so incrementing the last byte is enough).
    if (!end.empty()) {
        end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
    }
    return for_each_counter_range(prefix, end, visit, snapshot);
}

Result<bool, std::string> ProjectionStore::for_each_breakdown(
    std::string_view prefix, const std::function<bool(const BreakdownKey&, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    bool damaged = false;
    auto read = for_each_cell(
        CellFamily::breakdown, prefix, "",
        [&](std::string_view bytes, const Cell& cell) {
            if (!bytes.starts_with(prefix)) {
                return false;
            }
            auto key = decode_breakdown_key(bytes);
            damaged = !key;
            return key && visit(*key, cell);
        },
        snapshot);
    if (read && damaged) {
        return unexpected(std::string("a damaged breakdown cell in the projection store"));
    }
    return read;
}

namespace {
// The smallest key after every key that starts with `prefix` + '\0'.
std::string after_component(std::string prefix) {
    prefix.push_back('\x01');
    return prefix;
}
}  // namespace

Result<std::vector<std::string>, std::string> ProjectionStore::tenants(
    const rocksdb::Snapshot* snapshot) const {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(read_at(snapshot), counters_));
    for (iterator->SeekToFirst(); iterator->Valid();) {
        const std::string_view key(iterator->key().data(), iterator->key().size());
        const auto separator = key.find('\0');
        if (separator == std::string_view::npos) {
            return unexpected(std::string("a damaged counter key in the projection store"));
        }
        out.emplace_back(key.substr(0, separator));
        iterator->Seek(after_component(out.back()));
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the counters: " + status_text(iterator->status()));
    }
    return out;
}

Result<std::vector<std::string>, std::string> ProjectionStore::meters(
    std::string_view tenant_id, const rocksdb::Snapshot* snapshot) const {
    std::vector<std::string> out;
    const std::string prefix = counter_prefix(tenant_id);
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(read_at(snapshot), counters_));
    for (iterator->Seek(prefix);
         iterator->Valid() && iterator->key().starts_with(rocksdb::Slice(prefix));) {
        const std::string_view rest(iterator->key().data() + prefix.size(),
                                    iterator->key().size() - prefix.size());
        const auto separator = rest.find('\0');
        if (separator == std::string_view::npos) {
            return unexpected(std::string("a damaged counter key in the projection store"));
        }
        out.emplace_back(rest.substr(0, separator));
        iterator->Seek(after_component(prefix + out.back()));
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the counters: " + status_text(iterator->status()));
    }
    return out;
}

Result<std::map<std::string, std::string>, std::string> ProjectionStore::accounts() const {
    std::map<std::string, std::string> out;
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), accounts_));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        if (!iterator->key().starts_with(kDeletedAccountPrefix)) {
            out.emplace(iterator->key().ToString(), iterator->value().ToString());
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the accounts: " + status_text(iterator->status()));
    }
    return out;
}

Result<std::map<std::string, std::int64_t>, std::string> ProjectionStore::account_deletions()
    const {
    std::map<std::string, std::int64_t> out;
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), accounts_));
    const rocksdb::Slice prefix(kDeletedAccountPrefix);
    for (iterator->Seek(prefix); iterator->Valid() && iterator->key().starts_with(prefix);
         iterator->Next()) {
        const rocksdb::Slice value = iterator->value();
        if (value.size() == 8) {
            out.emplace(iterator->key().ToString().substr(prefix.size()),
                        static_cast<std::int64_t>(get_u64_be(value.data())));
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the accounts: " + status_text(iterator->status()));
    }
    return out;
}

}  // namespace ul
