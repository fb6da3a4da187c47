#pragma once

#include "codecs/doris_format.hpp"

#include <array>
#include <bit>
#include <cstddef>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// The bytes that force a Doris CSV value into an enclosure, and the scan for them: shared by
// the writer on text (doris_format.cpp) and the one on COPY binary (doris_binary_transcode.cpp)
// so both write the same bytes for the same value. Inline: it runs once per field.

namespace uringmig::codecs {

/// The separator, CR, LF, enclose and escape.
inline constexpr std::array<bool, 256> doris_csv_special = [] {
  std::array<bool, 256> t{};
  t[static_cast<unsigned char>(doris_csv_separator)] = true;
  t['\n'] = t['\r'] = true;
  t[static_cast<unsigned char>(doris_csv_enclose)] = true;
  t[static_cast<unsigned char>(doris_csv_escape)] = true;
  return t;
}();

/// Index of the first byte of p[0, n) that doris_csv_special marks; n when there is none
/// (16 bytes at a time with SSE2).
inline std::size_t doris_csv_plain_prefix(const unsigned char* p, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i k_separator = _mm_set1_epi8(doris_csv_separator);
  const __m128i k_lf = _mm_set1_epi8('\n');
  const __m128i k_cr = _mm_set1_epi8('\r');
  const __m128i k_enclose = _mm_set1_epi8(doris_csv_enclose);
  const __m128i k_escape = _mm_set1_epi8(doris_csv_escape);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, k_separator), _mm_cmpeq_epi8(v, k_lf)),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, k_cr), _mm_cmpeq_epi8(v, k_enclose)),
                     _mm_cmpeq_epi8(v, k_escape)));
    if (const int mask = _mm_movemask_epi8(hit); mask != 0)
      return i + static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(mask)));
  }
#endif
  while (i < n && !doris_csv_special[p[i]])
    ++i;
  return i;
}

}  // namespace uringmig::codecs
