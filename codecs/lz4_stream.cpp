#include "codecs/lz4_stream.hpp"

#include <lz4frame.h>

#include <stdexcept>
#include <string>

namespace uringmig::codecs {

namespace {

// liblz4 takes at most this much input per call here: its output bound stays small.
constexpr std::size_t max_step = 256 * 1024;

void check(std::size_t rc, const char* what) {
  if (LZ4F_isError(rc))
    throw std::runtime_error(std::string("lz4: ") + what + ": " + LZ4F_getErrorName(rc));
}

}  // namespace

struct lz4_stream::state {
  LZ4F_cctx* ctx = nullptr;
  LZ4F_preferences_t prefs{};
  bool started = false;
  bool finished = false;
  ~state() { LZ4F_freeCompressionContext(ctx); }
};

lz4_stream::lz4_stream() : s_(std::make_unique<state>()) {
  check(LZ4F_createCompressionContext(&s_->ctx, LZ4F_VERSION), "creating a context");
  s_->prefs.frameInfo.blockSizeID = LZ4F_max256KB;
  s_->prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  s_->prefs.compressionLevel = 0;  // the fast default
}

lz4_stream::lz4_stream(lz4_stream&&) noexcept = default;
lz4_stream& lz4_stream::operator=(lz4_stream&&) noexcept = default;
lz4_stream::~lz4_stream() = default;

namespace {

/// Appends room for `n` bytes to `out`; returns where it starts.
char* grow(std::string& out, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + n);
  return out.data() + at;
}

}  // namespace

void lz4_stream::write(std::string_view in, std::string& out) {
  if (s_->finished) throw std::logic_error("lz4: write after finish");
  if (!s_->started) {
    char* p = grow(out, LZ4F_HEADER_SIZE_MAX);
    const std::size_t n = LZ4F_compressBegin(s_->ctx, p, LZ4F_HEADER_SIZE_MAX, &s_->prefs);
    check(n, "starting a frame");
    out.resize(out.size() - LZ4F_HEADER_SIZE_MAX + n);
    s_->started = true;
  }
  in_ += in.size();
  while (!in.empty()) {
    const std::string_view step = in.substr(0, max_step);
    in.remove_prefix(step.size());
    const std::size_t bound = LZ4F_compressBound(step.size(), &s_->prefs);
    char* p = grow(out, bound);
    const std::size_t n = LZ4F_compressUpdate(s_->ctx, p, bound, step.data(), step.size(), nullptr);
    check(n, "compressing");
    out.resize(out.size() - bound + n);
  }
}

void lz4_stream::finish(std::string& out) {
  if (s_->finished) return;
  if (!s_->started) write({}, out);  // an empty frame is still a frame
  const std::size_t bound = LZ4F_compressBound(0, &s_->prefs);
  char* p = grow(out, bound);
  const std::size_t n = LZ4F_compressEnd(s_->ctx, p, bound, nullptr);
  check(n, "ending the frame");
  out.resize(out.size() - bound + n);
  s_->finished = true;
}

}  // namespace uringmig::codecs
