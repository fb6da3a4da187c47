#include "codecs/gzip_stream.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace {

using uringmig::codecs::gzip_stream;

/// Inflates a gzip stream with zlib itself; empty optional-like flag on a broken stream.
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

TEST(gzip_stream, pieces_of_any_size_inflate_back_to_the_input) {
  std::mt19937 rng(7);
  std::string input;
  for (int i = 0; i < 200000; ++i)
    input += "row " + std::to_string(rng() % 1000) + "\x01" + "value\n";
  for (std::size_t piece : {7u, 100u, 65536u, 1u << 22}) {
    gzip_stream gz(1);
    std::string out;
    for (std::size_t at = 0; at < input.size(); at += piece)
      gz.write(std::string_view(input).substr(at, piece), out);
    gz.finish(out);
    EXPECT_EQ(gz.bytes_in(), input.size());
    EXPECT_LT(out.size(), input.size() / 3) << "piece " << piece;
    std::string back;
    ASSERT_TRUE(gunzip(out, back)) << "piece " << piece;
    EXPECT_EQ(back, input) << "piece " << piece;
  }
}

TEST(gzip_stream, an_empty_stream_is_a_valid_gzip_file) {
  gzip_stream gz;
  std::string out;
  gz.finish(out);
  ASSERT_GE(out.size(), 18u);  // header + empty deflate block + trailer
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x8b);
  std::string back;
  ASSERT_TRUE(gunzip(out, back));
  EXPECT_TRUE(back.empty());
  EXPECT_THROW(gz.write("x", out), std::logic_error);
}

}  // namespace
