#include "codecs/compress_stream.hpp"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <zlib.h>

#include <random>
#include <string>

namespace {

using uringmig::codecs::compress_stream;
using uringmig::codecs::compression;

/// Inflates a gzip stream with zlib itself; false on a broken or unfinished stream.
bool gunzip(const std::string& in, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[4096];
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END && z.avail_in == 0;
}

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

bool decode(compression kind, const std::string& in, std::string& out) {
  return kind == compression::gzip ? gunzip(in, out) : unlz4(in, out);
}

class compress_stream_test : public ::testing::TestWithParam<compression> {};

TEST_P(compress_stream_test, pieces_of_any_size_decode_back_to_the_input) {
  std::mt19937 rng(7);
  std::string input;
  for (int i = 0; i < 200000; ++i)
    input += "row " + std::to_string(rng() % 1000) + "\x01" + "value\n";
  for (std::size_t piece : {7u, 100u, 65536u, 1u << 22}) {
    compress_stream z(GetParam());
    std::string out;
    for (std::size_t at = 0; at < input.size(); at += piece)
      z.write(std::string_view(input).substr(at, piece), out);
    z.finish(out);
    EXPECT_EQ(z.bytes_in(), input.size());
    EXPECT_LT(out.size(), input.size() / 2) << "piece " << piece;
    std::string back;
    ASSERT_TRUE(decode(GetParam(), out, back)) << "piece " << piece;
    EXPECT_EQ(back, input) << "piece " << piece;
  }
}

TEST_P(compress_stream_test, an_empty_stream_is_valid_and_a_cut_one_is_not) {
  compress_stream z(GetParam());
  std::string out;
  z.finish(out);
  std::string back;
  ASSERT_TRUE(decode(GetParam(), out, back));
  EXPECT_TRUE(back.empty());
  EXPECT_THROW(z.write("x", out), std::logic_error);

  compress_stream y(GetParam());
  std::string data;
  y.write(std::string(100000, 'q'), data);
  y.finish(data);
  std::string cut;
  EXPECT_FALSE(decode(GetParam(), data.substr(0, data.size() - 1), cut));  // no trailer/checksum
}

INSTANTIATE_TEST_SUITE_P(kinds, compress_stream_test,
                         ::testing::Values(compression::gzip, compression::lz4), [](const auto& p) {
                           return p.param == compression::gzip ? "gzip" : "lz4";
                         });

TEST(compress_stream, the_headers_are_gzip_and_lz4_frames) {
  std::string gz;
  compress_stream(compression::gzip).finish(gz);
  ASSERT_GE(gz.size(), 18u);  // header + empty deflate block + trailer
  EXPECT_EQ(gz.substr(0, 2), "\x1f\x8b");
  std::string lz;
  compress_stream(compression::lz4).finish(lz);
  EXPECT_EQ(lz.substr(0, 4), std::string("\x04\x22\x4d\x18", 4));  // the frame's magic
}

}  // namespace
