#include "io/buffer_pool.hpp"

#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

namespace uringmig::io {

namespace {
constexpr std::size_t slab_alignment = 4096;
}

void buffer::reset() {
  // Clear first: giving the slab back may wake a waiter on another thread
  // that goes on to destroy whatever owns this buffer.
  buffer_pool* pool = std::exchange(pool_, nullptr);
  std::byte* data = std::exchange(data_, nullptr);
  size_ = 0;
  capacity_ = 0;
  if (pool != nullptr && data != nullptr) pool->give_back(data);
}

buffer_pool::buffer_pool(std::size_t slab_size, std::size_t budget_bytes)
    : slab_size_((slab_size + slab_alignment - 1) / slab_alignment * slab_alignment),
      max_slabs_(budget_bytes / slab_size_ > 0 ? budget_bytes / slab_size_ : 1) {}

buffer_pool::~buffer_pool() {
  if (in_use_ != 0) {
    // A buffer outlives its pool: its destructor would write freed memory.
    std::fprintf(stderr, "uringmig: internal error: buffer pool destroyed with %zu slabs in use\n",
                 in_use_);
    std::abort();
  }
  for (std::byte* s : free_)
    ::operator delete(s, std::align_val_t(slab_alignment));
}

std::byte* buffer_pool::take_locked() {
  std::byte* s = nullptr;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else if (allocated_ < max_slabs_) {
    s = static_cast<std::byte*>(::operator new(slab_size_, std::align_val_t(slab_alignment)));
    ++allocated_;
  } else {
    return nullptr;
  }
  ++in_use_;
  if (in_use_ > peak_) peak_ = in_use_;
  return s;
}

std::optional<buffer> buffer_pool::try_acquire() {
  std::lock_guard lk(m_);
  if (std::byte* s = take_locked()) return buffer(this, s, slab_size_);
  return std::nullopt;
}

boost::asio::awaitable<buffer> buffer_pool::acquire() {
  for (bool waited = false;; waited = true) {
    {
      std::lock_guard lk(m_);
      if (std::byte* s = take_locked()) {
        if (waited) ++waits_;
        co_return buffer(this, s, slab_size_);
      }
    }
    co_await park([this](wake_handler& h) {
      std::lock_guard lk(m_);
      if (!free_.empty() || allocated_ < max_slabs_) return false;
      waiters_.push(std::move(h));
      return true;
    });
  }
}

void buffer_pool::give_back(std::byte* slab) {
  std::unique_lock lk(m_);
  free_.push_back(slab);
  --in_use_;
  // One slab back, one waiter woken; it re-checks under the lock.
  auto w = waiters_.take_one();
  lk.unlock();
  if (w) wake(std::move(*w));
}

buffer_pool::stats buffer_pool::snapshot() const {
  std::lock_guard lk(m_);
  return {slab_size_, max_slabs_, allocated_, in_use_, peak_, waits_};
}

}  // namespace uringmig::io
