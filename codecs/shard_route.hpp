#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

// The sharding rule of DESIGN.md, compatible with shard sets made by the tools uringmig
// replaces: shard = SHA-256(key's UTF-8 bytes) read as one 256-bit big-endian unsigned
// integer, modulo the shard count; NULL, empty and whitespace-only keys go to the reserved
// shard. Files are `<table>_shard_<NN>.db`.

namespace uringmig::codecs {

using sha256_digest = std::array<std::uint8_t, 32>;

/// SHA-256 of `bytes` (OpenSSL's implementation, SHA-NI where the CPU has it).
sha256_digest sha256(std::string_view bytes) noexcept;

/// The digest read as a 256-bit big-endian unsigned integer, modulo `n` (n >= 1).
std::uint64_t mod_big_endian(const sha256_digest& digest, std::uint64_t n) noexcept;

/// True when `key` is empty or every code point is white space in Go's unicode.IsSpace sense
/// (what strings.TrimSpace removes): U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680,
/// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. Invalid UTF-8 is not white space.
bool is_blank_key(std::string_view key) noexcept;

/// Routes keys of one shard set. Cheap to copy; thread-safe (no state).
class shard_router {
 public:
  /// `shards` >= 1 files for keys; `reserved` is the index for NULL/blank keys (commonly
  /// `shards`, one extra file; it may also be one of 0..shards-1).
  shard_router(int shards, int reserved) noexcept;

  /// The shard of a present key (its UTF-8 bytes, or the text form of a non-text value).
  int route(std::string_view key) const noexcept {
    if (is_blank_key(key)) return reserved_;
    return static_cast<int>(mod(sha256(key)));
  }
  /// mod_big_endian(digest, shards) without a division per word: the digest as sixteen
  /// 16-bit words times 2^(16k) mod n (precomputed), summed (< 2^52), then one division.
  std::uint64_t mod(const sha256_digest& digest) const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t k = 0; k < 16; ++k) {
      const std::uint64_t word =
          (std::uint64_t{digest[30 - 2 * k]} << 8) | digest[31 - 2 * k];  // k-th from the end
      sum += word * pow16_[k];
    }
    return sum % static_cast<std::uint64_t>(shards_);
  }
  /// The shard of a NULL key.
  int route_null() const noexcept { return reserved_; }

  int shards() const noexcept { return shards_; }
  int reserved() const noexcept { return reserved_; }
  /// How many files the set has: shards, plus one when the reserved shard is its own file.
  int files() const noexcept { return reserved_ >= shards_ ? reserved_ + 1 : shards_; }

 private:
  int shards_;
  int reserved_;
  std::array<std::uint64_t, 16> pow16_{};  // 2^(16k) mod shards
};

/// "<table>_shard_<NN>.db", NN zero-padded to (at least) two digits.
std::string shard_file_name(std::string_view table, int index);

}  // namespace uringmig::codecs
