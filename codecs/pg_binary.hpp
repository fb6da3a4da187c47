#pragma once

// PostgreSQL binary send forms (COPY ... (FORMAT binary), binary results) of the common built-in
// types, rendered as the text their output functions write in a session with DateStyle ISO,
// TimeZone UTC and extra_float_digits >= 1 (PostgreSQL 15):
//   int2/int4/int8/oid   decimal
//   float4/float8        shortest round-trip digits (Ryu), fixed notation for decimal exponents
//                        -4..5 (float4) / -4..14 (float8), else d.ddde+XX; NaN, Infinity,
//                        -Infinity, 0, -0
//   numeric              numeric_out: as many fraction digits as the value's display scale
//                        says (trailing zeros kept), NaN, Infinity, -Infinity
//   date                 YYYY-MM-DD, " BC" for years <= 0, infinity, -infinity
//   timestamp[tz]        YYYY-MM-DD HH:MM:SS[.ffffff without trailing zeros], then the zone
//                        the caller passes ("+00" for timestamptz in UTC), then " BC"
//   uuid                 8-4-4-4-12 lowercase hex
// Each put_* writes at `o` (room: the bound its comment states) and returns the end, or
// nullptr when the bytes are not a valid send form of that type (nothing usable written).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace uringmig::codecs {

/// The types whose binary form the codecs can render (everything else: COPY text).
enum class pg_binary_type : std::uint8_t {
  int2,
  int4,
  int8,
  oid,
  float4,
  float8,
  numeric,
  text,   // text, varchar, bpchar, name: the bytes as they are
  json,   // the document's text
  jsonb,  // a version byte (1), then the document's text
  boolean,
  date,
  timestamp,
  timestamptz,
  uuid,
  bytea
};

/// The binary type of a built-in type OID (pg_type.oid); nullopt for anything else (domains,
/// enums, arrays, other types: their OIDs differ even when they wrap a supported type).
std::optional<pg_binary_type> pg_binary_type_of(std::uint32_t type_oid);

namespace pg_binary {

/// Big-endian integers as COPY binary sends them.
inline std::uint16_t be16(const unsigned char* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::uint64_t be64(const unsigned char* p) {
  return (std::uint64_t{be32(p)} << 32) | be32(p + 4);
}

inline constexpr std::size_t fixed_text_max = 48;  // room for any put_* below but numeric

/// A signed or unsigned integer in decimal (room: 21).
char* put_int(char* o, std::int64_t v);
char* put_uint(char* o, std::uint64_t v);

/// float8out / float4out with extra_float_digits >= 1 (room: 26).
char* put_float8(char* o, double v);
char* put_float4(char* o, float v);

/// Days since 2000-01-01 (room: 20).
char* put_date(char* o, std::int32_t days);

/// Microseconds since 2000-01-01 00:00:00; `zone` goes after the time, before " BC"
/// (room: 40 + zone.size()).
char* put_timestamp(char* o, std::int64_t micros, std::string_view zone);

/// True when a timestamp's year is <= 0 (written with " BC"); false for infinities.
bool timestamp_is_bc(std::int64_t micros);

/// 16 bytes (room: 36).
char* put_uuid(char* o, const unsigned char* p);

/// Room put_numeric needs for this send form; 0 when it is too short to be one.
std::size_t numeric_text_bound(const unsigned char* p, std::size_t len);

/// numeric_send's form (ndigits, weight, sign, dscale, base-10000 digits) as numeric_out.
char* put_numeric(char* o, const unsigned char* p, std::size_t len);

/// Lowercase hex of `len` bytes (room: 2 * len).
char* put_hex(char* o, const unsigned char* p, std::size_t len);

}  // namespace pg_binary

}  // namespace uringmig::codecs
