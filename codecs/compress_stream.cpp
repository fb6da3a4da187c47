#include "codecs/compress_stream.hpp"

#include <lz4frame.h>
#include <zlib.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace uringmig::codecs {

struct compress_stream::state {
  virtual ~state() = default;
  virtual void write(std::string_view in, std::string& out) = 0;
  virtual void finish(std::string& out) = 0;
};

namespace {

/// Appends room for `n` bytes to `out`; returns where it starts.
char* grow(std::string& out, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + n);
  return out.data() + at;
}

class gzip_state final : public compress_stream::state {
 public:
  gzip_state() {
    // 15 window bits + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(&z_, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("gzip: zlib could not start a stream");
  }
  ~gzip_state() override { deflateEnd(&z_); }
  gzip_state(const gzip_state&) = delete;
  gzip_state& operator=(const gzip_state&) = delete;

  void write(std::string_view in, std::string& out) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    pump(out, Z_NO_FLUSH);
  }
  void finish(std::string& out) override {
    z_.next_in = nullptr;
    z_.avail_in = 0;
    pump(out, Z_FINISH);
  }

 private:
  void pump(std::string& out, int flush) {
    for (;;) {
      const std::size_t room = std::max<std::size_t>(z_.avail_in / 2 + 64, 16 * 1024);
      z_.next_out = reinterpret_cast<Bytef*>(grow(out, room));
      z_.avail_out = static_cast<uInt>(room);
      const int rc = deflate(&z_, flush);
      out.resize(out.size() - z_.avail_out);
      if (rc == Z_STREAM_END) return;
      if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("gzip: deflate failed");
      // Done once zlib took all input and left output room unused (or, finishing, ended).
      if (flush != Z_FINISH && z_.avail_in == 0 && z_.avail_out != 0) return;
    }
  }

  z_stream z_{};
};

class lz4_state final : public compress_stream::state {
 public:
  lz4_state() {
    check(LZ4F_createCompressionContext(&ctx_, LZ4F_VERSION), "creating a context");
    prefs_.frameInfo.blockSizeID = LZ4F_max256KB;
    prefs_.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  }
  ~lz4_state() override { LZ4F_freeCompressionContext(ctx_); }
  lz4_state(const lz4_state&) = delete;
  lz4_state& operator=(const lz4_state&) = delete;

  void write(std::string_view in, std::string& out) override {
    begin(out);
    while (!in.empty()) {
      // At most a block at a time: the output bound stays small.
      const std::string_view step = in.substr(0, 256 * 1024);
      in.remove_prefix(step.size());
      const std::size_t bound = LZ4F_compressBound(step.size(), &prefs_);
      char* p = grow(out, bound);
      const std::size_t n = LZ4F_compressUpdate(ctx_, p, bound, step.data(), step.size(), nullptr);
      check(n, "compressing");
      out.resize(out.size() - bound + n);
    }
  }
  void finish(std::string& out) override {
    begin(out);  // an empty frame is still a frame
    const std::size_t bound = LZ4F_compressBound(0, &prefs_);
    char* p = grow(out, bound);
    const std::size_t n = LZ4F_compressEnd(ctx_, p, bound, nullptr);
    check(n, "ending the frame");
    out.resize(out.size() - bound + n);
  }

 private:
  static void check(std::size_t rc, const char* what) {
    if (LZ4F_isError(rc))
      throw std::runtime_error(std::string("lz4: ") + what + ": " + LZ4F_getErrorName(rc));
  }
  void begin(std::string& out) {
    if (started_) return;
    char* p = grow(out, LZ4F_HEADER_SIZE_MAX);
    const std::size_t n = LZ4F_compressBegin(ctx_, p, LZ4F_HEADER_SIZE_MAX, &prefs_);
    check(n, "starting a frame");
    out.resize(out.size() - LZ4F_HEADER_SIZE_MAX + n);
    started_ = true;
  }

  LZ4F_cctx* ctx_ = nullptr;
  LZ4F_preferences_t prefs_{};
  bool started_ = false;
};

}  // namespace

compress_stream::compress_stream(compression kind) {
  if (kind == compression::gzip)
    s_ = std::make_unique<gzip_state>();
  else
    s_ = std::make_unique<lz4_state>();
}

compress_stream::compress_stream(compress_stream&&) noexcept = default;
compress_stream& compress_stream::operator=(compress_stream&&) noexcept = default;
compress_stream::~compress_stream() = default;

void compress_stream::write(std::string_view in, std::string& out) {
  if (finished_) throw std::logic_error("compress_stream: write after finish");
  in_ += in.size();
  s_->write(in, out);
}

void compress_stream::finish(std::string& out) {
  if (finished_) return;
  s_->finish(out);
  finished_ = true;
}

}  // namespace uringmig::codecs
