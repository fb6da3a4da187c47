#include "codecs/doris_transcode.hpp"

#include <array>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>

namespace uringmig::codecs {

namespace {

enum : std::uint8_t { plain = 0, tab = 1, backslash = 2, stop = 3 };

constexpr std::array<std::uint8_t, 256> classes = [] {
  std::array<std::uint8_t, 256> c{};
  c[static_cast<unsigned char>('\t')] = tab;
  c[static_cast<unsigned char>('\\')] = backslash;
  c[static_cast<unsigned char>('"')] = stop;
  c[static_cast<unsigned char>(doris_csv_separator)] = stop;
  c[static_cast<unsigned char>('\r')] = stop;  // COPY escapes it; never bare in valid input
  return c;
}();

}  // namespace

doris_csv_transcoder::doris_csv_transcoder(std::vector<doris_column> columns)
    : writer_(doris_format::csv, std::move(columns)),
      fields_(writer_.columns().size()),
      ends_(fields_ + 1) {
  for (const auto& c : writer_.columns())
    kinds_.push_back(c.kind);
  parser_.expect_fields(fields_);
}

bool doris_csv_transcoder::fast_line(std::string_view l, byte_buffer& out) {
  const char* in = l.data();
  const std::size_t n = l.size();
  // 1. Find the field ends, visiting only special bytes (16 at a time with SSE2). Backslashes
  //    may only start a \N (NULL) or a bytea's \\x; quotes, \x01 and \r need the general path.
  std::size_t f = 0;
  std::size_t begin = 0;
  std::size_t skip = SIZE_MAX;
  auto visit = [&](std::size_t i) {
    if (i == skip) return true;
    const char c = in[i];
    if (c == '\t') {
      if (f + 1 >= fields_) return false;  // too many fields: the general path reports it
      ends_[f++] = i;
      begin = i + 1;
      return true;
    }
    if (c != '\\' || i != begin) return false;
    if (i + 1 < n && in[i + 1] == 'N' && (i + 2 == n || in[i + 2] == '\t')) return true;
    if (kinds_[f] == doris_value_kind::bytea && i + 2 < n && in[i + 1] == '\\' &&
        in[i + 2] == 'x') {
      skip = i + 1;
      return true;
    }
    return false;
  };
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i k_tab = _mm_set1_epi8('\t');
  const __m128i k_backslash = _mm_set1_epi8('\\');
  const __m128i k_quote = _mm_set1_epi8('"');
  const __m128i k_separator = _mm_set1_epi8(doris_csv_separator);
  const __m128i k_cr = _mm_set1_epi8('\r');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, k_tab), _mm_cmpeq_epi8(v, k_backslash)),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, k_quote), _mm_cmpeq_epi8(v, k_separator)),
                     _mm_cmpeq_epi8(v, k_cr)));
    for (auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit)); mask != 0; mask &= mask - 1)
      if (!visit(i + static_cast<std::size_t>(__builtin_ctz(mask)))) return false;
  }
#endif
  for (; i < n; ++i)
    if (classes[static_cast<unsigned char>(in[i])] != plain && !visit(i)) return false;
  if (f + 1 != fields_) return false;
  ends_[f] = n;

  // 2. Write the fields: most as they are, booleans as true/false, timestamptz without its
  //    "+00" (the session runs in UTC), bytea as bare hex; anything unexpected takes the
  //    general path. An empty field is the empty string, which must be enclosed: general path.
  char* const start = out.reserve_tail(n + 3 * fields_ + 1);
  char* o = start;
  begin = 0;
  for (f = 0; f < fields_; ++f) {
    const char* p = in + begin;
    std::size_t len = ends_[f] - begin;
    begin = ends_[f] + 1;
    if (f > 0) *o++ = doris_csv_separator;
    if (len == 0) return false;
    if (len == 2 && p[0] == '\\' && p[1] == 'N') {
      *o++ = '\\';
      *o++ = 'N';
      continue;
    }
    switch (kinds_[f]) {
      case doris_value_kind::boolean:
        if (len != 1 || (p[0] != 't' && p[0] != 'f')) return false;
        p = p[0] == 't' ? "true" : "false";
        len = p[0] == 't' ? 4 : 5;
        break;
      case doris_value_kind::timestamptz:
        if (len < 4 || std::memcmp(p + len - 3, "+00", 3) != 0) return false;
        len -= 3;
        break;
      case doris_value_kind::bytea:
        if (len <= 3 || p[0] != '\\') return false;  // \\x and at least one hex digit
        p += 3;
        len -= 3;
        break;
      default:
        break;
    }
    std::memcpy(o, p, len);
    o += len;
  }
  *o++ = doris_csv_line_delimiter;
  out.advance(static_cast<std::size_t>(o - start));  // nothing is committed before this
  return true;
}

bool doris_csv_transcoder::slow_line(std::string_view l, byte_buffer& out) {
  one_.assign(l);
  one_.push_back('\n');
  slow_.clear();
  bool appended = true;
  const bool ok = parser_.feed(one_, [&](const std::vector<std::optional<std::string_view>>& f) {
    appended = writer_.append_row(slow_, f);
  });
  if (ok && appended) out.append(slow_);
  if (!ok || !appended) {
    error_ = ok ? "a row with the wrong number of fields" : parser_.error();
    return false;
  }
  ++slow_rows_;
  return true;
}

bool doris_csv_transcoder::line(std::string_view l, byte_buffer& out) {
  ++rows_;
  if (fast_line(l, out)) return true;
  return slow_line(l, out);
}

bool doris_csv_transcoder::feed(std::string_view piece, byte_buffer& out) {
  std::size_t at = 0;
  if (!carry_.empty()) {
    const void* nl = std::memchr(piece.data(), '\n', piece.size());
    if (nl == nullptr) {
      carry_.append(piece);
      return true;
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - piece.data());
    carry_.append(piece.data(), end);
    if (!line(carry_, out)) return false;
    carry_.clear();
    at = end + 1;
  }
  while (at < piece.size()) {
    const void* nl = std::memchr(piece.data() + at, '\n', piece.size() - at);
    if (nl == nullptr) {
      carry_.assign(piece.substr(at));
      break;
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - piece.data());
    if (!line(piece.substr(at, end - at), out)) return false;
    at = end + 1;
  }
  return true;
}

}  // namespace uringmig::codecs
