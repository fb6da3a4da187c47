#include "codecs/copy_text.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace uringmig::codecs {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

namespace {

/// The letter after the backslash for each byte COPY TO escapes; 0 for the rest.
constexpr std::array<char, 256> copy_escapes = [] {
  std::array<char, 256> t{};
  t['\\'] = '\\';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['\v'] = 'v';
  return t;
}();

/// From `p`, past the bytes that surely need no escape, 8 at a time: a word stops it when one of
/// its bytes is a control character (every escaped byte but the backslash is one) or a backslash.
const char* skip_plain(const char* p, const char* end) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  while (end - p >= 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, sizeof w);
    const std::uint64_t control = (w - ones * 0x20) & ~w & highs;  // a byte below 0x20
    const std::uint64_t x = w ^ (ones * static_cast<unsigned char>('\\'));
    const std::uint64_t backslash = (x - ones) & ~x & highs;  // a zero byte of x
    if ((control | backslash) != 0) break;
    p += 8;
  }
  return p;
}

}  // namespace

void append_copy_text_escaped(std::string& out, std::string_view raw) {
  const char* p = raw.data();
  const char* const end = p + raw.size();
  while (p != end) {
    const char* q = skip_plain(p, end);  // the run that needs no escape goes in at once
    while (q != end && copy_escapes[static_cast<unsigned char>(*q)] == 0)
      ++q;
    out.append(p, q);
    if (q == end) return;
    out.push_back('\\');
    out.push_back(copy_escapes[static_cast<unsigned char>(*q)]);
    p = q + 1;
  }
}

bool copy_text_parser::feed(std::string_view piece, const row_fn& on_row) {
  while (!piece.empty()) {
    const char* nl = static_cast<const char*>(std::memchr(piece.data(), '\n', piece.size()));
    if (!nl) {
      carry_.append(piece);
      return true;
    }
    const auto len = static_cast<std::size_t>(nl - piece.data());
    bool ok = true;
    if (carry_.empty()) {
      ok = parse_row(piece.substr(0, len), on_row);
    } else {
      carry_.append(piece.substr(0, len));
      ok = parse_row(carry_, on_row);
      carry_.clear();
    }
    if (!ok) return false;
    piece.remove_prefix(len + 1);
  }
  return true;
}

bool copy_text_parser::parse_row(std::string_view line, const row_fn& on_row) {
  scratch_.clear();
  offsets_.clear();
  lengths_.clear();
  std::size_t i = 0;
  for (;;) {
    // One field: up to the next unescaped tab or the end of the line.
    const std::size_t start = scratch_.size();
    if (line.size() - i >= 2 && line[i] == '\\' && line[i + 1] == 'N' &&
        (i + 2 == line.size() || line[i + 2] == '\t')) {
      offsets_.push_back(std::string::npos);
      lengths_.push_back(0);
      i += 2;
    } else {
      while (i < line.size() && line[i] != '\t') {
        // Copy the run of plain bytes at once.
        std::size_t j = i;
        while (j < line.size() && line[j] != '\t' && line[j] != '\\')
          ++j;
        scratch_.append(line.substr(i, j - i));
        i = j;
        if (i >= line.size() || line[i] != '\\') continue;
        ++i;
        if (i >= line.size()) break;  // a lone trailing backslash: dropped
        const char c = line[i++];
        switch (c) {
          case 'b':
            scratch_ += '\b';
            break;
          case 'f':
            scratch_ += '\f';
            break;
          case 'n':
            scratch_ += '\n';
            break;
          case 'r':
            scratch_ += '\r';
            break;
          case 't':
            scratch_ += '\t';
            break;
          case 'v':
            scratch_ += '\v';
            break;
          case 'x': {
            int v = 0, digits = 0;
            while (digits < 2 && i < line.size() && hex_value(line[i]) >= 0) {
              v = v * 16 + hex_value(line[i++]);
              ++digits;
            }
            if (digits == 0)
              scratch_ += 'x';
            else
              scratch_ += static_cast<char>(v);
            break;
          }
          default:
            if (c >= '0' && c <= '7') {
              int v = c - '0', digits = 1;
              while (digits < 3 && i < line.size() && line[i] >= '0' && line[i] <= '7') {
                v = v * 8 + (line[i++] - '0');
                ++digits;
              }
              scratch_ += static_cast<char>(v & 0xff);
            } else {
              scratch_ += c;
            }
        }
      }
      offsets_.push_back(start);
      lengths_.push_back(scratch_.size() - start);
    }
    if (i >= line.size()) break;
    ++i;  // the tab
  }
  if (expected_ > 0 && offsets_.size() != expected_) {
    error_ = "a COPY row has " + std::to_string(offsets_.size()) + " fields, expected " +
             std::to_string(expected_);
    return false;
  }
  fields_.resize(offsets_.size());
  for (std::size_t f = 0; f < offsets_.size(); ++f)
    fields_[f] = offsets_[f] == std::string::npos
                     ? std::nullopt
                     : std::optional<std::string_view>(
                           std::string_view(scratch_).substr(offsets_[f], lengths_[f]));
  ++rows_;
  on_row(fields_);
  return true;
}

std::optional<std::string> decode_bytea_hex(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace uringmig::codecs

namespace uringmig::codecs {

void append_copy_bytea(std::string& out, std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  out += "\\\\x";
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += hex[b >> 4];
    out += hex[b & 15];
  }
}

}  // namespace uringmig::codecs
