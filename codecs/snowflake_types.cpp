#include "codecs/snowflake_types.hpp"

#include "codecs/ascii.hpp"
#include "codecs/civil_date.hpp"
#include "codecs/copy_text.hpp"
#include "codecs/json_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace uringmig::codecs::snowflake {

namespace {

// Beyond these no calendar conversion is attempted (Snowflake's own range is years 0-9999).
constexpr std::int64_t max_epoch_seconds = 400'000'000'000;  // ~12 700 years
constexpr std::int64_t max_epoch_days = max_epoch_seconds / 86400;
// PostgreSQL's varchar(n) limit.
constexpr std::int64_t max_varchar = 10'485'760;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii::lower(x) == ascii::lower(y);
         });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  const auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc{} || p != e || b == e) return std::nullopt;
  return v;
}

void put_digits(std::string& out, std::uint64_t v, int width) {
  std::array<char, 24> buf{};
  int n = 0;
  do {
    buf[static_cast<std::size_t>(n++)] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (int i = n; i < width; ++i)
    out.push_back('0');
  while (n > 0)
    out.push_back(buf[static_cast<std::size_t>(--n)]);
}

/// Nanoseconds as `scale` fraction digits (".F"), nothing when scale is 0.
void put_fraction(std::string& out, std::uint32_t nanos, int scale) {
  if (scale <= 0) return;
  std::uint32_t div = 1;
  for (int i = scale; i < 9; ++i)
    div *= 10;
  out.push_back('.');
  put_digits(out, nanos / div, scale);
}

/// Digits a fraction needs so that no nanosecond is lost, at least `scale`.
int fraction_digits(std::uint32_t nanos, int scale) {
  int need = 9;
  while (need > 0 && nanos % 10 == 0) {
    nanos /= 10;
    --need;
  }
  return std::max(need, scale);
}

void put_date(std::string& out, std::int64_t days, bool& bc) {
  const civil_date d = civil_from_days(days);
  bc = d.year <= 0;
  put_digits(out, static_cast<std::uint64_t>(bc ? 1 - d.year : d.year), 4);
  out.push_back('-');
  put_digits(out, d.month, 2);
  out.push_back('-');
  put_digits(out, d.day, 2);
}

void put_clock(std::string& out, std::int64_t second_of_day, std::uint32_t nanos, int scale) {
  put_digits(out, static_cast<std::uint64_t>(second_of_day / 3600), 2);
  out.push_back(':');
  put_digits(out, static_cast<std::uint64_t>(second_of_day / 60 % 60), 2);
  out.push_back(':');
  put_digits(out, static_cast<std::uint64_t>(second_of_day % 60), 2);
  put_fraction(out, nanos, scale);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

/// "YYYY-MM-DD HH:MM:SS[.F]", then `zone`, then " BC".
void put_timestamp(std::string& out, const epoch_time& t, std::string_view zone) {
  const std::int64_t days = floor_div(t.seconds, 86400);
  bool bc = false;
  put_date(out, days, bc);
  out.push_back(' ');
  put_clock(out, t.seconds - days * 86400, t.nanos, t.scale);
  out.append(zone);
  if (bc) out.append(" BC");
}

/// TIMESTAMP_TZ: "S.F OFFSET" with OFFSET = minutes + 1440.
std::optional<epoch_time> parse_tz(std::string_view v) {
  const auto sp = v.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  auto t = parse_epoch(v.substr(0, sp));
  const auto off = parse_int(v.substr(sp + 1));
  if (!t || !off || *off < 0 || *off > 2880) return std::nullopt;
  t->offset_minutes = static_cast<int>(*off - 1440);
  return t;
}

bool put_real(std::string& out, std::string_view v) {
  if (is_json_number(v)) {
    out.append(v);
  } else if (iequals(v, "nan")) {
    out.append("NaN");
  } else if (iequals(v, "inf") || iequals(v, "infinity") || iequals(v, "+inf")) {
    out.append("Infinity");
  } else if (iequals(v, "-inf") || iequals(v, "-infinity")) {
    out.append("-Infinity");
  } else {
    return false;
  }
  return true;
}

bool is_bigint(const column& c) {
  return c.scale.value_or(0) == 0 && c.precision && *c.precision <= 18;
}

bool put_fixed(std::string& out, const column& c, std::string_view v) {
  std::string_view digits = v.substr(!v.empty() && v.front() == '-' ? 1 : 0);
  const auto dot = digits.find('.');
  if (!all_digits(digits.substr(0, dot))) return false;
  if (dot != std::string_view::npos && !all_digits(digits.substr(dot + 1))) return false;
  // A bigint column must hold it.
  if (is_bigint(c) && (dot != std::string_view::npos || !parse_int(v))) return false;
  out.append(v);
  return true;
}

bool put_binary(std::string& out, std::string_view v) {
  if (v.size() % 2 != 0) return false;
  const bool hex = std::all_of(v.begin(), v.end(), [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
  });
  if (!hex) return false;
  out.append("\\\\x");  // bytea hex input, its backslash escaped for COPY text
  for (char ch : v)
    out.push_back(ascii::lower(ch));
  return true;
}

bool put_boolean(std::string& out, std::string_view v) {
  if (iequals(v, "true") || v == "1") {
    out.push_back('t');
  } else if (iequals(v, "false") || v == "0") {
    out.push_back('f');
  } else {
    return false;
  }
  return true;
}

bool put_date_value(std::string& out, std::string_view v) {
  const auto days = parse_int(v);
  if (!days || *days > max_epoch_days || *days < -max_epoch_days) return false;
  bool bc = false;
  put_date(out, *days, bc);
  if (bc) out.append(" BC");
  return true;
}

bool put_time_value(std::string& out, std::string_view v) {
  const auto t = parse_epoch(v);
  if (!t || t->seconds < 0 || t->seconds >= 86400) return false;
  put_clock(out, t->seconds, t->nanos, t->scale);
  return true;
}

std::string_view what_is_expected(sf_type t) {
  switch (t) {
    case sf_type::fixed:
      return "a decimal number";
    case sf_type::real:
      return "a floating-point number";
    case sf_type::boolean:
      return "true or false";
    case sf_type::binary:
      return "hex digits";
    case sf_type::date:
      return "days since 1970-01-01";
    case sf_type::time:
      return "seconds since midnight";
    case sf_type::timestamp_tz:
      return "epoch seconds, a space and an offset";
    default:
      return "epoch seconds";
  }
}

}  // namespace

sf_type parse_type(std::string_view name) {
  static constexpr std::pair<std::string_view, sf_type> names[] = {
      {"fixed", sf_type::fixed},
      {"real", sf_type::real},
      {"text", sf_type::text},
      {"boolean", sf_type::boolean},
      {"date", sf_type::date},
      {"time", sf_type::time},
      {"timestamp_ntz", sf_type::timestamp_ntz},
      {"timestamp_ltz", sf_type::timestamp_ltz},
      {"timestamp_tz", sf_type::timestamp_tz},
      {"binary", sf_type::binary},
      {"variant", sf_type::variant},
      {"object", sf_type::object},
      {"array", sf_type::array},
  };
  for (const auto& [n, t] : names) {
    if (iequals(n, name)) return t;
  }
  return sf_type::other;
}

std::string pg_type(const column& c) {
  switch (c.type) {
    case sf_type::fixed: {
      if (is_bigint(c)) return "bigint";
      if (!c.precision) return "numeric";
      return "numeric(" + std::to_string(*c.precision) + "," + std::to_string(c.scale.value_or(0)) +
             ")";
    }
    case sf_type::real:
      return "double precision";
    case sf_type::text:
      if (c.length && *c.length > 0 && *c.length <= max_varchar)
        return "varchar(" + std::to_string(*c.length) + ")";
      return "text";
    case sf_type::boolean:
      return "boolean";
    case sf_type::date:
      return "date";
    case sf_type::time:
      return "time";
    case sf_type::timestamp_ntz:
      return "timestamp";
    case sf_type::timestamp_ltz:
    case sf_type::timestamp_tz:
      return "timestamptz";
    case sf_type::binary:
      return "bytea";
    case sf_type::variant:
    case sf_type::object:
    case sf_type::array:
      return "jsonb";
    case sf_type::other:
      break;
  }
  return "text";
}

bool append_copy_value(std::string& out, const column& c, std::string_view value,
                       std::string& why) {
  const std::size_t mark = out.size();
  bool ok = true;
  switch (c.type) {
    case sf_type::text:
    case sf_type::variant:
    case sf_type::object:
    case sf_type::array:
    case sf_type::other:
      // PostgreSQL text cannot hold U+0000; say so here rather than in COPY's error.
      if (value.find('\0') != std::string_view::npos) {
        why = "a NUL character, which PostgreSQL text cannot hold";
        return false;
      }
      append_copy_text_escaped(out, value);
      return true;
    case sf_type::fixed:
      ok = put_fixed(out, c, value);
      break;
    case sf_type::real:
      ok = put_real(out, value);
      break;
    case sf_type::boolean:
      ok = put_boolean(out, value);
      break;
    case sf_type::binary:
      ok = put_binary(out, value);
      break;
    case sf_type::date:
      ok = put_date_value(out, value);
      break;
    case sf_type::time:
      ok = put_time_value(out, value);
      break;
    case sf_type::timestamp_ntz:
    case sf_type::timestamp_ltz:
    case sf_type::timestamp_tz: {
      const auto t = c.type == sf_type::timestamp_tz ? parse_tz(value) : parse_epoch(value);
      ok = t.has_value();
      if (ok) put_timestamp(out, *t, c.type == sf_type::timestamp_ntz ? "" : "+00");
      break;
    }
  }
  if (!ok) {
    out.resize(mark);
    why = "not " + std::string(what_is_expected(c.type));
  }
  return ok;
}

std::optional<epoch_time> parse_epoch(std::string_view text) {
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  if (!all_digits(whole) || whole.size() > 18) return std::nullopt;
  epoch_time t;
  if (dot != std::string_view::npos) {
    const std::string_view frac = text.substr(dot + 1);
    if (!all_digits(frac) || frac.size() > 9) return std::nullopt;
    t.scale = static_cast<int>(frac.size());
    std::uint32_t f = 0;
    for (char ch : frac)
      f = f * 10 + static_cast<std::uint32_t>(ch - '0');
    for (int i = t.scale; i < 9; ++i)
      f *= 10;
    t.nanos = f;
  }
  std::int64_t s = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), s);
  if (s > max_epoch_seconds) return std::nullopt;
  if (negative) {
    // -(s + f): the floor second, then the nanoseconds after it.
    t.seconds = -s - (t.nanos > 0 ? 1 : 0);
    t.nanos = t.nanos > 0 ? 1'000'000'000U - t.nanos : 0;
  } else {
    t.seconds = s;
  }
  return t;
}

