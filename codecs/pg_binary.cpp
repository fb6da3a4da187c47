#include "codecs/pg_binary.hpp"

#include "codecs/civil_date.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace uringmig::codecs {

std::optional<pg_binary_type> pg_binary_type_of(std::uint32_t type_oid) {
  switch (type_oid) {
    case 16:
      return pg_binary_type::boolean;
    case 17:
      return pg_binary_type::bytea;
    case 19:    // name
    case 25:    // text
    case 1042:  // bpchar: sent with its padding, as bpcharout prints it
    case 1043:  // varchar
      return pg_binary_type::text;
    case 20:
      return pg_binary_type::int8;
    case 21:
      return pg_binary_type::int2;
    case 23:
      return pg_binary_type::int4;
    case 26:
      return pg_binary_type::oid;
    case 114:
      return pg_binary_type::json;
    case 700:
      return pg_binary_type::float4;
    case 701:
      return pg_binary_type::float8;
    case 1082:
      return pg_binary_type::date;
    case 1114:
      return pg_binary_type::timestamp;
    case 1184:
      return pg_binary_type::timestamptz;
    case 1700:
      return pg_binary_type::numeric;
    case 2950:
      return pg_binary_type::uuid;
    case 3802:
      return pg_binary_type::jsonb;
    default:
      return std::nullopt;
  }
}

