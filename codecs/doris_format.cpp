#include "codecs/doris_format.hpp"

#include "codecs/civil_date.hpp"
#include "codecs/doris_csv_scan.hpp"
#include "codecs/doris_types.hpp"

#include <cstring>
#include <stdexcept>

namespace uringmig::codecs {

namespace {

void append_csv_text(std::string& out, std::string_view v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const std::size_t n = v.size();
  std::size_t i = doris_csv_plain_prefix(p, n);
  if (i == n && n > 0) {
    out.append(v);
    return;
  }
  out.push_back(doris_csv_enclose);
  std::size_t run = 0;  // start of the bytes not yet copied
  for (; i < n; ++i) {
    if (p[i] == doris_csv_enclose || p[i] == doris_csv_escape) {
      out.append(v.data() + run, i - run);
      out.push_back(doris_csv_escape);
      run = i;  // the byte itself goes out with the next run
    }
  }
  out.append(v.data() + run, n - run);
  out.push_back(doris_csv_enclose);
}

std::string_view bytea_hex(std::string_view v) {
  return v.size() >= 2 && v[0] == '\\' && v[1] == 'x' ? v.substr(2) : v;
}

// Non-negative decimal digits of exactly `len` bytes at s[at..]; -1 when not.
int digits(std::string_view s, std::size_t at, std::size_t len) {
  if (at + len > s.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Writes `v` zero-padded to at least `width` digits at `p`; returns the end.
char* put_number(char* p, std::int64_t v, int width) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n < width)
    tmp[n++] = '0';
  while (n > 0)
    *p++ = tmp[--n];
  return p;
}

}  // namespace

std::string_view timestamptz_to_utc(std::string_view t, timestamp_buffer& buf) {
  // The common case, a session in UTC: a digit then "+00" at the end.
  if (t.size() > 4 && t.substr(t.size() - 3) == "+00" && t[t.size() - 4] >= '0' &&
      t[t.size() - 4] <= '9')
    return t.substr(0, t.size() - 3);
  // YYYY[Y..]-MM-DD HH:MM:SS[.f{1,6}]{+|-}HH[:MM[:SS]], nothing after.
  const std::size_t dash = t.find('-');
  if (dash == std::string_view::npos || dash < 4 || dash > 7) return t;
  const int year = digits(t, 0, dash);
  std::size_t i = dash;
  if (year < 0 || t.size() < i + 15 || t[i + 3] != '-' || t[i + 6] != ' ' || t[i + 9] != ':' ||
      t[i + 12] != ':')
    return t;
  const int mon = digits(t, i + 1, 2), day = digits(t, i + 4, 2), hh = digits(t, i + 7, 2),
            mi = digits(t, i + 10, 2), ss = digits(t, i + 13, 2);
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh < 0 || hh > 24 || mi < 0 || ss < 0) return t;
  i += 15;
  const std::size_t frac_start = i;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9')
      ++i;
    if (i - frac_start < 2 || i - frac_start > 7) return t;
  }
  const std::string_view frac = t.substr(frac_start, i - frac_start);
  const std::size_t offset_at = i;
  if (i >= t.size() || (t[i] != '+' && t[i] != '-')) return t;
  const int sign = t[i] == '-' ? -1 : 1;
  int off = 0;  // seconds: HH, then optional :MM and :SS
  for (int part = 0, unit = 3600; part < 3; ++part, unit /= 60) {
    if (part > 0 && (i >= t.size() || t[i] != ':')) break;
    const int v = digits(t, i + 1, 2);
    if (v < 0) return t;
    off += v * unit;
    i += 3;
  }
  if (i != t.size()) return t;
  if (off == 0) return t.substr(0, offset_at);

  const std::int64_t secs =
      days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)) * 86400 +
      hh * 3600 + mi * 60 + ss - std::int64_t{sign} * off;
  const std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t sod = secs - days * 86400;
  const civil_date date = civil_from_days(days);
  if (date.year < 0 || date.year > 999999) return t;
  char* p = put_number(buf.data(), date.year, 4);
  *p++ = '-';
  p = put_number(p, date.month, 2);
  *p++ = '-';
  p = put_number(p, date.day, 2);
  *p++ = ' ';
  p = put_number(p, sod / 3600, 2);
  *p++ = ':';
  p = put_number(p, sod / 60 % 60, 2);
  *p++ = ':';
  p = put_number(p, sod % 60, 2);
  for (char c : frac)
    *p++ = c;
  return {buf.data(), static_cast<std::size_t>(p - buf.data())};
}

