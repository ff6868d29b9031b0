#include "ledger/hash_memtable.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "schemas/check.h"

namespace ul {
namespace {

using rocksdb::MemTableRep;
using rocksdb::Slice;

// One entry: two links, then the memtable entry RocksDB writes (varint32 internal key length,
// internal key = user key + 8-byte sequence and type, varint32 value length, value).
struct Node {
    std::atomic<Node*> chain_next{nullptr};  // next in this bucket's chain, in key order
    std::atomic<Node*> all_next{nullptr};    // next in the list of every node, newest first

    char* entry() { return reinterpret_cast<char*>(this + 1); }
    const char* entry() const { return reinterpret_cast<const char*>(this + 1); }
};
static_assert(sizeof(Node) % alignof(Node) == 0, "the entry must follow the links directly");

// varint32 as RocksDB writes it; `in` is memory RocksDB encoded (trusted, at most 5 bytes).
const char* decode_varint32(const char* in, std::uint32_t& value) {
    value = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
        const auto byte = static_cast<unsigned char>(*in++);
        value |= static_cast<std::uint32_t>(byte & 0x7FU) << shift;
        if ((byte & 0x80U) == 0) {
            break;
        }
    }
    return in;
}

Slice user_key_of(const char* entry) {
    std::uint32_t length = 0;
    const char* key = decode_varint32(entry, length);
    UL_CHECK(length >= 8, "memtable entry shorter than its sequence number");
    return {key, length - 8};
}

std::uint64_t hash_of(const Slice& user_key) {
    return XXH3_64bits(user_key.data(), user_key.size());
}

// rocksdb::LookupKey begins with: const char* start_ (the length-prefixed internal key),
// kstart_ (the internal key), end_. Read by copy and validated before any dereference.
struct LookupKeyView {
    const char* start;
    const char* kstart;
    const char* end;
};

LookupKeyView view_of(const rocksdb::LookupKey& lookup) {
    LookupKeyView view{};
    std::memcpy(&view, reinterpret_cast<const void*>(&lookup), sizeof view);
    const bool ordered = view.start != nullptr && view.start < view.kstart &&
                         view.kstart - view.start <= 5 && view.kstart + 8 <= view.end;
    UL_CHECK(ordered,
             "rocksdb::LookupKey does not begin with (start_, kstart_, end_): this RocksDB "
             "cannot use ledger/hash_memtable");
    std::uint32_t length = 0;
    const char* after = decode_varint32(view.start, length);
    UL_CHECK(after == view.kstart && view.kstart + length == view.end,
             "rocksdb::LookupKey does not begin with (start_, kstart_, end_): this RocksDB "
             "cannot use ledger/hash_memtable");
    return view;
}

using SortedEntries = std::vector<const char*>;

// An ordered iterator over a sorted snapshot of the entries.
class SortedIterator final : public MemTableRep::Iterator {
  public:
    SortedIterator(const MemTableRep::KeyComparator& compare,
                   std::shared_ptr<const SortedEntries> entries)
        : compare_(compare), entries_(std::move(entries)), position_(entries_->size()) {}

    bool Valid() const override { return position_ < entries_->size(); }
    const char* key() const override { return (*entries_)[position_]; }
    void Next() override { ++position_; }
    void Prev() override { position_ = position_ == 0 ? entries_->size() : position_ - 1; }

    void Seek(const Slice& internal_key, const char* /*memtable_key*/) override {
        const auto found = std::lower_bound(
            entries_->begin(), entries_->end(), internal_key,
            [this](const char* entry, const Slice& key) { return compare_(entry, key) < 0; });
        position_ = static_cast<std::size_t>(found - entries_->begin());
    }

    void SeekForPrev(const Slice& internal_key, const char* /*memtable_key*/) override {
        const auto found = std::upper_bound(
            entries_->begin(), entries_->end(), internal_key,
            [this](const Slice& key, const char* entry) { return compare_(entry, key) > 0; });
        position_ = found == entries_->begin()
                        ? entries_->size()
                        : static_cast<std::size_t>(found - entries_->begin()) - 1;
    }

    void SeekToFirst() override { position_ = 0; }
    void SeekToLast() override {
        position_ = entries_->empty() ? entries_->size() : entries_->size() - 1;
    }

  private:
    const MemTableRep::KeyComparator& compare_;
    std::shared_ptr<const SortedEntries> entries_;
    std::size_t position_;
};

class HashMemTableRep final : public MemTableRep {
  public:
    HashMemTableRep(const KeyComparator& compare, rocksdb::Allocator* allocator,
                    std::size_t bucket_count)
        : MemTableRep(allocator),
          compare_(compare),
          bucket_count_(bucket_count),
          buckets_(std::make_unique<std::atomic<Node*>[]>(bucket_count)) {
        UL_CHECK(std::has_single_bit(bucket_count), "bucket count must be a power of two");
    }

    rocksdb::KeyHandle Allocate(const std::size_t length, char** buffer) override {
        // The arena's own allocator is internal to RocksDB: take bytes through the base class
        // (unaligned) and align the links by hand.
        char* raw = nullptr;
        std::size_t space = length + sizeof(Node) + alignof(Node) - 1;
        MemTableRep::Allocate(space, &raw);
        void* address = raw;
        UL_CHECK(std::align(alignof(Node), sizeof(Node) + length, address, space) != nullptr,
                 "hash memtable: cannot align a node");
        Node* node = new (address) Node();
        *buffer = node->entry();
        return node;
    }

