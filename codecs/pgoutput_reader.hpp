#pragma once

// Internal to the pgoutput decoder: a bounds-checked big-endian reader with a sticky error.
// After the first failure every read returns zero / empty and the position stops moving, so a
// decoder reads a whole message and checks ok() once (and before any loop or allocation that a
// read value drives).

#include "codecs/pgoutput.hpp"

#include <cstring>

namespace uringmig::codecs::pgoutput::detail {

class reader {
 public:
  reader(std::span<const std::byte> bytes, const char* context) noexcept : bytes_(bytes) {
    error_.context = context;
  }

  bool ok() const noexcept { return !failed_; }
  const decode_error& error() const noexcept { return error_; }
  std::size_t offset() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

  void set_message_type(char type) noexcept { error_.message_type = type; }
  void set_context(const char* context) noexcept { error_.context = context; }

  std::uint8_t u8(const char* field, std::int64_t index = -1) noexcept {
    return static_cast<std::uint8_t>(big_endian(1, field, index));
  }
  std::uint16_t u16(const char* field, std::int64_t index = -1) noexcept {
    return static_cast<std::uint16_t>(big_endian(2, field, index));
  }
  std::uint32_t u32(const char* field, std::int64_t index = -1) noexcept {
    return static_cast<std::uint32_t>(big_endian(4, field, index));
  }
  std::uint64_t u64(const char* field, std::int64_t index = -1) noexcept {
    return big_endian(8, field, index);
  }
  std::int64_t i64(const char* field, std::int64_t index = -1) noexcept {
    return static_cast<std::int64_t>(big_endian(8, field, index));
  }

  /// `n` raw bytes viewed as text.
  std::string_view text(std::size_t n, const char* field, std::int64_t index = -1) noexcept {
    if (!need(n, field, index)) return {};
    std::string_view out(chars() + pos_, n);
    pos_ += n;
    return out;
  }

  /// A NUL-terminated String; the view excludes the NUL.
  std::string_view cstring(const char* field, std::int64_t index = -1) noexcept {
    if (failed_) return {};
    const void* nul = std::memchr(chars() + pos_, 0, remaining());
    if (nul == nullptr) {
      fail(errc::truncated, field, pos_, index);
      error_.needed = 0;  // marks "no terminator" for to_string()
      error_.available = remaining();
      return {};
    }
    const std::size_t len =
        static_cast<std::size_t>(static_cast<const char*>(nul) - chars()) - pos_;
    std::string_view out(chars() + pos_, len);
    pos_ += len + 1;
    return out;
  }

  void fail_value(const char* field, std::size_t at, std::int64_t value,
                  std::int64_t index = -1) noexcept {
    if (failed_) return;
    fail(errc::bad_value, field, at, index);
    error_.value = value;
  }

  /// True when the whole message was read; otherwise records trailing bytes as the error.
  bool finish() noexcept {
    if (failed_) return false;
    if (pos_ == bytes_.size()) return true;
    fail(errc::trailing_bytes, "end of message", pos_, -1);
    error_.value = static_cast<std::int64_t>(remaining());
    return false;
  }

 private:
  const char* chars() const noexcept { return reinterpret_cast<const char*>(bytes_.data()); }

  bool need(std::size_t n, const char* field, std::int64_t index) noexcept {
    if (failed_) return false;
    if (n <= remaining()) return true;
    fail(errc::truncated, field, pos_, index);
    error_.needed = n;
    error_.available = remaining();
    return false;
  }

  std::uint64_t big_endian(std::size_t n, const char* field, std::int64_t index) noexcept {
    if (!need(n, field, index)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v = v << 8 | static_cast<std::uint8_t>(bytes_[pos_ + i]);
    }
    pos_ += n;
    return v;
  }

  void fail(errc code, const char* field, std::size_t at, std::int64_t index) noexcept {
    failed_ = true;
    error_.code = code;
    error_.field = field;
    error_.offset = at;
    error_.index = index;
  }

  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  bool failed_ = false;
  decode_error error_;
};

}  // namespace uringmig::codecs::pgoutput::detail
