#include "engine/incremental/watermark.hpp"

#include "codecs/civil_date.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace uringmig::engine::incremental {

namespace {

constexpr std::int64_t nanos_per_day = 86'400'000'000'000;
__extension__ typedef __int128
    i128;  // NOLINT(modernize-use-using): __extension__ needs the typedef

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

/// "+05", "+05:30", "-0800", "Z" at the end of a timestamp: seconds east of UTC.
std::optional<int> parse_offset(std::string_view s) {
  if (s == "Z" || s == "z") return 0;
  if (s.size() < 3 || (s[0] != '+' && s[0] != '-')) return std::nullopt;
  const int sign = s[0] == '-' ? -1 : 1;
  int h = 0;
  int m = 0;
  int sec = 0;
  if (!digits(s, 1, 2, h)) return std::nullopt;
  std::size_t pos = 3;
  for (int* part : {&m, &sec}) {
    if (pos == s.size()) break;
    if (s[pos] == ':') ++pos;
    if (!digits(s, pos, 2, *part)) return std::nullopt;
    pos += 2;
  }
  if (pos != s.size() || h > 15 || m > 59 || sec > 59) return std::nullopt;
  return sign * (h * 3600 + m * 60 + sec);
}

/// The instant in UTC as (days, nanos of day).
std::pair<std::int64_t, std::int64_t> utc_of(const time_value& t) {
  std::int64_t days = t.days;
  std::int64_t nanos = t.nanos - static_cast<std::int64_t>(t.offset_s.value_or(0)) * 1'000'000'000;
  while (nanos < 0) {
    nanos += nanos_per_day;
    --days;
  }
  while (nanos >= nanos_per_day) {
    nanos -= nanos_per_day;
    ++days;
  }
  return {days, nanos};
}

i128 total_nanos(const time_value& t) {
  const auto [d, n] = utc_of(t);
  return static_cast<i128>(d) * nanos_per_day + n;
}

/// `t` moved to the instant `total` (UTC nanos), keeping its offset and shape.
time_value at_instant(time_value t, i128 total) {
  total += static_cast<i128>(t.offset_s.value_or(0)) * 1'000'000'000;
  i128 days = total / nanos_per_day;
  i128 nanos = total % nanos_per_day;
  if (nanos < 0) {
    nanos += nanos_per_day;
    --days;
  }
  t.days = static_cast<std::int64_t>(days);
  t.nanos = static_cast<std::int64_t>(nanos);
  return t;
}

// ---- decimals as text: sign, integer digits, fraction digits ----------------------------------

struct decimal {
  bool negative = false;
  std::string int_part;   // no leading zeros ("" for zero)
  std::string frac_part;  // no trailing zeros
};

std::optional<decimal> parse_decimal(std::string_view s) {
  decimal d;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    d.negative = s[0] == '-';
    s.remove_prefix(1);
  }
  const auto dot = s.find('.');
  const std::string_view ip = s.substr(0, dot);
  const std::string_view fp =
      dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (ip.empty() && fp.empty()) return std::nullopt;
  for (const char c : ip)
    if (c < '0' || c > '9') return std::nullopt;
  for (const char c : fp)
    if (c < '0' || c > '9') return std::nullopt;
  d.int_part = std::string(ip.substr(std::min(ip.find_first_not_of('0'), ip.size())));
  d.frac_part = std::string(fp.substr(0, fp.find_last_not_of('0') + 1));
  if (d.int_part.empty() && d.frac_part.empty()) d.negative = false;  // -0 is 0
  return d;
}

int compare_magnitude(const decimal& a, const decimal& b) {
  if (a.int_part.size() != b.int_part.size()) return a.int_part.size() < b.int_part.size() ? -1 : 1;
  if (const int c = a.int_part.compare(b.int_part); c != 0) return c < 0 ? -1 : 1;
  const int c = a.frac_part.compare(b.frac_part);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

int compare_decimal(const decimal& a, const decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  const int m = compare_magnitude(a, b);
  return a.negative ? -m : m;
}

/// Digits of |d| scaled by 10^scale, as a little-endian digit vector.
std::vector<int> scaled(const decimal& d, std::size_t scale) {
  std::string all = d.int_part + d.frac_part + std::string(scale - d.frac_part.size(), '0');
  std::vector<int> out;
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    out.push_back(*it - '0');
  return out;
}

/// a - b for a >= b >= 0 (digit vectors of one scale).
std::vector<int> minus(std::vector<int> a, const std::vector<int>& b) {
  int borrow = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    int v = a[i] - borrow - (i < b.size() ? b[i] : 0);
    borrow = v < 0 ? 1 : 0;
    a[i] = v + borrow * 10;
  }
  return a;
}

