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
    : writer_(doris_format::csv, std::move(columns)), fields_(writer_.columns().size()) {
  parser_.expect_fields(fields_);
}

bool doris_csv_transcoder::fast_line(std::string_view l, std::string& out) const {
  // Copy the row, then visit only its special bytes (16 at a time with SSE2): turn each tab
  // into the separator and check that nothing needs the general path.
  const std::size_t start = out.size();
  const std::size_t n = l.size();
  out.resize(start + n + 1);
  char* o = out.data() + start;
  std::memcpy(o, l.data(), n);
  std::size_t fields = 1;
  std::size_t field_begin = 0;
  auto visit = [&](std::size_t i) {
    const char c = o[i];
    if (c == '\t') {
      if (i == field_begin) return false;  // an empty string: enclosed as ""
      o[i] = doris_csv_separator;
      ++fields;
      field_begin = i + 1;
      return true;
    }
    // Only a whole-field \N (NULL) passes: Doris reads an unenclosed \N as NULL too.
    return c == '\\' && i == field_begin && i + 1 < n && o[i + 1] == 'N' &&
           (i + 2 == n || o[i + 2] == '\t');
  };
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i k_tab = _mm_set1_epi8('\t');
  const __m128i k_backslash = _mm_set1_epi8('\\');
  const __m128i k_quote = _mm_set1_epi8('"');
  const __m128i k_separator = _mm_set1_epi8(doris_csv_separator);
  const __m128i k_cr = _mm_set1_epi8('\r');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(o + i));
    const __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, k_tab), _mm_cmpeq_epi8(v, k_backslash)),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, k_quote), _mm_cmpeq_epi8(v, k_separator)),
                     _mm_cmpeq_epi8(v, k_cr)));
    for (auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit)); mask != 0; mask &= mask - 1)
      if (!visit(i + static_cast<std::size_t>(__builtin_ctz(mask)))) goto slow;
  }
#endif
  for (; i < n; ++i)
    if (classes[static_cast<unsigned char>(o[i])] != plain && !visit(i)) goto slow;
  if (field_begin == n || fields != fields_) goto slow;  // an empty last field, a bad count
  o[n] = doris_csv_line_delimiter;
  return true;
slow:
  out.resize(start);
  return false;
}

bool doris_csv_transcoder::slow_line(std::string_view l, std::string& out) {
  one_.assign(l);
  one_.push_back('\n');
  bool appended = true;
  const bool ok = parser_.feed(one_, [&](const std::vector<std::optional<std::string_view>>& f) {
    appended = writer_.append_row(out, f);
  });
  if (!ok || !appended) {
    error_ = ok ? "a row with the wrong number of fields" : parser_.error();
    return false;
  }
  ++slow_rows_;
  return true;
}

bool doris_csv_transcoder::line(std::string_view l, std::string& out) {
  ++rows_;
  if (fast_line(l, out)) return true;
  return slow_line(l, out);
}

bool doris_csv_transcoder::feed(std::string_view piece, std::string& out) {
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