    void Insert(rocksdb::KeyHandle handle) override {
        Node* node = static_cast<Node*>(handle);
        const char* entry = node->entry();
        std::atomic<Node*>* link = &bucket_of(user_key_of(entry));
        // One writer: its own earlier stores are visible to relaxed loads.
        Node* next = link->load(std::memory_order_relaxed);
        while (next != nullptr && compare_(next->entry(), entry) < 0) {
            link = &next->chain_next;
            next = link->load(std::memory_order_relaxed);
        }
        node->chain_next.store(next, std::memory_order_relaxed);
        node->all_next.store(all_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        link->store(node, std::memory_order_release);  // readers of the chain see a whole node
        all_.store(node, std::memory_order_release);
        count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    bool Contains(const char* key) const override {
        for (const Node* node = bucket_of(user_key_of(key)).load(std::memory_order_acquire);
             node != nullptr; node = node->chain_next.load(std::memory_order_acquire)) {
            const int order = compare_(node->entry(), key);
            if (order == 0) {
                return true;
            }
            if (order > 0) {
                return false;
            }
        }
        return false;
    }

    void Get(const rocksdb::LookupKey& lookup, void* arguments,
             bool (*callback)(void* arguments, const char* entry)) override {
        // Like the skiplist: from the first entry >= the lookup key, hand entries to the
        // callback until it declines (it declines at the first entry of another user key).
        const LookupKeyView view = view_of(lookup);
        const Slice internal_key(view.kstart, static_cast<std::size_t>(view.end - view.kstart));
        const Slice user_key(view.kstart, internal_key.size() - 8);
        const Node* node = bucket_of(user_key).load(std::memory_order_acquire);
        while (node != nullptr && compare_(node->entry(), internal_key) < 0) {
            node = node->chain_next.load(std::memory_order_acquire);
        }
        while (node != nullptr && callback(arguments, node->entry())) {
            node = node->chain_next.load(std::memory_order_acquire);
        }
    }

    void MarkReadOnly() override { read_only_.store(true, std::memory_order_release); }

    std::size_t ApproximateMemoryUsage() override {
        // Entries live in the memtable's arena, which RocksDB counts itself. Constant: RocksDB
        // asserts that a memtable's usage does not grow once it is immutable (the iterators'
        // few bytes below are left out for that reason).
        return bucket_count_ * sizeof(std::atomic<Node*>);
    }

    Iterator* GetIterator(rocksdb::Arena* arena) override {
        auto entries = sorted_entries();
        if (arena == nullptr) {
            return new SortedIterator(compare_, std::move(entries));
        }
        // RocksDB destroys an arena iterator in place and frees the arena later; that arena's
        // allocator is internal, so the iterator's bytes belong to this memtable instead
        // (iterators never outlive their memtable).
        std::lock_guard<std::mutex> lock(iterator_mutex_);
        auto& storage = iterator_storage_.emplace_back(std::make_unique<IteratorStorage>());
        return new (storage->bytes) SortedIterator(compare_, std::move(entries));
    }

  private:
    struct IteratorStorage {
        alignas(SortedIterator) unsigned char bytes[sizeof(SortedIterator)];
    };

    std::atomic<Node*>& bucket_of(const Slice& user_key) const {
        return buckets_[hash_of(user_key) & (bucket_count_ - 1)];
    }

    std::shared_ptr<const SortedEntries> sorted_entries() {
        if (!read_only_.load(std::memory_order_acquire)) {
            return sort_all();  // a snapshot of a live memtable: sorted for this iterator only
        }
        std::lock_guard<std::mutex> lock(sorted_mutex_);
        if (sorted_ == nullptr) {
            sorted_ = sort_all();  // an immutable memtable is sorted once (its flush)
        }
        return sorted_;
    }

    std::shared_ptr<const SortedEntries> sort_all() const {
        auto entries = std::make_shared<SortedEntries>();
        entries->reserve(count_.load(std::memory_order_relaxed));
        for (const Node* node = all_.load(std::memory_order_acquire); node != nullptr;
             node = node->all_next.load(std::memory_order_acquire)) {
            entries->push_back(node->entry());
        }
        std::sort(entries->begin(), entries->end(), [this](const char* left, const char* right) {
            return compare_(left, right) < 0;
        });
        return entries;
    }

    const KeyComparator& compare_;
    const std::size_t bucket_count_;
    std::unique_ptr<std::atomic<Node*>[]> buckets_;
    std::atomic<Node*> all_{nullptr};
    std::atomic<std::size_t> count_{0};
    std::atomic<bool> read_only_{false};
    std::mutex sorted_mutex_;
    std::shared_ptr<const SortedEntries> sorted_;
    std::mutex iterator_mutex_;
    std::vector<std::unique_ptr<IteratorStorage>> iterator_storage_;
};

class HashMemTableFactory final : public rocksdb::MemTableRepFactory {
  public:
    explicit HashMemTableFactory(std::size_t bucket_count) : bucket_count_(bucket_count) {}

    using MemTableRepFactory::CreateMemTableRep;
    MemTableRep* CreateMemTableRep(const MemTableRep::KeyComparator& compare,
                                   rocksdb::Allocator* allocator,
                                   const rocksdb::SliceTransform* /*prefix_extractor*/,
                                   rocksdb::Logger* /*logger*/) override {
        return new HashMemTableRep(compare, allocator, bucket_count_);
    }

    const char* Name() const override { return "UsageLedgerHashMemTableFactory"; }

  private:
    std::size_t bucket_count_;
};

}  // namespace

std::shared_ptr<rocksdb::MemTableRepFactory> make_hash_memtable_factory(std::size_t expected_keys) {
    return std::make_shared<HashMemTableFactory>(
        std::bit_ceil(std::max<std::size_t>(expected_keys, 64)));
}

}  // namespace ul