namespace pg_binary {

namespace {

constexpr char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

char* put2(char* o, unsigned v) {  // v < 100
  std::memcpy(o, digit_pairs + 2 * v, 2);
  return o + 2;
}

char* put4(char* o, unsigned v) {  // v < 10000
  o = put2(o, v / 100);
  return put2(o, v % 100);
}

char* put_text(char* o, std::string_view s) {
  if (s.empty()) return o;  // an empty view may hold nullptr: no memcpy from it
  std::memcpy(o, s.data(), s.size());
  return o + s.size();
}

constexpr std::int64_t days_1970_to_2000 = 10957;
constexpr std::int64_t micros_per_day = 86400LL * 1000000;
constexpr std::int64_t days_0001_to_2000 = 730119;  // 0001-01-01 .. 2000-01-01

// YYYY-MM-DD (year >= 4 digits, display year: 1 BC is 1); sets bc.
char* put_ymd(char* o, std::int64_t days_since_2000, bool& bc) {
  const civil_date date = civil_from_days(days_since_2000 + days_1970_to_2000);
  bc = date.year <= 0;
  const std::int64_t shown = bc ? 1 - date.year : date.year;
  if (shown < 10000) {
    o = put4(o, static_cast<unsigned>(shown));
  } else {
    o = put_uint(o, static_cast<std::uint64_t>(shown));
  }
  *o++ = '-';
  o = put2(o, date.month);
  *o++ = '-';
  return put2(o, date.day);
}

// Digits d1..dn of value 0.d1..dn x 10^(exp + 1), PostgreSQL's layout: fixed notation for
// decimal exponents in [-4, fixed_below), else d.ddde+XX (at least two exponent digits).
char* put_layout(char* o, std::string_view digits, int exp, int fixed_below) {
  const auto n = static_cast<int>(digits.size());
  if (exp < -4 || exp >= fixed_below) {
    *o++ = digits[0];
    if (n > 1) {
      *o++ = '.';
      o = put_text(o, digits.substr(1));
    }
    *o++ = 'e';
    *o++ = exp < 0 ? '-' : '+';
    const int a = exp < 0 ? -exp : exp;
    if (a >= 100) *o++ = static_cast<char>('0' + a / 100);
    return put2(o, static_cast<unsigned>(a % 100));
  }
  if (exp < 0) {
    *o++ = '0';
    *o++ = '.';
    for (int z = -1; z > exp; --z)
      *o++ = '0';
    return put_text(o, digits);
  }
  for (int i = 0; i <= exp; ++i)  // exp + 1 digits before the point, zeros past the digits
    *o++ = i < n ? digits[static_cast<std::size_t>(i)] : '0';
  if (n > exp + 1) {
    *o++ = '.';
    o = put_text(o, digits.substr(static_cast<std::size_t>(exp) + 1));
  }
  return o;
}

// A decimal M x 10^E (M without sign) read from std::to_chars' scientific output.
struct decimal {
  std::uint64_t m = 0;
  int e = 0;
  char digits[24] = {};
  int n = 0;
  int exp10 = 0;  // exponent of the leading digit
};

decimal parse_scientific(const char* p, const char* end) {
  decimal d;
  for (; p < end && *p != 'e'; ++p)
    if (*p != '.') {
      d.digits[d.n++] = *p;
      d.m = d.m * 10 + static_cast<unsigned>(*p - '0');
    }
  std::from_chars(p + 1 + (p[1] == '+' ? 1 : 0), end, d.exp10);
  while (d.n > 1 && d.digits[d.n - 1] == '0') {  // a fixed precision may leave zeros
    --d.n;
    d.m /= 10;
  }
  d.e = d.exp10 - (d.n - 1);
  return d;
}

__extension__ typedef unsigned __int128 u128;  // GCC and Clang; -Wpedantic knows no __int128

u128 pow5(int q) {
  u128 r = 1;
  while (q-- > 0)
    r *= 5;
  return r;
}

int ctz128(u128 v) {
  int t = 0;
  while ((v & 1) == 0) {
    v >>= 1;
    ++t;
  }
  return t;
}

// M x 10^E == K x 2^F exactly (K odd)? Only small |E| can: the odd part of either side has
// fewer than 64 bits.
bool equals_dyadic(std::uint64_t m, int e, std::uint64_t k, int f) {
  if (m == 0) return false;
  if (e >= 0) {
    if (e > 27) return false;
    const u128 l = u128{m} * pow5(e);
    const int t = ctz128(l);
    return (l >> t) == k && t + e == f;
  }
  if (-e > 27) return false;
  const u128 r = u128{k} * pow5(-e);
  const int t = ctz128(m);
  return (u128{m} >> t) == r && t == f - e;
}

// PostgreSQL's Ryu (STRICTLY_SHORTEST off) leaves out the two bounds of the interval of
// decimals that read back as v; std::to_chars takes them when v's mantissa is even. Which
// bound `d` sits on: -1 lower, +1 upper, 0 none. `bits`: |v|'s IEEE bits.
template <class F>
int on_bound(const decimal& d, std::uint64_t bits) {
  constexpr int mbits = std::numeric_limits<F>::digits - 1;  // 52 / 23
  constexpr int bias = std::numeric_limits<F>::max_exponent - 1 + mbits;
  const std::uint64_t frac = bits & ((std::uint64_t{1} << mbits) - 1);
  const auto ef = static_cast<int>(bits >> mbits);
  const std::uint64_t m2 = ef == 0 ? frac : frac | (std::uint64_t{1} << mbits);
  const int e2 = ef == 0 ? 1 - bias : ef - bias;
  if (equals_dyadic(d.m, d.e, 2 * m2 + 1, e2 - 1)) return 1;
  const bool narrow = frac == 0 && ef > 1;  // a power of two: the gap below is half as wide
  if (narrow ? equals_dyadic(d.m, d.e, 4 * m2 - 1, e2 - 2)
             : equals_dyadic(d.m, d.e, 2 * m2 - 1, e2 - 1))
    return -1;
  return 0;
}

// `d` moved one unit in its last digit (direction -1 or +1).
decimal step(const decimal& d, int direction) {
  char buf[48];
  const std::uint64_t m = direction > 0 ? d.m + 1 : d.m - 1;
  char* p = put_uint(buf, m);
  const int n = static_cast<int>(p - buf);
  decimal r;
  r.m = m;
  r.e = d.e;
  for (int i = 0; i < n; ++i)
    r.digits[r.n++] = buf[i];
  while (r.n > 1 && r.digits[r.n - 1] == '0') {  // 1.000 -> 1: the layout wants no zeros
    --r.n;
    r.m /= 10;
    ++r.e;
  }
  r.exp10 = r.e + r.n - 1;
  return r;
}

template <class F>
bool reads_back_inside(const decimal& d, F v, std::uint64_t bits) {
  char buf[64];
  char* p = buf;
  for (int i = 0; i < d.n; ++i)
    *p++ = d.digits[i];
  *p++ = 'e';
  p = std::to_chars(p, buf + sizeof buf, d.e).ptr;
  F back{};
  std::from_chars(buf, p, back);
  return back == v && on_bound<F>(d, bits) == 0;
}

template <class F>
char* put_float(char* o, F v, int fixed_below) {
  if (std::isnan(v)) return put_text(o, "NaN");
  if (std::isinf(v)) return put_text(o, v < 0 ? "-Infinity" : "Infinity");
  if (v == 0) return put_text(o, std::signbit(v) ? "-0" : "0");
  if (v < 0) *o++ = '-';
  v = std::fabs(v);
  std::uint64_t bits = 0;
  if constexpr (sizeof(F) == 8)
    bits = std::bit_cast<std::uint64_t>(v);
  else
    bits = std::bit_cast<std::uint32_t>(v);
  char sci[48];
  auto r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
  decimal d = parse_scientific(sci, r.ptr);
  // Rare: the shortest decimal is a bound. Then the next one inwards, else more digits.
  for (int side = on_bound<F>(d, bits), precision = d.n; side != 0;) {
    const decimal in = step(d, -side);
    if (reads_back_inside(in, v, bits)) {
      d = in;
      break;
    }
    r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific, precision++);
    d = parse_scientific(sci, r.ptr);
    side = on_bound<F>(d, bits);
  }
  return put_layout(o, {d.digits, static_cast<std::size_t>(d.n)}, d.exp10, fixed_below);
}

}  // namespace