doris_row_writer::doris_row_writer(doris_format format, std::vector<doris_column> columns)
    : format_(format), columns_(std::move(columns)) {
  if (columns_.empty()) throw std::invalid_argument("a Doris row needs at least one column");
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    json_keys_.push_back(c == 0 ? '{' : ',');
    append_json_string(json_keys_, columns_[c].name);
    json_keys_.push_back(':');
    json_key_ends_.push_back(json_keys_.size());
  }
}

bool doris_row_writer::append_row(std::string& out,
                                  const std::vector<std::optional<std::string_view>>& f) const {
  if (f.size() != columns_.size()) return false;
  if (format_ == doris_format::csv)
    append_csv(out, f);
  else
    append_json(out, f);
  return true;
}

namespace {

/// PostgreSQL's t / f as Doris's (and JSON's) true / false; nullopt for anything else.
std::optional<std::string_view> boolean_literal(doris_value_kind kind, std::string_view v) {
  if (kind != doris_value_kind::boolean || (v != "t" && v != "f")) return std::nullopt;
  return v == "t" ? std::string_view("true") : std::string_view("false");
}

/// The text both formats write for a value: bytea as plain hex, timestamptz in UTC, the rest
/// as PostgreSQL gave it.
std::string_view rewritten(doris_value_kind kind, std::string_view v, timestamp_buffer& buf) {
  if (kind == doris_value_kind::bytea) return bytea_hex(v);
  if (kind == doris_value_kind::timestamptz) return timestamptz_to_utc(v, buf);
  return v;
}

}  // namespace

void doris_row_writer::append_csv(std::string& out,
                                  const std::vector<std::optional<std::string_view>>& f) const {
  for (std::size_t c = 0; c < f.size(); ++c) {
    if (c > 0) out.push_back(doris_csv_separator);
    if (!f[c]) {
      out.append("\\N");
      continue;
    }
    const std::string_view v = *f[c];
    if (const auto b = boolean_literal(columns_[c].kind, v)) {
      out.append(*b);
      continue;
    }
    timestamp_buffer buf;
    append_csv_text(out, rewritten(columns_[c].kind, v, buf));
  }
  out.push_back(doris_csv_line_delimiter);
}

void doris_row_writer::append_json(std::string& out,
                                   const std::vector<std::optional<std::string_view>>& f) const {
  std::size_t key_start = 0;
  for (std::size_t c = 0; c < f.size(); ++c) {
    out.append(json_keys_, key_start, json_key_ends_[c] - key_start);
    key_start = json_key_ends_[c];
    if (!f[c]) {
      out.append("null");
      continue;
    }
    const std::string_view v = *f[c];
    const doris_value_kind kind = columns_[c].kind;
    if ((kind == doris_value_kind::integer || kind == doris_value_kind::number) &&
        is_json_number(v)) {
      out.append(v);
      continue;
    }
    if (const auto b = boolean_literal(columns_[c].kind, v)) {
      out.append(*b);
      continue;
    }
    timestamp_buffer buf;
    append_json_string(out, rewritten(columns_[c].kind, v, buf));
  }
  out.append("}\n");
}

http_header_list doris_row_writer::headers() const {
  std::string names;
  for (const doris_column& c : columns_) {
    if (!names.empty()) names.push_back(',');
    names += quote_doris_ident(c.name);
  }
  if (format_ == doris_format::csv)
    return {{"format", "csv"},
            {"column_separator", "\\x01"},
            {"line_delimiter", "\\x0a"},
            {"enclose", std::string(1, doris_csv_enclose)},
            {"escape", std::string(1, doris_csv_escape)},
            {"columns", std::move(names)}};
  return {{"format", "json"},
          {"read_json_by_line", "true"},
          {"num_as_string", "true"},
          {"columns", std::move(names)}};
}

}  // namespace uringmig::codecs
