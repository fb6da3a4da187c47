#pragma once

// Streaming compression of request bodies, such as Doris Stream Load's `compress_type`: gzip
// (RFC 1952, zlib) or LZ4 frames (liblz4, content checksum on; what Doris reads for `lz4`).
// Pure: bytes in, bytes appended out.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace uringmig::codecs {

enum class compression { gzip, lz4 };

class compress_stream {
 public:
  /// gzip at level 1 (fast); LZ4 at its fast default. Throws std::runtime_error when the
  /// library cannot start a stream.
  explicit compress_stream(compression kind);
  compress_stream(compress_stream&&) noexcept;
  compress_stream& operator=(compress_stream&&) noexcept;
  ~compress_stream();

  /// Compresses `in`, appending whatever the library emits so far to `out`.
  void write(std::string_view in, std::string& out);
  /// Ends the stream (trailer, end mark, checksum); the object is spent after.
  void finish(std::string& out);

  std::uint64_t bytes_in() const noexcept { return in_; }

  struct state;  // one per compression

 private:
  std::unique_ptr<state> s_;
  std::uint64_t in_ = 0;
  bool finished_ = false;
};

}  // namespace uringmig::codecs