std::optional<epoch_time> instant_of(const column& c, std::string_view value) {
  switch (c.type) {
    case sf_type::date: {
      const auto days = parse_int(value);
      if (!days || *days > max_epoch_days || *days < -max_epoch_days) return std::nullopt;
      epoch_time t;
      t.seconds = *days * 86400;
      return t;
    }
    case sf_type::time: {
      auto t = parse_epoch(value);
      if (!t || t->seconds < 0 || t->seconds >= 86400) return std::nullopt;
      return t;
    }
    case sf_type::timestamp_ntz:
    case sf_type::timestamp_ltz:
      return parse_epoch(value);
    case sf_type::timestamp_tz:
      return parse_tz(value);
    default:
      return std::nullopt;
  }
}

std::string epoch_text(const epoch_time& t) {
  std::string out;
  std::uint64_t whole = 0;
  std::uint32_t frac = t.nanos;
  if (t.seconds < 0) {
    out.push_back('-');
    // seconds + nanos/1e9 < 0: its magnitude is (-seconds - 1) + (1e9 - nanos)/1e9.
    whole = static_cast<std::uint64_t>(-(t.seconds + (frac > 0 ? 1 : 0)));
    frac = frac > 0 ? 1'000'000'000U - frac : 0;
  } else {
    whole = static_cast<std::uint64_t>(t.seconds);
  }
  put_digits(out, whole, 1);
  put_fraction(out, frac, frac > 0 ? fraction_digits(frac, t.scale) : t.scale);
  return out;
}

std::string iso_timestamp(const epoch_time& t) {
  std::string out;
  epoch_time shown = t;
  shown.scale = shown.nanos > 0 ? fraction_digits(t.nanos, t.scale) : t.scale;
  put_timestamp(out, shown, "");
  return out;
}

std::string epoch_nanoseconds_text(const epoch_time& t) {
  __extension__ using i128 = __int128;
  i128 v = static_cast<i128>(t.seconds) * 1'000'000'000 + t.nanos;
  std::string out;
  const bool negative = v < 0;
  if (negative) v = -v;
  do {
    out.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  if (negative) out.push_back('-');
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace uringmig::codecs::snowflake
