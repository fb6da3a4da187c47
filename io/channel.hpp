#pragma once

#include "io/waiters.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace uringmig::io {

/// Bytes an item holds against a channel's budget: its footprint() if it has
/// one (pooled buffers count their whole slab), else its size.
template <class T>
std::size_t channel_footprint(const T& v) {
  if constexpr (requires { v.footprint(); }) {
    return v.footprint();
  } else {
    return sizeof(T);
  }
}

/// Bounded multi-producer multi-consumer channel between io_contexts (any
/// thread), bounded by bytes rather than items. A send waits while the items
/// queued would exceed the budget; a single item larger than the budget still
/// passes when the channel is empty, so nothing deadlocks.
/// close(): the producers are done; receivers drain what is left, then get
/// nullopt. cancel(): abort; queued items are dropped, sends return false.
template <class T>
class channel {
 public:
  explicit channel(std::size_t byte_budget) : budget_(byte_budget) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// Returns false (and drops the item) once the channel is cancelled or closed.
  boost::asio::awaitable<bool> send(T item) {
    const std::size_t n = channel_footprint(item);
    for (;;) {
      {
        std::unique_lock lk(m_);
        if (cancelled_ || closed_) co_return false;
        if (fits(n)) {
          items_.emplace_back(std::move(item), n);
          bytes_ += n;
          auto rs = receivers_.take_all();
          lk.unlock();
          wake_all(std::move(rs));
          co_return true;
        }
      }
      co_await park([this, n](wake_handler& h) {
        std::lock_guard lk(m_);
        if (cancelled_ || closed_ || fits(n)) return false;
        senders_.push(std::move(h));
        return true;
      });
    }
  }

  /// The next item, or nullopt once the channel is closed and drained, or cancelled.
  boost::asio::awaitable<std::optional<T>> receive() {
    for (;;) {
      {
        std::unique_lock lk(m_);
        if (cancelled_) co_return std::nullopt;
        if (!items_.empty()) {
          auto [v, n] = std::move(items_.front());
          items_.pop_front();
          bytes_ -= n;
          auto ss = senders_.take_all();
          lk.unlock();
          wake_all(std::move(ss));
          co_return std::optional<T>(std::move(v));
        }
        if (closed_) co_return std::nullopt;
      }
      co_await park([this](wake_handler& h) {
        std::lock_guard lk(m_);
        if (cancelled_ || closed_ || !items_.empty()) return false;
        receivers_.push(std::move(h));
        return true;
      });
    }
  }

  /// No more sends; receivers get what is queued, then nullopt.
  void close() { shut(false); }

  /// Abort both ends; queued items are destroyed.
  void cancel() { shut(true); }

  /// cancel() was called (close() alone does not count).
  bool cancelled() const {
    std::lock_guard lk(m_);
    return cancelled_;
  }

  std::size_t bytes_queued() const {
    std::lock_guard lk(m_);
    return bytes_;
  }
  std::size_t items_queued() const {
    std::lock_guard lk(m_);
    return items_.size();
  }

 private:
  bool fits(std::size_t n) const { return bytes_ == 0 || bytes_ + n <= budget_; }

  void shut(bool cancel) {
    std::deque<std::pair<T, std::size_t>> dropped;
    std::unique_lock lk(m_);
    closed_ = true;
    if (cancel) {
      cancelled_ = true;
      dropped.swap(items_);
      bytes_ = 0;
    }
    auto ss = senders_.take_all();
    auto rs = receivers_.take_all();
    lk.unlock();
    wake_all(std::move(ss));
    wake_all(std::move(rs));
  }

  mutable std::mutex m_;
  std::deque<std::pair<T, std::size_t>> items_;
  std::size_t bytes_ = 0;
  const std::size_t budget_;
  bool closed_ = false;
  bool cancelled_ = false;
  waiters senders_;
  waiters receivers_;
};

}  // namespace uringmig::io
