#pragma once

// Streaming LZ4 frame compression (the LZ4 frame format, not raw blocks), for request bodies
// such as Doris Stream Load's `compress_type: lz4`. Pure: bytes in, bytes appended out.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace uringmig::codecs {

class lz4_stream {
 public:
  /// Throws std::runtime_error when liblz4 cannot start a frame.
  lz4_stream();
  lz4_stream(lz4_stream&&) noexcept;
  lz4_stream& operator=(lz4_stream&&) noexcept;
  ~lz4_stream();

  /// Compresses `in`, appending whatever liblz4 emits so far (the frame header first) to `out`.
  void write(std::string_view in, std::string& out);
  /// Ends the frame (end mark and content checksum); the object is spent after.
  void finish(std::string& out);

  std::uint64_t bytes_in() const noexcept { return in_; }

 private:
  struct state;
  std::unique_ptr<state> s_;
  std::uint64_t in_ = 0;
};

}  // namespace uringmig::codecs
