#include "codecs/gzip_stream.hpp"

#include <zlib.h>

#include <cstdint>
#include <stdexcept>

namespace uringmig::codecs {

struct gzip_stream::state {
  z_stream z{};
  bool finished = false;
  ~state() { deflateEnd(&z); }
};

gzip_stream::gzip_stream(int level) : s_(std::make_unique<state>()) {
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&s_->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: zlib could not start a stream");
}

gzip_stream::gzip_stream(gzip_stream&&) noexcept = default;
gzip_stream& gzip_stream::operator=(gzip_stream&&) noexcept = default;
gzip_stream::~gzip_stream() = default;

namespace {

void pump(z_stream& z, std::string& out, int flush) {
  for (;;) {
    const std::size_t room = std::max<std::size_t>(z.avail_in / 2 + 64, 16 * 1024);
    const std::size_t at = out.size();
    out.resize(at + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + at);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, flush);
    out.resize(at + room - z.avail_out);
    if (rc == Z_STREAM_END) return;
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("gzip: deflate failed");
    // Done once zlib took all input and left output room unused (or, finishing, ended).
    if (flush != Z_FINISH && z.avail_in == 0 && z.avail_out != 0) return;
  }
}

}  // namespace

void gzip_stream::write(std::string_view in, std::string& out) {
  if (s_->finished) throw std::logic_error("gzip: write after finish");
  s_->z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s_->z.avail_in = static_cast<uInt>(in.size());
  in_ += in.size();
  pump(s_->z, out, Z_NO_FLUSH);
}

void gzip_stream::finish(std::string& out) {
  if (s_->finished) return;
  s_->z.next_in = nullptr;
  s_->z.avail_in = 0;
  pump(s_->z, out, Z_FINISH);
  s_->finished = true;
}

}  // namespace uringmig::codecs