char* put_uint(char* o, std::uint64_t v) {
  char tmp[24];
  char* t = tmp + sizeof tmp;
  while (v >= 100) {
    t -= 2;
    std::memcpy(t, digit_pairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (v >= 10) {
    t -= 2;
    std::memcpy(t, digit_pairs + 2 * v, 2);
  } else {
    *--t = static_cast<char>('0' + v);
  }
  const auto n = static_cast<std::size_t>(tmp + sizeof tmp - t);
  std::memcpy(o, t, n);
  return o + n;
}

char* put_int(char* o, std::int64_t v) {
  if (v >= 0) return put_uint(o, static_cast<std::uint64_t>(v));
  *o++ = '-';
  return put_uint(o, 0 - static_cast<std::uint64_t>(v));
}

char* put_float8(char* o, double v) {
  return put_float(o, v, 15);
}

char* put_float4(char* o, float v) {
  return put_float(o, v, 6);
}

char* put_date(char* o, std::int32_t days) {
  if (days == std::numeric_limits<std::int32_t>::min()) return put_text(o, "-infinity");
  if (days == std::numeric_limits<std::int32_t>::max()) return put_text(o, "infinity");
  bool bc = false;
  o = put_ymd(o, days, bc);
  return bc ? put_text(o, " BC") : o;
}

bool timestamp_is_bc(std::int64_t micros) {
  return micros != std::numeric_limits<std::int64_t>::min() &&
         micros < -days_0001_to_2000 * micros_per_day;
}

char* put_timestamp(char* o, std::int64_t micros, std::string_view zone) {
  if (micros == std::numeric_limits<std::int64_t>::min()) return put_text(o, "-infinity");
  if (micros == std::numeric_limits<std::int64_t>::max()) return put_text(o, "infinity");
  std::int64_t days = micros / micros_per_day;
  std::int64_t tod = micros % micros_per_day;
  if (tod < 0) {
    tod += micros_per_day;
    --days;
  }
  bool bc = false;
  o = put_ymd(o, days, bc);
  const auto secs = static_cast<unsigned>(tod / 1000000);
  *o++ = ' ';
  o = put2(o, secs / 3600);
  *o++ = ':';
  o = put2(o, secs / 60 % 60);
  *o++ = ':';
  o = put2(o, secs % 60);
  if (auto frac = static_cast<unsigned>(tod % 1000000); frac != 0) {
    int width = 6;
    while (frac % 10 == 0) {
      frac /= 10;
      --width;
    }
    *o++ = '.';
    char six[6];
    for (int i = width - 1; i >= 0; --i, frac /= 10)
      six[i] = static_cast<char>('0' + frac % 10);
    o = put_text(o, {six, static_cast<std::size_t>(width)});
  }
  o = put_text(o, zone);
  return bc ? put_text(o, " BC") : o;
}

char* put_uuid(char* o, const unsigned char* p) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    *o++ = hex[p[i] >> 4];
    *o++ = hex[p[i] & 15];
  }
  return o;
}

char* put_hex(char* o, const unsigned char* p, std::size_t len) {
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < len; ++i) {
    *o++ = hex[p[i] >> 4];
    *o++ = hex[p[i] & 15];
  }
  return o;
}

namespace {

constexpr std::uint16_t numeric_pos = 0x0000, numeric_neg = 0x4000, numeric_nan = 0xC000,
                        numeric_pinf = 0xD000, numeric_ninf = 0xF000;

}  // namespace

std::size_t numeric_text_bound(const unsigned char* p, std::size_t len) {
  if (len < 8) return 0;
  const auto weight = static_cast<std::int16_t>(be16(p + 2));
  const std::size_t dscale = be16(p + 6) & 0x3FFF;
  const std::size_t int_groups = weight < 0 ? 1 : static_cast<std::size_t>(weight) + 1;
  return 16 + 4 * int_groups + dscale;
}

char* put_numeric(char* o, const unsigned char* p, std::size_t len) {
  if (len < 8) return nullptr;
  const std::size_t ndigits = be16(p);
  const int weight = static_cast<std::int16_t>(be16(p + 2));
  const std::uint16_t sign = be16(p + 4);
  const int dscale = be16(p + 6);
  if (len != 8 + 2 * ndigits || (dscale & 0xC000) != 0) return nullptr;
  if (sign == numeric_nan) return put_text(o, "NaN");
  if (sign == numeric_pinf) return put_text(o, "Infinity");
  if (sign == numeric_ninf) return put_text(o, "-Infinity");
  if (sign != numeric_pos && sign != numeric_neg) return nullptr;
  const unsigned char* digits = p + 8;
  for (std::size_t i = 0; i < ndigits; ++i)
    if (be16(digits + 2 * i) > 9999) return nullptr;
  auto group = [&](long i) -> unsigned {
    return i >= 0 && static_cast<std::size_t>(i) < ndigits ? be16(digits + 2 * i) : 0;
  };
  if (sign == numeric_neg) *o++ = '-';
  if (weight < 0) {
    *o++ = '0';
  } else {
    o = put_uint(o, group(0));  // the first group without leading zeros
    for (long i = 1; i <= weight; ++i)
      o = put4(o, group(i));
  }
  if (dscale > 0) {
    *o++ = '.';
    char* const frac = o;
    for (long i = weight + 1; o - frac < dscale; ++i)
      o = put4(o, group(i));
    o = frac + dscale;  // the last group may carry digits past the display scale
  }
  return o;
}

}  // namespace pg_binary

}  // namespace uringmig::codecs
