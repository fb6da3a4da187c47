#include "tests/doris_double/load_format.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace uringmig::test::doris_double {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

field make_field(std::string_view text, bool enclosed) {
  if (!enclosed && text == "\\N") return std::nullopt;
  return std::string(text);
}

void split_plain_line(std::string_view line, const std::string& sep, row& out) {
  if (sep.empty()) {
    out.push_back(make_field(line, false));
    return;
  }
  std::size_t pos = 0;
  while (true) {
    std::size_t hit = line.find(sep, pos);
    if (hit == std::string_view::npos) {
      out.push_back(make_field(line.substr(pos), false));
      return;
    }
    out.push_back(make_field(line.substr(pos, hit - pos), false));
    pos = hit + sep.size();
  }
}

// Without enclose a line delimiter can never be data: split with find().
void parse_plain(std::string_view body, const csv_options& opts, const std::string& eol,
                 const row_callback& on_row) {
  std::size_t skip = opts.skip_lines;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find(eol, pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    pos = end == body.size() ? end : end + eol.size();
    if (line.empty()) continue;  // Doris skips empty lines
    if (skip > 0) {
      --skip;
      continue;
    }
    row fields;
    split_plain_line(line, opts.column_separator, fields);
    on_row(line, std::move(fields));
  }
}

// With enclose: separators and delimiters inside an enclosed field are data.
class enclosed_parser {
 public:
  enclosed_parser(std::string_view body, const csv_options& opts, const std::string& eol,
                  const row_callback& on_row)
      : body_(body), opts_(opts), eol_(eol), on_row_(on_row), skip_(opts.skip_lines) {}

  void run() {
    const char enclose = opts_.enclose;
    const char escape = opts_.escape;
    const std::string& sep = opts_.column_separator;
    std::size_t i = 0;
    const std::size_t n = body_.size();
    while (i < n) {
      char c = body_[i];
      if (in_enclose_) {
        if (c == enclose) {
          if (i + 1 < n && body_[i + 1] == enclose) {
            cur_.push_back(enclose);
            i += 2;
          } else {
            in_enclose_ = false;
            ++i;
          }
        } else if (escape != 0 && c == escape && i + 1 < n &&
                   (body_[i + 1] == enclose || body_[i + 1] == escape)) {
          cur_.push_back(body_[i + 1]);
          i += 2;
        } else {
          cur_.push_back(c);
          ++i;
        }
        continue;
      }
      if (body_.compare(i, eol_.size(), eol_) == 0) {
        end_line(i);
        i += eol_.size();
        line_start_ = i;
      } else if (!sep.empty() && body_.compare(i, sep.size(), sep) == 0) {
        end_field();
        i += sep.size();
      } else if (c == enclose && !field_started_) {
        in_enclose_ = true;
        enclosed_ = true;
        field_started_ = true;
        ++i;
      } else {
        cur_.push_back(c);
        field_started_ = true;
        ++i;
      }
    }
    if (line_start_ < n) end_line(n);
  }

 private:
  void end_field() {
    fields_.push_back(make_field(cur_, enclosed_));
    cur_.clear();
    enclosed_ = false;
    field_started_ = false;
  }

  void end_line(std::size_t end) {
    std::string_view raw = body_.substr(line_start_, end - line_start_);
    if (raw.empty()) return;
    end_field();
    row fields = std::move(fields_);
    fields_.clear();
    in_enclose_ = false;
    if (skip_ > 0) {
      --skip_;
      return;
    }
    on_row_(raw, std::move(fields));
  }

  std::string_view body_;
  const csv_options& opts_;
  const std::string& eol_;
  const row_callback& on_row_;
  std::size_t skip_;
  std::size_t line_start_ = 0;
  row fields_;
  std::string cur_;
  bool in_enclose_ = false;
  bool enclosed_ = false;
  bool field_started_ = false;
};

}  // namespace

std::string decode_separator(std::string_view v) {
  if (v.size() > 2 && v[0] == '\\' && (v[1] == 'x' || v[1] == 'X')) {
    std::string hex;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == 'x' || v[i + 1] == 'X')) {
        ++i;
        continue;
      }
      hex.push_back(v[i]);
    }
    std::string out;
    bool ok = hex.size() % 2 == 0;
    for (std::size_t i = 0; ok && i + 1 < hex.size(); i += 2) {
      int hi = hex_digit(hex[i]);
      int lo = hex_digit(hex[i + 1]);
      ok = hi >= 0 && lo >= 0;
      if (ok) out.push_back(static_cast<char>(hi * 16 + lo));
    }
    if (ok && !out.empty()) return out;
  }
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      char e = v[i + 1];
      char decoded = e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == '\\' ? '\\' : 0;
      if (decoded != 0) {
        out.push_back(decoded);
        ++i;
        continue;
      }
    }
    out.push_back(v[i]);
  }
  return out;
}

void parse_csv(std::string_view body, const csv_options& opts, const row_callback& on_row) {
  const std::string eol = opts.line_delimiter.empty() ? std::string("\n") : opts.line_delimiter;
  if (opts.enclose == 0) {
    parse_plain(body, opts, eol, on_row);
  } else {
    enclosed_parser(body, opts, eol, on_row).run();
  }
}

std::uint64_t count_byte(const char* data, std::size_t size, char byte) {
  std::uint64_t count = 0;
  std::size_t i = 0;
#if defined(__SSE2__)
  // Byte-wise match counters (0..255) summed with SAD every 255 blocks.
  const __m128i needle = _mm_set1_epi8(byte);
  const __m128i zero = _mm_setzero_si128();
  while (i + 16 <= size) {
    __m128i acc = zero;
    std::size_t blocks = (size - i) / 16;
    if (blocks > 255) blocks = 255;
    for (std::size_t b = 0; b < blocks; ++b, i += 16) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, needle));
    }
    __m128i sums = _mm_sad_epu8(acc, zero);
    count += static_cast<std::uint64_t>(_mm_cvtsi128_si32(sums)) +
             static_cast<std::uint64_t>(_mm_extract_epi16(sums, 4));
  }
#endif
  for (; i < size; ++i)
    count += data[i] == byte ? 1 : 0;
  return count;
}

std::string record_line(const row& r) {
  std::string out;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (i > 0) out.push_back('\t');
    if (!r[i]) {
      out += "\\N";
      continue;
    }
    for (char c : *r[i]) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          out.push_back(c);
      }
    }
  }
  out.push_back('\n');
  return out;
}

row parse_record_line(std::string_view line) {
  row out;
  std::size_t start = 0;
  while (true) {
    std::size_t tab = line.find('\t', start);
    std::string_view f = line.substr(start, tab == std::string_view::npos ? tab : tab - start);
    if (f == "\\N") {
      out.emplace_back(std::nullopt);
    } else {
      std::string v;
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '\\' && i + 1 < f.size()) {
          char e = f[++i];
          v.push_back(e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e);
        } else {
          v.push_back(f[i]);
        }
      }
      out.emplace_back(std::move(v));
    }
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return out;
}

}  // namespace uringmig::test::doris_double
