// CellMap: the cells of not-yet-written deltas, keyed by their encoded keys (cells.h), in one
// open-addressing table — the hot path of the counters projection, touched three or four times
// per ledger entry.
//
// Why not std::unordered_map<std::string, Cell>: one heap node per key, a modulo by a prime and
// two or three dependent cache misses per lookup were most of the projection's CPU once its
// RocksDB writes were coalesced. Here a slot is one 64-byte cache line (64-bit XXH3 of the key,
// where the key's bytes live, the Cell), probed linearly; the key bytes sit in one arena string
// and are compared on a hash match, so two keys never share a cell. Nothing is allocated per
// key except when the table or the arena grows (clear() keeps both).
// Pure, single-threaded; readers on other threads need the owner's lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "projections/counters/cells.h"

namespace ul {

class CellMap {
  public:
    CellMap();
    // A moved-from map is empty and usable.
    CellMap(CellMap&& other) noexcept;
    CellMap& operator=(CellMap&& other) noexcept;
    CellMap(const CellMap&) = delete;
    CellMap& operator=(const CellMap&) = delete;
    ~CellMap() = default;
    // Merges `cell` into the key's cell (a new key starts as `cell`). False when the merge
    // would overflow (cells.h merge_cell); the map is then unchanged. Throws std::length_error
    // past 4 GiB of key bytes (callers bound the map far below).
    [[nodiscard]] bool add(std::string_view key, const Cell& cell, bool* inserted = nullptr) {
        return add(key, hash(key), cell, inserted);
    }
    // The same with the key's hash() already known (after a prefetch()).
    [[nodiscard]] bool add(std::string_view key, std::uint64_t hash, const Cell& cell,
                           bool* inserted = nullptr);
    static std::uint64_t hash(std::string_view key);
    // Brings the key's first slot towards the cache, so that the lookups of one event's cells
    // wait for memory together rather than one after another.
    void prefetch(std::uint64_t hash) const {
        if (capacity_ != 0) {
            __builtin_prefetch(&slots_[hash & (capacity_ - 1)], 1);
        }
    }
    const Cell* find(std::string_view key) const;
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    std::size_t key_bytes() const { return keys_.size(); }
    void clear();

    // Every (key, cell), in no particular order.
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (std::size_t index = 0; index < capacity_; ++index) {
            const Slot& slot = slots_[index];
            if (slot.length != 0) {
                visit(std::string_view(keys_.data() + slot.offset, slot.length), slot.cell);
            }
        }
    }
    // Every (key, cell) in key order (bytewise, as RocksDB sorts); views valid until the next
    // add() or clear().
    std::vector<std::pair<std::string_view, const Cell*>> sorted() const;

  private:
    struct alignas(64) Slot {
        std::uint64_t hash = 0;
        std::uint32_t offset = 0;
        std::uint32_t length = 0;  // 0: empty (keys are never empty)
        Cell cell;
    };
    struct Release {
        void operator()(Slot* slots) const;
    };
    using Slots = std::unique_ptr<Slot[], Release>;
    // Zeroed slots; 2 MiB-aligned and marked for transparent huge pages when that large, as
    // lookups land anywhere in the table and 4 KiB pages made most of them TLB misses too.
    static Slots allocate(std::size_t count);
    std::size_t probe(std::string_view key, std::uint64_t hash) const;
    void grow();

    std::size_t capacity_;  // a power of two; the table is at most half full
    Slots slots_;
    std::string keys_;  // every key's bytes, back to back
    std::size_t size_ = 0;
};

}  // namespace ul
