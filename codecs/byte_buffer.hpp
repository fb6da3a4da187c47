#pragma once

// A growable byte buffer that, unlike std::string::resize, never zero-fills the room it hands
// out: writers reserve room at the tail, write, then advance. For hot output paths.

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace uringmig::codecs {

class byte_buffer {
 public:
  /// Room for `n` more bytes at the tail (the buffer grows by doubling); write there, then
  /// advance() by what was written.
  char* reserve_tail(std::size_t n) {
    if (cap_ - size_ < n) grow(size_ + n);
    return data_.get() + size_;
  }
  void advance(std::size_t n) noexcept { size_ += n; }
  void append(std::string_view s) {
    std::memcpy(reserve_tail(s.size()), s.data(), s.size());
    size_ += s.size();
  }
  void clear() noexcept { size_ = 0; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return {data_.get(), size_}; }

 private:
  void grow(std::size_t need) {
    std::size_t cap = cap_ ? cap_ : 4096;
    while (cap < need)
      cap *= 2;
    std::unique_ptr<char[]> p(new char[cap]);  // default-initialised: not zeroed
    if (size_) std::memcpy(p.get(), data_.get(), size_);
    data_ = std::move(p);
    cap_ = cap;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

}  // namespace uringmig::codecs