std::vector<int> plus(std::vector<int> a, const std::vector<int>& b) {
  a.resize(std::max(a.size(), b.size()) + 1, 0);
  int carry = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const int v = a[i] + carry + (i < b.size() ? b[i] : 0);
    a[i] = v % 10;
    carry = v / 10;
  }
  return a;
}

std::string print_scaled(const std::vector<int>& v, std::size_t scale, bool negative) {
  std::string s;
  for (auto it = v.rbegin(); it != v.rend(); ++it)
    s += static_cast<char>('0' + *it);
  if (s.size() <= scale) s.insert(0, scale + 1 - s.size(), '0');
  std::string ip = s.substr(0, s.size() - scale);
  ip = ip.substr(std::min(ip.find_first_not_of('0'), ip.size() - 1));
  std::string out = ip;
  if (scale > 0) out += "." + s.substr(s.size() - scale);
  if (negative && out.find_first_not_of("0.") != std::string::npos) out.insert(0, "-");
  return out;
}

/// a - b, exactly, at the larger scale of the two (b >= 0).
std::string subtract_decimal(const decimal& a, const decimal& b, std::size_t scale) {
  const auto av = scaled(a, scale);
  const auto bv = scaled(b, scale);
  if (a.negative) return print_scaled(plus(av, bv), scale, true);
  if (compare_magnitude(a, b) >= 0) return print_scaled(minus(av, bv), scale, false);
  return print_scaled(minus(bv, av), scale, true);
}

bool is_float_text(std::string_view s) {
  return s.find_first_of("eEnN") != std::string_view::npos;  // 1e+20, NaN, Infinity
}

std::optional<double> parse_double(std::string_view s) {
  const std::string text(s);
  char* end = nullptr;
  const double d = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return std::nullopt;
  return d;
}

std::optional<int> compare_numbers(std::string_view a, std::string_view b) {
  if (is_float_text(a) || is_float_text(b)) {
    const auto x = parse_double(a);
    const auto y = parse_double(b);
    if (!x || !y) return std::nullopt;
    return *x < *y ? -1 : (*x > *y ? 1 : 0);
  }
  const auto x = parse_decimal(a);
  const auto y = parse_decimal(b);
  if (!x || !y) return std::nullopt;
  return compare_decimal(*x, *y);
}

/// -1 for "-infinity", 1 for "infinity", 0 for anything else.
int infinity_of(std::string_view s) {
  if (s == "infinity" || s == "+infinity") return 1;
  if (s == "-infinity") return -1;
  return 0;
}

std::optional<std::chrono::nanoseconds> parse_time_amount(std::string_view s) {
  if (s == "0") return std::chrono::nanoseconds{0};
  std::chrono::nanoseconds total{0};
  if (s.empty()) return std::nullopt;
  while (!s.empty()) {
    std::int64_t n = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || p == s.data() || n < 0) return std::nullopt;
    s.remove_prefix(static_cast<std::size_t>(p - s.data()));
    std::size_t unit_len = 0;
    while (unit_len < s.size() && s[unit_len] >= 'a' && s[unit_len] <= 'z')
      ++unit_len;
    const std::string_view unit = s.substr(0, unit_len);
    s.remove_prefix(unit_len);
    using namespace std::chrono;
    if (unit == "ms") {
      total += milliseconds(n);
    } else if (unit == "s") {
      total += seconds(n);
    } else if (unit == "m" || unit == "min") {
      total += minutes(n);
    } else if (unit == "h") {
      total += hours(n);
    } else if (unit == "d") {
      total += hours(24 * n);
    } else if (unit == "us") {
      total += microseconds(n);
    } else if (unit == "ns") {
      total += nanoseconds(n);
    } else {
      return std::nullopt;
    }
  }
  return total;
}

std::vector<range_bound> one_range() {
  return {range_bound{std::nullopt, std::nullopt, true}};
}

