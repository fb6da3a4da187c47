#pragma once

// Streaming gzip (RFC 1952) compression with zlib, for request bodies such as Doris Stream
// Load's `compress_type: gz`. Pure: bytes in, bytes appended out.

#include <memory>
#include <string>
#include <string_view>

namespace uringmig::codecs {

class gzip_stream {
 public:
  /// `level` 1 (fast) .. 9 (small). Throws std::runtime_error when zlib cannot start.
  explicit gzip_stream(int level = 1);
  gzip_stream(gzip_stream&&) noexcept;
  gzip_stream& operator=(gzip_stream&&) noexcept;
  ~gzip_stream();

  /// Compresses `in`, appending whatever zlib emits so far to `out`.
  void write(std::string_view in, std::string& out);
  /// Ends the stream (trailer included); the object is spent after.
  void finish(std::string& out);

  std::uint64_t bytes_in() const noexcept { return in_; }

 private:
  struct state;
  std::unique_ptr<state> s_;
  std::uint64_t in_ = 0;
};

}  // namespace uringmig::codecs
