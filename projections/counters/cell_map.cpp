#include "projections/counters/cell_map.h"

#include <sys/mman.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>
#include <stdexcept>
#include <utility>

namespace ul {
namespace {

constexpr std::size_t kInitialSlots = 1024;
constexpr std::size_t kHugePage = 2U << 20U;

}  // namespace

void CellMap::Release::operator()(Slot* slots) const {
    std::free(slots);  // NOLINT(cppcoreguidelines-no-malloc): paired with aligned_alloc
}

CellMap::Slots CellMap::allocate(std::size_t count) {
    const std::size_t bytes = count * sizeof(Slot);
    const std::size_t alignment = bytes >= kHugePage ? kHugePage : alignof(Slot);
    void* memory = std::aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment);
    if (memory == nullptr) {
        throw std::bad_alloc();
    }
    if (alignment == kHugePage) {
        ::madvise(memory, bytes, MADV_HUGEPAGE);  // advice only: no huge pages is no error
    }
    auto* slots = static_cast<Slot*>(memory);
    std::uninitialized_value_construct_n(slots, count);
    return Slots(slots);
}

CellMap::CellMap() : capacity_(kInitialSlots), slots_(allocate(kInitialSlots)) {}

CellMap::CellMap(CellMap&& other) noexcept
    : capacity_(std::exchange(other.capacity_, 0)),
      slots_(std::move(other.slots_)),
      keys_(std::move(other.keys_)),
      size_(std::exchange(other.size_, 0)) {
    other.keys_.clear();
}

CellMap& CellMap::operator=(CellMap&& other) noexcept {
    if (this != &other) {
        capacity_ = std::exchange(other.capacity_, 0);
        slots_ = std::move(other.slots_);
        keys_ = std::move(other.keys_);
        size_ = std::exchange(other.size_, 0);
        other.keys_.clear();
    }
    return *this;
}

std::size_t CellMap::probe(std::string_view key, std::uint64_t hash) const {
    const std::size_t mask = capacity_ - 1;
    for (std::size_t index = hash & mask;; index = (index + 1) & mask) {
        const Slot& slot = slots_[index];
        if (slot.length == 0 ||
            (slot.hash == hash && slot.length == key.size() &&
             std::string_view(keys_.data() + slot.offset, slot.length) == key)) {
            return index;
        }
    }
}

void CellMap::grow() {
    Slots old = allocate(capacity_ * 2);
    old.swap(slots_);
    const std::size_t old_capacity = capacity_;
    capacity_ *= 2;
    const std::size_t mask = capacity_ - 1;
    for (std::size_t from = 0; from < old_capacity; ++from) {
        const Slot& slot = old[from];
        if (slot.length == 0) {
            continue;
        }
        std::size_t index = slot.hash & mask;
        while (slots_[index].length != 0) {
            index = (index + 1) & mask;
        }
        slots_[index] = slot;
    }
}

std::uint64_t CellMap::hash(std::string_view key) {
    return XXH3_64bits(key.data(), key.size());
}

bool CellMap::add(std::string_view key, std::uint64_t hash, const Cell& cell, bool* inserted) {
    if (capacity_ == 0) {  // moved from
        slots_ = allocate(kInitialSlots);
        capacity_ = kInitialSlots;
    }
    std::size_t index = probe(key, hash);
    if (slots_[index].length != 0) {
        if (inserted != nullptr) {
            *inserted = false;
        }
        return merge_cell(slots_[index].cell, cell);
    }
    if ((size_ + 1) * 2 > capacity_) {
        grow();
        index = probe(key, hash);
    }
    if (keys_.size() + key.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("CellMap: more than 4 GiB of keys");
    }
    Slot& slot = slots_[index];
    slot.hash = hash;
    slot.offset = static_cast<std::uint32_t>(keys_.size());
    slot.length = static_cast<std::uint32_t>(key.size());
    slot.cell = cell;
    keys_.append(key);
    ++size_;
    if (inserted != nullptr) {
        *inserted = true;
    }
    return true;
}

const Cell* CellMap::find(std::string_view key) const {
    if (capacity_ == 0) {
        return nullptr;
    }
    const Slot& slot = slots_[probe(key, XXH3_64bits(key.data(), key.size()))];
    return slot.length == 0 ? nullptr : &slot.cell;
}

void CellMap::clear() {
    if (size_ == 0) {
        return;
    }
    for (std::size_t index = 0; index < capacity_; ++index) {
        slots_[index].length = 0;
    }
    keys_.clear();
    size_ = 0;
}

std::vector<std::pair<std::string_view, const Cell*>> CellMap::sorted() const {
    std::vector<std::pair<std::string_view, const Cell*>> out;
    out.reserve(size_);
    for_each([&](std::string_view key, const Cell& cell) { out.emplace_back(key, &cell); });
    std::sort(out.begin(), out.end(),
              [](const auto& left, const auto& right) { return left.first < right.first; });
    return out;
}

}  // namespace ul
