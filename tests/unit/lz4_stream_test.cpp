#include "codecs/lz4_stream.hpp"

#include <gtest/gtest.h>
#include <lz4frame.h>

#include <random>
#include <string>

namespace {

using uringmig::codecs::lz4_stream;

/// Decodes LZ4 frames with liblz4's own decoder, checksums checked; false on a broken or
/// unfinished frame.
bool unlz4(const std::string& in, std::string& out) {
  LZ4F_dctx* d = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) return false;
  const char* src = in.data();
  std::size_t left = in.size();
  std::size_t hint = 1;
  char buf[64 * 1024];
  while (left > 0 && hint != 0) {
    std::size_t src_size = left;
    std::size_t dst_size = sizeof buf;
    hint = LZ4F_decompress(d, buf, &dst_size, src, &src_size, nullptr);
    if (LZ4F_isError(hint)) break;
    out.append(buf, dst_size);
    src += src_size;
    left -= src_size;
  }
  LZ4F_freeDecompressionContext(d);
  return !LZ4F_isError(hint) && hint == 0 && left == 0;  // 0: the frame ended, checksum good
}

TEST(lz4_stream, pieces_of_any_size_decode_back_to_the_input) {
  std::mt19937 rng(11);
  std::string input;
  for (int i = 0; i < 200000; ++i)
    input += "row " + std::to_string(rng() % 1000) + "\x01" + "value\n";
  for (std::size_t piece : {7u, 100u, 65536u, 1u << 22}) {
    lz4_stream z;
    std::string out;
    for (std::size_t at = 0; at < input.size(); at += piece)
      z.write(std::string_view(input).substr(at, piece), out);
    z.finish(out);
    EXPECT_EQ(z.bytes_in(), input.size());
    EXPECT_LT(out.size(), input.size() / 2) << "piece " << piece;
    EXPECT_EQ(out.substr(0, 4), std::string("\x04\x22\x4d\x18", 4));  // the frame's magic
    std::string back;
    ASSERT_TRUE(unlz4(out, back)) << "piece " << piece;
    EXPECT_EQ(back, input) << "piece " << piece;
  }
}

TEST(lz4_stream, an_empty_stream_is_a_valid_frame_and_a_cut_one_is_not) {
  lz4_stream z;
  std::string out;
  z.finish(out);
  std::string back;
  ASSERT_TRUE(unlz4(out, back));
  EXPECT_TRUE(back.empty());
  EXPECT_THROW(z.write("x", out), std::logic_error);

  lz4_stream y;
  std::string data;
  y.write(std::string(100000, 'q'), data);
  y.finish(data);
  std::string cut;
  EXPECT_FALSE(unlz4(data.substr(0, data.size() - 1), cut));  // the checksum is missing
}

}  // namespace
