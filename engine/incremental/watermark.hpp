// Watermark values and chunk bounds as the sources print them, compared and moved at the source's
// own precision: a mark is kept as the source's text (a TIMESTAMP(9) keeps its nanoseconds), never
// as a rounded double. Pure functions; no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine::incremental {

/// How a column's values order and move, whatever the source calls the type.
enum class value_class {
  integer,      // smallint .. bigint, NUMBER(p,0) p <= 18, SQLite INTEGER
  numeric,      // numeric/decimal, floating point
  date,         // a calendar date
  timestamp,    // date and time, no zone
  timestamptz,  // date and time with an offset
  text,         // orderable, but no arithmetic (chunked as one; not a watermark)
  other,        // no order to rely on (json, bytea, boolean, geometry, ...)
};

std::string_view to_string(value_class c) noexcept;

/// Whether a column of class `c` may be a watermark: integer, numeric, date, timestamp(tz).
bool orderable_watermark(value_class c) noexcept;

/// A point in time parsed from "YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|+HH[:MM[:SS]]|-HH...]" or
/// "YYYY-MM-DD", with the shape it was written in, so that it prints back the same way.
struct time_value {
  std::int64_t days = 0;        // since 1970-01-01, in the written offset's wall time
  std::int64_t nanos = 0;       // of the day, 0 .. 86 400e9 - 1
  std::optional<int> offset_s;  // the written offset; nullopt: none written
  char separator = ' ';         // ' ' or 'T'
  int fraction_digits = 0;      // as written (0..9)
  bool date_only = false;       // "YYYY-MM-DD"
  std::string offset_text;      // as written ("+00", "Z", "+05:30")
};

/// Parses a date or timestamp as above; nullopt when it is none.
std::optional<time_value> parse_time(std::string_view text);

/// Prints `t` in the shape it was read in (more fraction digits when the value needs them).
std::string format_time(const time_value& t);

/// -1, 0, 1: `a` against `b`, both of class `c`, exactly (integers and numerics as decimal
/// text of any length, times to the nanosecond, instants with an offset compared in UTC).
/// nullopt when either does not parse as class `c`.
std::optional<int> compare_values(value_class c, std::string_view a, std::string_view b);

/// A `lookback` as the config writes it: for times "10m", "1h30m", "90s", "2d", "500ms", "0";
/// for integers and numerics a number ("1000"). nullopt when it does not parse for `c`.
struct lookback {
  std::chrono::nanoseconds time{0};
  std::string amount = "0";  // integer/numeric classes: a non-negative decimal
};
std::optional<lookback> parse_lookback(value_class c, std::string_view text);

/// `mark - back` at the mark's own precision, in the mark's own shape: the lower bound of the
/// next read (`watermark >= result`). nullopt when the mark does not parse as class `c`.
std::optional<std::string> subtract_lookback(value_class c, std::string_view mark,
                                             const lookback& back);

/// One chunk's range on the chunk column: lower <= value < upper (unset: open on that side);
/// `nulls`: the chunk also takes the rows whose chunk column is NULL.
struct range_bound {
  std::optional<std::string> lower;
  std::optional<std::string> upper;
  bool nulls = false;
};

/// `n` ranges that together take every value (and NULL) of a column of class `c` whose values
/// lie in [min, max]: integer ranges or date/time ranges of equal width, the first open below
/// (and taking NULL), the last open above. One open range when `n` <= 1, when the class has no
/// arithmetic (text, other) or when min/max do not parse.
std::vector<range_bound> split_range(value_class c, std::string_view min, std::string_view max,
                                     int n);

/// How a table's window is cut into chunks.
enum class chunk_strategy {
  one_small,        // no more rows than one chunk takes
  one_no_chunk_by,  // no chunk_by: one chunk
  ranges,           // integer or date/time ranges of equal width (split_range)
  grouped,          // text, varchar, uuid: value ranges from the source's group boundaries
  one_unsplittable  // a chunk_by of another class: one chunk
};
chunk_strategy choose_strategy(value_class chunk_class, bool has_chunk_by, std::int64_t rows,
                               std::int64_t chunk_rows);

/// Ranges from grouped-value boundaries: `firsts` holds the first value of each group, ascending
/// in the source's order; the ranges are [-inf, f1) with NULL, [f1, f2), ..., [fk, +inf)
/// (repeated values dropped). One open range when there are fewer than two groups.
std::vector<range_bound> grouped_ranges(const std::vector<std::string>& firsts);

}  // namespace uringmig::engine::incremental
