#pragma once

#include "codecs/json_reader.hpp"
#include "codecs/snowflake_types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// A Snowflake SQL API v2 result body (jsonv2) decoded as it arrives, rows written straight to
// PostgreSQL COPY text. No I/O.
//
// A body is one JSON object: a ResultSet (`code`, `sqlState`, `message`, `statementHandle`,
// `resultSetMetaData` {`format`, `numRows`, `rowType`, `partitionInfo`}, `data`), or, for a
// later partition, an object whose `data` is all there is. `data` is an array of rows, each an
// array of one string or null per column of `rowType`. Members may come in any order, except
// that `resultSetMetaData.rowType` must come before `data` when the decoder was not given the
// columns (Snowflake sends it first). Rows are written as they complete: memory stays at the
// row being read plus the caller's output.

namespace uringmig::codecs::snowflake {

struct partition_info {
  std::int64_t row_count = 0;
  std::optional<std::int64_t> uncompressed_size;
  std::optional<std::int64_t> compressed_size;
};

/// The members of a result body besides `data`, as far as they arrived.
struct result_meta {
  std::string statement_handle;
  std::string code;
  std::string sql_state;
  std::string message;
  std::string format;  // resultSetMetaData.format
  std::optional<std::int64_t> num_rows;
  bool has_row_type = false;
  std::vector<column> columns;
  std::vector<partition_info> partitions;
};

/// Reads `rowType` (the array's JSON text) into columns; nullopt with `error` when malformed.
std::optional<std::vector<column>> parse_row_type(std::string_view json_array, std::string& error);

/// Reads the members of a `resultSetMetaData` object into `meta`; false with `error`.
bool read_result_set_meta(const json::object& rsmd, result_meta& meta, std::string& error);

class jsonv2_decoder {
 public:
  /// Partition 0: the columns come from the body's `resultSetMetaData.rowType`.
  jsonv2_decoder() = default;
  /// A later partition: the columns of partition 0.
  explicit jsonv2_decoder(std::vector<column> columns);

  /// Feeds the next piece of the body (split anywhere); appends a COPY text line for every
  /// row it completes to `out`. False once the body is malformed (error() says where); the
  /// decoder then stays failed. A row's line is appended whole or not at all.
  bool feed(std::string_view piece, std::string& out);
  /// The body ended: writes what is left; false unless it was one complete object.
  bool finish(std::string& out);

  /// Keeps the greatest instant (instant_of) and the NULL count of the column named `name`
  /// (exact case; a DATE, TIME or TIMESTAMP_* watermark: other types keep no maximum) over
  /// the rows decoded from now on: the next mark, exact to the nanosecond, without parsing
  /// the COPY text again. Call before feeding.
  void watch(std::string name);
  const std::optional<epoch_time>& watched_max() const { return watched_max_; }
  std::int64_t watched_nulls() const { return watched_nulls_; }

  const std::string& error() const { return error_; }
  const result_meta& meta() const { return meta_; }
  const std::vector<column>& columns() const { return columns_; }
  std::int64_t rows() const { return rows_; }

 private:
  enum class state { start, member, colon, value, data, row, after_row, after_member, done };
  enum class step { more, need, fail };

  bool run(std::string_view buf, std::size_t& pos, bool at_end, std::string& out);
  step advance(std::string_view buf, std::size_t& pos, bool at_end, std::string& out);
  step member_value(std::string_view buf, std::size_t& pos, bool at_end);
  step read_row(std::string_view buf, std::size_t& pos, std::string& out);
  bool absorb_members();
  void resolve_watch();
  step fail(std::size_t at, const std::string& what);

  std::vector<column> columns_;
  bool columns_given_ = false;
  result_meta meta_;
  state state_ = state::start;
  std::string key_;             // the member being read
  std::string members_;         // members other than data not yet absorbed, as JSON text
  bool first_ = true;           // no element yet in the current object / array
  std::string pending_;         // an incomplete unit carried to the next piece
  std::size_t retry_at_ = 0;    // pending_ size at which parsing it again is worth it
  std::uint64_t consumed_ = 0;  // body bytes before the current buffer
  std::uint64_t base_ = 0;      // body offset of the current buffer
  std::string scratch_;         // a string value with escapes, unescaped
  std::int64_t rows_ = 0;
  std::string watched_name_;
  std::size_t watched_ = static_cast<std::size_t>(-1);
  std::optional<epoch_time> watched_max_;
  std::int64_t watched_nulls_ = 0;
  std::string error_;
};

/// A whole body at once: the rows as COPY text, or the error.
struct decoded_result {
  result_meta meta;
  std::string copy_text;
  std::int64_t rows = 0;
  std::string error;
  bool ok() const { return error.empty(); }
};
decoded_result decode_jsonv2(std::string_view body, const std::vector<column>* columns = nullptr);

/// The PostgreSQL column definitions of a result's columns: `"Name" type` each, names quoted
/// with their exact case, in order.
std::vector<std::string> pg_column_ddl(const std::vector<column>& columns);

}  // namespace uringmig::codecs::snowflake
