#include "codecs/json_text.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace uringmig::codecs {

namespace {

// 0: copied as is; 1: escaped (controls, quote, backslash); 2: start of a multi-byte sequence.
constexpr std::array<std::uint8_t, 256> make_json_class() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c)
    t[static_cast<std::size_t>(c)] = 1;
  t['"'] = t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c)
    t[static_cast<std::size_t>(c)] = 2;
  return t;
}
constexpr std::array<std::uint8_t, 256> json_class = make_json_class();

// Eight bytes at a time (SWAR): a word has a byte below `n` (n <= 0x80) when has_below != 0.
constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
std::uint64_t load8(const unsigned char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
std::uint64_t has_below(std::uint64_t x, unsigned char n) {
  return (x - ones * n) & ~x & highs;
}
std::uint64_t has_byte(std::uint64_t x, unsigned char c) {
  return has_below(x ^ (ones * c), 1);
}

// Index of the first byte at or after `i` that json_class does not copy as is (n when none).
std::size_t skip_plain_json(const unsigned char* p, std::size_t i, std::size_t n) {
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t x = load8(p + i);
    if (has_below(x, 0x20) | (x & highs) | has_byte(x, '"') | has_byte(x, '\\')) break;
  }
  while (i < n && json_class[p[i]] == 0)
    ++i;
  return i;
}

bool in(unsigned char c, unsigned char lo, unsigned char hi) {
  return c >= lo && c <= hi;
}

// Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), 0 when there is none.
std::size_t utf8_length(const unsigned char* p, std::size_t n) {
  const unsigned char c = p[0];
  if (in(c, 0xC2, 0xDF)) return n >= 2 && in(p[1], 0x80, 0xBF) ? 2 : 0;
  if (in(c, 0xE0, 0xEF)) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return n >= 3 && in(p[1], lo, hi) && in(p[2], 0x80, 0xBF) ? 3 : 0;
  }
  if (in(c, 0xF0, 0xF4)) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return n >= 4 && in(p[1], lo, hi) && in(p[2], 0x80, 0xBF) && in(p[3], 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  out.push_back('"');
  std::size_t run = 0;
  std::size_t i = 0;
  while ((i = skip_plain_json(p, i, n)) < n) {
    const unsigned char c = p[i];
    if (json_class[c] == 2) {
      if (const std::size_t len = utf8_length(p + i, n - i); len > 0) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        if (c >= 0x80) {
          out.append("\\ufffd");
        } else {
          const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
          out.append(esc, sizeof esc);
        }
    }
    run = ++i;
  }
  out.append(s.data() + run, n - run);
  out.push_back('"');
}

std::string json_string(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 2);
  append_json_string(out, bytes);
  return out;
}

bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto digit = [&](std::size_t at) { return at < n && s[at] >= '0' && s[at] <= '9'; };
  if (i < n && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i))
      ++i;
  }
  if (i < n && s[i] == '.') {
    if (!digit(++i)) return false;
    while (digit(i))
      ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i))
      ++i;
  }
  return i == n;
}

}  // namespace uringmig::codecs
