#include "codecs/doris_transcode.hpp"

#include <array>
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
  const std::size_t start = out.size();
  out.resize(start + l.size() + 1);
  char* o = out.data() + start;
  const char* p = l.data();
  const char* const e = p + l.size();
  std::size_t fields = 1;
  bool at_field_start = true;
  while (p < e) {
    const char c = *p;
    switch (classes[static_cast<unsigned char>(c)]) {
      case plain:
        *o++ = c;
        ++p;
        at_field_start = false;
        break;
      case tab:
        if (at_field_start) goto slow;  // an empty string: enclosed as ""
        *o++ = doris_csv_separator;
        ++p;
        ++fields;
        at_field_start = true;
        break;
      case backslash:
        // Only a whole-field \N (NULL) passes: Doris reads an unenclosed \N as NULL too.
        if (!at_field_start || e - p < 2 || p[1] != 'N' || (e - p > 2 && p[2] != '\t')) goto slow;
        *o++ = '\\';
        *o++ = 'N';
        p += 2;
        at_field_start = false;
        break;
      default:
        goto slow;
    }
  }
  if (at_field_start || fields != fields_) goto slow;  // an empty last field, a bad count
  *o++ = doris_csv_line_delimiter;
  out.resize(static_cast<std::size_t>(o - out.data()));
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
