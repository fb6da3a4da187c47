#pragma once

// Internal to engine/cdc/apply*: encoded row keys -> positions, for the tens of thousands of keys
// one group's net or multiset of a table holds. Open addressing over one array, the keys' bytes
// in one string: no allocation per key, and clear() keeps both for the next group (a node-based
// map allocated, hashed and freed every key of every group: measured the applier's top cost).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine::cdc::detail {

class key_index {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// The value stored for `key`, or npos.
  std::size_t find(std::string_view key) const {
    if (slots_.empty()) return npos;
    const std::uint64_t h = hash(key);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.len == free_slot) return npos;
      if (s.hash == h && key_of(s) == key) return s.value;
    }
  }
  /// Stores `value` for `key`, which must not be there yet.
  void insert(std::string_view key, std::size_t value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const std::uint64_t h = hash(key);
    std::size_t i = h & mask_;
    while (slots_[i].len != free_slot)
      i = (i + 1) & mask_;
    slots_[i] = slot{h, keys_.size(), static_cast<std::uint32_t>(key.size()),
                     static_cast<std::uint32_t>(value)};
    keys_.append(key);
    ++size_;
  }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Empties it; keeps the memory.
  void clear() {
    if (size_ == 0) return;
    for (auto& s : slots_)
      s.len = free_slot;
    keys_.clear();
    size_ = 0;
  }

 private:
  static constexpr std::uint32_t free_slot = 0xFFFFFFFF;
  struct slot {
    std::uint64_t hash = 0;
    std::size_t offset = 0;  // of the key in keys_
    std::uint32_t len = free_slot;
    std::uint32_t value = 0;
  };

  static std::uint64_t hash(std::string_view key) {
    // The key's bytes but the last, mixed (std::hash, spread once more for the mask's high bits),
    // pick an aligned block of 16 slots; the last byte's low bits the slot in it. Keys that differ
    // in their last byte only (consecutive ids: "1230" … "1239") are neighbours: a run of ids
    // written together costs a cache miss per block instead of one per key (the first probe's
    // miss was most of a change's cost in the net, measured with perf). Probing stays linear.
    if (key.empty()) return 0;
    std::uint64_t h = std::hash<std::string_view>{}(key.substr(0, key.size() - 1));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (h & ~std::uint64_t{15}) | (static_cast<unsigned char>(key.back()) & 15U);
  }
  std::string_view key_of(const slot& s) const { return {keys_.data() + s.offset, s.len}; }

  void grow() {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, slot{});
    mask_ = slots_.size() - 1;
    for (const slot& s : old) {
      if (s.len == free_slot) continue;
      std::size_t i = s.hash & mask_;
      while (slots_[i].len != free_slot)
        i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<slot> slots_;
  std::size_t mask_ = 0;
  std::string keys_;
  std::size_t size_ = 0;
};

}  // namespace uringmig::engine::cdc::detail