std::vector<range_bound> ranges_from(std::vector<std::string> cuts) {
  std::vector<range_bound> out;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    range_bound b;
    if (i > 0) b.lower = cuts[i - 1];
    if (i < cuts.size()) b.upper = cuts[i];
    b.nulls = i == 0;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace

std::string_view to_string(value_class c) noexcept {
  switch (c) {
    case value_class::integer:
      return "integer";
    case value_class::numeric:
      return "numeric";
    case value_class::date:
      return "date";
    case value_class::timestamp:
      return "timestamp";
    case value_class::timestamptz:
      return "timestamptz";
    case value_class::text:
      return "text";
    case value_class::other:
      break;
  }
  return "other";
}

bool orderable_watermark(value_class c) noexcept {
  return c != value_class::text && c != value_class::other;
}

std::optional<time_value> parse_time(std::string_view s) {
  time_value t;
  int y = 0;
  int mo = 0;
  int d = 0;
  if (s.size() < 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || mo < 1 || mo > 12 || d < 1 || d > 31)
    return std::nullopt;
  t.days = codecs::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (s.size() == 10) {
    t.date_only = true;
    return t;
  }
  int h = 0;
  int mi = 0;
  int sec = 0;
  if (s.size() < 19 || (s[10] != ' ' && s[10] != 'T') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec) || h > 24 || mi > 59 ||
      sec > 60)
    return std::nullopt;
  t.separator = s[10];
  std::int64_t nanos = ((h * 60LL + mi) * 60 + sec) * 1'000'000'000;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t frac = 0;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n == 9) return std::nullopt;  // finer than nanoseconds: not ours to round
      frac = frac * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    t.fraction_digits = n;
    for (int i = n; i < 9; ++i)
      frac *= 10;
    nanos += frac;
  }
  t.nanos = nanos;
  if (pos < s.size()) {
    const auto off = parse_offset(s.substr(pos));
    if (!off) return std::nullopt;
    t.offset_s = *off;
    t.offset_text = std::string(s.substr(pos));
  }
  // 24:00:00 and leap seconds as the next day / second.
  return at_instant(t, total_nanos(t));
}

