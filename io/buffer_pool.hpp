#pragma once

#include "io/waiters.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace uringmig::io {

class buffer_pool;

/// A move-only slab from a buffer_pool: a fixed capacity, of which the first
/// size() bytes are filled. Returned to its pool on destruction, so it can
/// travel from a source connection to a sink on another thread without a
/// copy. The pool must outlive every buffer it handed out.
class buffer {
 public:
  buffer() = default;
  buffer(buffer&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  buffer& operator=(buffer&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = std::exchange(o.pool_, nullptr);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  ~buffer() { reset(); }

  explicit operator bool() const { return data_ != nullptr; }
  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t room() const { return capacity_ - size_; }
  bool empty() const { return size_ == 0; }
  /// What the buffer holds against a byte budget: the whole slab.
  std::size_t footprint() const { return capacity_; }

  /// The filled bytes; valid until the buffer is modified, moved or destroyed.
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  /// The unfilled tail: write into it, then commit().
  std::span<std::byte> spare() { return {data_ + size_, capacity_ - size_}; }
  void commit(std::size_t n) { size_ += n; }
  void clear() { size_ = 0; }

  /// Copies as much of `src` as fits; returns the number of bytes taken.
  std::size_t append(const void* src, std::size_t n) {
    const std::size_t k = n < room() ? n : room();
    std::memcpy(data_ + size_, src, k);
    size_ += k;
    return k;
  }

  /// Gives the slab back to the pool now.
  void reset();

 private:
  friend class buffer_pool;
  buffer(buffer_pool* p, std::byte* d, std::size_t cap) : pool_(p), data_(d), capacity_(cap) {}

  buffer_pool* pool_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// Fixed-size, page-aligned slabs under one global byte budget. Slabs are
/// allocated on first use and reused; acquire() waits while the budget is
/// spent. Thread-safe.
class buffer_pool {
 public:
  struct stats {
    std::size_t slab_size;
    std::size_t max_slabs;
    std::size_t allocated;  // slabs that exist (in use + free)
    std::size_t in_use;
    std::size_t peak_in_use;
    std::size_t waits;  // acquires that had to wait for a release
  };

  buffer_pool(std::size_t slab_size, std::size_t budget_bytes);
  ~buffer_pool();
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  /// A slab; suspends while every slab of the budget is in use.
  boost::asio::awaitable<buffer> acquire();
  /// A slab, or nullopt when the budget is spent.
  std::optional<buffer> try_acquire();

  std::size_t slab_size() const { return slab_size_; }
  stats snapshot() const;

 private:
  friend class buffer;
  std::byte* take_locked();
  void give_back(std::byte* slab);

  const std::size_t slab_size_;
  const std::size_t max_slabs_;
  mutable std::mutex m_;
  std::vector<std::byte*> free_;
  std::size_t allocated_ = 0;
  std::size_t in_use_ = 0;
  std::size_t peak_ = 0;
  std::size_t waits_ = 0;
  waiters waiters_;
};

}  // namespace uringmig::io
