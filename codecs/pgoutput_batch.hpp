#pragma once

// Decoded pgoutput messages kept past their decode, so that a message is decoded once and used
// later (elsewhere) without decoding it again: add() copies a message's payload and the arrays
// its views point into (tuples, relation columns, truncated relations) into the batch's own
// blocks and rewrites the views. clear() keeps the blocks: a batch reused from a pool allocates
// only while it grows past what it held before.

#include "codecs/pgoutput.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace uringmig::codecs::pgoutput {

namespace detail {

/// Storage for arrays of T in blocks that never move: what allocate() returns stays valid until
/// clear(), which keeps the blocks for reuse. Blocks start small and double up to `max_block`
/// elements (a batch of one small transaction stays small).
template <class T>
class block_arena {
 public:
  block_arena(std::size_t min_block, std::size_t max_block)
      : next_size_(min_block), max_block_(max_block) {}

  /// `n` default-initialised elements, contiguous.
  T* allocate(std::size_t n) {
    while (current_ < blocks_.size()) {
      block& b = blocks_[current_];
      if (b.size - used_ >= n) {
        T* out = b.data.get() + used_;
        used_ += n;
        return out;
      }
      ++current_;
      used_ = 0;
    }
    const std::size_t size = n > next_size_ ? n : next_size_;
    next_size_ = next_size_ * 2 < max_block_ ? next_size_ * 2 : max_block_;
    blocks_.push_back(block{std::make_unique_for_overwrite<T[]>(size), size});
    current_ = blocks_.size() - 1;
    used_ = n;
    return blocks_.back().data.get();
  }

  void clear() noexcept {
    current_ = 0;
    used_ = 0;
  }
  /// Elements the blocks can hold.
  std::size_t capacity() const noexcept {
    std::size_t n = 0;
    for (const auto& b : blocks_)
      n += b.size;
    return n;
  }

 private:
  struct block {
    std::unique_ptr<T[]> data;
    std::size_t size = 0;
  };
  std::size_t next_size_;
  std::size_t max_block_;
  std::vector<block> blocks_;
  std::size_t current_ = 0;  // the block being filled
  std::size_t used_ = 0;     // elements of it handed out
};

}  // namespace detail

class message_batch {
 public:
  struct entry {
    message m;                           // its views point into the batch
    std::span<const std::byte> payload;  // the bytes it was decoded from (a copy in the batch)
  };

  message_batch() = default;
  message_batch(message_batch&&) = delete;  // entries point into the batch's blocks
  message_batch& operator=(message_batch&&) = delete;

  /// Appends `m`, decoded from `payload` (its views point into `payload` and into the decoder's
  /// buffers): both are copied, so they may change right after.
  void add(const message& m, std::span<const std::byte> payload);

  std::span<const entry> entries() const noexcept { return entries_; }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  /// Payload bytes added since the last clear().
  std::size_t payload_bytes() const noexcept { return payload_bytes_; }
  /// Bytes the blocks take, in use or not (a pool drops batches that grew too big).
  std::size_t footprint() const noexcept;
  void clear() noexcept;

 private:
  detail::block_arena<std::byte> bytes_{1024, 256 * 1024};
  detail::block_arena<column_value> values_{32, 8192};
  detail::block_arena<relation_column> columns_{16, 1024};
  detail::block_arena<std::uint32_t> oids_{16, 1024};
  std::vector<entry> entries_;
  std::size_t payload_bytes_ = 0;
};

}  // namespace uringmig::codecs::pgoutput
