#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Snowflake SQL API (v2, jsonv2 results): the columns of `resultSetMetaData.rowType`, their
// PostgreSQL types and the conversion of one jsonv2 value (always text) to PostgreSQL COPY text.
//
// Value encodings (Snowflake's "Handling responses" guide; shared/reference/snowflake-sql-api.md):
//   FIXED          decimal text at the column's scale ("-12", "3.50")
//   REAL           decimal or exponent text, "NaN", "inf", "-inf"
//   TEXT, VARIANT, OBJECT, ARRAY   the text as is (semi-structured values as JSON text)
//   BOOLEAN        "true" / "false" (also "1" / "0")
//   BINARY         hex digits
//   DATE           days since 1970-01-01 ("19723")
//   TIME           seconds since midnight with the column's scale of fraction ("45296.500")
//   TIMESTAMP_NTZ / _LTZ   seconds since the epoch with fraction ("1700000000.123456789")
//   TIMESTAMP_TZ   the same (the UTC instant), a space, the offset in minutes plus 1440
//
// PostgreSQL types (pg_type()):
//   FIXED scale 0, precision <= 18  bigint          other FIXED   numeric(p,s)
//   REAL                            double precision
//   TEXT length n <= 10485760       varchar(n)      longer (VARCHAR's default) or unknown: text
//   BOOLEAN boolean, DATE date, TIME time, TIMESTAMP_NTZ timestamp, TIMESTAMP_LTZ / _TZ timestamptz
//   BINARY bytea, VARIANT / OBJECT / ARRAY jsonb, anything else (GEOGRAPHY, VECTOR, ...) text
//
// COPY text (append_copy_value()): fractions keep every digit the source sent (PostgreSQL rounds
// to microseconds on input); timestamptz values are written in UTC ("+00"); years <= 0 as
// PostgreSQL writes them (" BC"); BINARY as "\\x<hex>"; text through the one COPY escaper
// (codecs/copy_text).

namespace uringmig::codecs::snowflake {

enum class sf_type {
  fixed,
  real,
  text,
  boolean,
  date,
  time,
  timestamp_ntz,
  timestamp_ltz,
  timestamp_tz,
  binary,
  variant,
  object,
  array,
  other,  // a type this mapping does not know: carried as text
};

/// One entry of `rowType`.
struct column {
  std::string name;       // exact case, as Snowflake returns it
  std::string type_name;  // as sent, lower case ("fixed", "timestamp_ntz", ...)
  sf_type type = sf_type::other;
  std::optional<std::int64_t> length;  // TEXT / BINARY
  std::optional<std::int64_t> precision;
  std::optional<std::int64_t> scale;
  bool nullable = true;
};

/// `type` of a rowType entry, any case; sf_type::other when unknown.
sf_type parse_type(std::string_view name);

/// The PostgreSQL type of a column, as DDL text (see the table above).
std::string pg_type(const column& c);

/// Appends `value` (a jsonv2 value of column `c`, not NULL, unescaped) as one COPY text field.
/// False, leaving `out` as it was, when the value is malformed for its type; `why` says how.
bool append_copy_value(std::string& out, const column& c, std::string_view value, std::string& why);

/// A point in time read from jsonv2: whole seconds (floor) and nanoseconds, exact. For
/// TIMESTAMP_* seconds since the epoch (TZ: the UTC instant), for TIME since midnight, for DATE
/// the day's midnight. `scale`: fraction digits the source sent (its precision, 0-9).
struct epoch_time {
  std::int64_t seconds = 0;
  std::uint32_t nanos = 0;  // 0..999'999'999
  int scale = 0;
  int offset_minutes = 0;  // TIMESTAMP_TZ only: the value's own zone

  /// Order by instant only (scale and zone do not change the instant).
  friend std::strong_ordering operator<=>(const epoch_time& a, const epoch_time& b) {
    if (a.seconds != b.seconds) return a.seconds <=> b.seconds;
    return a.nanos <=> b.nanos;
  }
  friend bool operator==(const epoch_time& a, const epoch_time& b) {
    return a.seconds == b.seconds && a.nanos == b.nanos;
  }
};

/// Parses "[-]S[.F]" (F: at most 9 digits), e.g. a TIMESTAMP_NTZ value; nullopt when malformed.
std::optional<epoch_time> parse_epoch(std::string_view text);

/// The instant of a DATE, TIME or TIMESTAMP_* value of column `c`, exact to the nanosecond, for
/// watermark comparisons at the source's own precision; nullopt when malformed or when `c` is
/// of another type.
std::optional<epoch_time> instant_of(const column& c, std::string_view value);

/// "S.FFFFFFFFF": the instant as exact decimal seconds at the source's scale (no fraction when
/// the scale is 0); parse_epoch() reads it back. Stable text for a stored watermark.
std::string epoch_text(const epoch_time& t);

/// "YYYY-MM-DD HH:MM:SS[.F]" (F at t.scale digits, " BC" for years <= 0), in UTC: a literal
/// both Snowflake (TO_TIMESTAMP_*) and PostgreSQL read back exactly.
std::string iso_timestamp(const epoch_time& t);

/// Nanoseconds since the epoch as a decimal integer string (exact for any year 0001-9999).
std::string epoch_nanoseconds_text(const epoch_time& t);

}  // namespace uringmig::codecs::snowflake