std::string format_time(const time_value& t) {
  const auto c = codecs::civil_from_days(t.days);
  std::string out = fmt::format("{:04}-{:02}-{:02}", c.year, c.month, c.day);
  if (t.date_only) return out;
  const std::int64_t secs = t.nanos / 1'000'000'000;
  std::int64_t frac = t.nanos % 1'000'000'000;
  out += fmt::format("{}{:02}:{:02}:{:02}", t.separator, secs / 3600, secs / 60 % 60, secs % 60);
  int needed = 9;
  while (needed > 0 && frac % 10 == 0) {
    frac /= 10;
    --needed;
  }
  const int shown = std::max(needed, t.fraction_digits);
  if (shown > 0) {
    std::string f = fmt::format("{:09}", t.nanos % 1'000'000'000);
    out += "." + f.substr(0, static_cast<std::size_t>(shown));
  }
  if (t.offset_s) {
    if (t.offset_text.empty() || parse_offset(t.offset_text) != t.offset_s) {
      const int o = std::abs(*t.offset_s);
      out += fmt::format("{}{:02}:{:02}", *t.offset_s < 0 ? '-' : '+', o / 3600, o / 60 % 60);
    } else {
      out += t.offset_text;
    }
  }
  return out;
}

std::optional<int> compare_values(value_class c, std::string_view a, std::string_view b) {
  switch (c) {
    case value_class::integer:
    case value_class::numeric:
      return compare_numbers(a, b);
    case value_class::date:
    case value_class::timestamp:
    case value_class::timestamptz: {
      const int ia = infinity_of(a);
      const int ib = infinity_of(b);
      if (ia != 0 || ib != 0) {
        if ((ia == 0 && !parse_time(a)) || (ib == 0 && !parse_time(b))) return std::nullopt;
        return ia < ib ? -1 : (ia > ib ? 1 : 0);
      }
      const auto x = parse_time(a);
      const auto y = parse_time(b);
      if (!x || !y) return std::nullopt;
      const i128 nx = total_nanos(*x);
      const i128 ny = total_nanos(*y);
      return nx < ny ? -1 : (nx > ny ? 1 : 0);
    }
    case value_class::text: {
      const int r = a.compare(b);
      return r < 0 ? -1 : (r > 0 ? 1 : 0);
    }
    case value_class::other:
      break;
  }
  return std::nullopt;
}

std::optional<lookback> parse_lookback(value_class c, std::string_view text) {
  lookback out;
  switch (c) {
    case value_class::integer:
    case value_class::numeric: {
      const auto d = parse_decimal(text);
      if (!d || d->negative || (c == value_class::integer && !d->frac_part.empty()))
        return std::nullopt;
      out.amount = std::string(text);
      return out;
    }
    case value_class::date:
    case value_class::timestamp:
    case value_class::timestamptz: {
      const auto t = parse_time_amount(text);
      if (!t) return std::nullopt;
      out.time = *t;
      return out;
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string> subtract_lookback(value_class c, std::string_view mark,
                                             const lookback& back) {
  switch (c) {
    case value_class::integer:
    case value_class::numeric: {
      if (is_float_text(mark)) {
        const auto m = parse_double(mark);
        const auto b = parse_double(back.amount);
        if (!m || !b) return std::nullopt;
        return fmt::format("{}", *m - *b);
      }
      const auto m = parse_decimal(mark);
      const auto b = parse_decimal(back.amount);
      if (!m || !b) return std::nullopt;
      return subtract_decimal(*m, *b, std::max(m->frac_part.size(), b->frac_part.size()));
    }
    case value_class::date:
    case value_class::timestamp:
    case value_class::timestamptz: {
      if (infinity_of(mark) != 0) return std::string(mark);
      auto t = parse_time(mark);
      if (!t) return std::nullopt;
      if (t->date_only) {
        // Whole days back, rounded up: a date watermark cannot say which part of a day it saw.
        const std::int64_t per_day = nanos_per_day;
        t->days -= (back.time.count() + per_day - 1) / per_day;
        return format_time(*t);
      }
      return format_time(at_instant(*t, total_nanos(*t) - back.time.count()));
    }
    default:
      return std::nullopt;
  }
}

std::vector<range_bound> split_range(value_class c, std::string_view min, std::string_view max,
                                     int n) {
  if (n <= 1) return one_range();
  std::vector<std::string> cuts;
  if (c == value_class::integer) {
    std::int64_t lo = 0;
    std::int64_t hi = 0;
    const auto r1 = std::from_chars(min.data(), min.data() + min.size(), lo);
    const auto r2 = std::from_chars(max.data(), max.data() + max.size(), hi);
    if (r1.ec != std::errc{} || r2.ec != std::errc{} || hi <= lo) return one_range();
    const i128 span = static_cast<i128>(hi) - lo + 1;
    const i128 parts = std::min<i128>(n, span);
    for (i128 i = 1; i < parts; ++i)
      cuts.push_back(std::to_string(static_cast<std::int64_t>(lo + span * i / parts)));
    return ranges_from(std::move(cuts));
  }
  if (c == value_class::date || c == value_class::timestamp || c == value_class::timestamptz) {
    const auto a = parse_time(min);
    const auto b = parse_time(max);
    if (!a || !b) return one_range();
    const i128 from = total_nanos(*a);
    const i128 span = total_nanos(*b) - from;
    if (span <= 0) return one_range();
    for (int i = 1; i < n; ++i) {
      time_value cut = at_instant(*a, from + span * i / n);
      if (cut.date_only) {
        cut.nanos = 0;
        if (!cuts.empty() && cuts.back() == format_time(cut)) continue;
        if (format_time(cut) == format_time(*a)) continue;
      }
      cuts.push_back(format_time(cut));
    }
    return ranges_from(std::move(cuts));
  }
  return one_range();
}

chunk_strategy choose_strategy(value_class chunk_class, bool has_chunk_by, std::int64_t rows,
                               std::int64_t chunk_rows) {
  if (rows <= chunk_rows) return chunk_strategy::one_small;
  if (!has_chunk_by) return chunk_strategy::one_no_chunk_by;
  switch (chunk_class) {
    case value_class::integer:
    case value_class::date:
    case value_class::timestamp:
    case value_class::timestamptz:
      return chunk_strategy::ranges;
    case value_class::text:
      return chunk_strategy::grouped;
    default:
      return chunk_strategy::one_unsplittable;
  }
}

std::vector<range_bound> grouped_ranges(const std::vector<std::string>& firsts) {
  std::vector<std::string> cuts;
  for (std::size_t i = 1; i < firsts.size(); ++i)
    if (cuts.empty() ? firsts[i] != firsts.front() : firsts[i] != cuts.back())
      cuts.push_back(firsts[i]);
  if (cuts.empty()) return one_range();
  return ranges_from(std::move(cuts));
}

}  // namespace uringmig::engine::incremental
